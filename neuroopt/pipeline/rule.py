"""Run one workflow step inside a Snakemake ``script:`` job: logs to the rule's log file, BLAS on
the job's threads, and a readable error in the log before the failure reaches Snakemake."""

from __future__ import annotations

import logging
import sys
import traceback

from ..utils import logger, pin_blas_threads


def run_rule(smk, step):
    """Call ``step(input, output, params, threads)`` with the job's files, logging to ``smk.log[0]``.

    ``smk`` is the ``snakemake`` object Snakemake gives a script. The step writes every output
    atomically; on an exception the log gets the full traceback and one summary line, and the
    exception propagates so Snakemake marks the job failed (and removes any output it sees).
    """
    import mne

    threads = int(getattr(smk, "threads", 1) or 1)
    pin_blas_threads(threads)
    log_path = smk.log[0] if len(smk.log) else None
    handler = None
    if log_path:
        handler = logging.FileHandler(log_path, mode="w")
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(message)s"))
        logger.addHandler(handler)
        mne.set_log_file(log_path, output_format="%(asctime)s mne %(levelname)s %(message)s", overwrite=False)
    logger.setLevel(logging.INFO)
    mne.set_log_level("WARNING")
    rule = getattr(smk, "rule", step.__name__)
    try:
        logger.info(f"rule {rule}: inputs {list(smk.input)}")
        step(smk.input, smk.output, smk.params, threads)
        logger.info(f"rule {rule}: wrote {list(smk.output)}")
    except BaseException as err:
        logger.error("".join(traceback.format_exception(err)))
        logger.error(f"rule {rule} FAILED: {type(err).__name__}: {err}")
        print(f"neuroopt: rule {rule} failed: {type(err).__name__}: {err} (log: {log_path})", file=sys.stderr)
        raise
    finally:
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
            mne.set_log_file(None)
