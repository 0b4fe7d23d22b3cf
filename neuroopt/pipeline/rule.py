"""Run one workflow step inside a Snakemake ``script:`` job: logs to the rule's log file, BLAS on
the job's threads, and a readable error in the log before the failure reaches Snakemake.

A failed job also leaves a small failure record (``<log>.failed.json``) beside its log; at the end
of a failed run :func:`report_failed_run` turns these records into an error summary and a group
page that lists the subjects that failed and why.

On the terminal a job prints one line when it starts and one when it ends (subject, rule, time,
key results; ``neuroopt run`` shows the end line only); everything else goes to its log. Python
and MNE warnings raised in the job go to the log and the terminal, and to ``<log>.warnings.json``,
which the subject report (or, for group jobs, the group page) lists (:func:`collect_warnings`).
"""

from __future__ import annotations

import contextlib
import errno
import json
import logging
import os
import re
import signal
import sys
import time
import traceback
import warnings
from pathlib import Path

from ..utils import atomic_write_text, logger, pin_blas_threads

FAILURE_SUFFIX = ".failed.json"
WARNINGS_SUFFIX = ".warnings.json"
GROUP = "group"  # the unit of the warnings of group-level jobs (group_* rules)
_UNIT_RE = re.compile(r"sub-[a-zA-Z0-9]+(?:[_/]ses-[a-zA-Z0-9]+)?")


class JobTerminated(BaseException):
    """Raised in a job that received SIGTERM (Ctrl-C on the workflow, ``scancel``, a time limit).

    A BaseException so that every ``atomic_path`` block on the stack removes its temporary file
    while the exception unwinds; Python's default SIGTERM action would exit without cleaning up.
    """


def _raise_job_terminated(signum, frame):
    raise JobTerminated(f"the job received signal {signal.Signals(signum).name} and stopped")


def failure_record_path(log_path):
    """``logs/rule/x.log`` -> ``logs/rule/x.failed.json``."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.name.rsplit(".", 1)[0] + FAILURE_SUFFIX)


def warnings_record_path(log_path):
    """``logs/rule/x.log`` -> ``logs/rule/x.warnings.json``."""
    log_path = Path(log_path)
    return log_path.with_name(log_path.name.rsplit(".", 1)[0] + WARNINGS_SUFFIX)


def job_label(rule, wildcards):
    """``sub-01 meeg_preprocess task-demo_run-01 eeg``: subject, rule, then what tells the job apart."""
    unit = _unit_of(wildcards)
    parts = []
    named = _as_dict(wildcards)
    for key, value in sorted(named.items(), key=lambda item: item[0] == "dtype"):  # the data type last
        if key in ("sdir", "unit"):
            continue
        value = str(value)
        if unit and value.startswith(unit):
            value = value[len(unit):].lstrip("_")
        if value:
            parts.append(value)
    where = unit or ("group" if rule.startswith("group") else "dataset")
    return " ".join([where, rule, *parts])


class _ConsoleFilter(logging.Filter):
    """On the terminal a job shows its start/end lines and warnings; results wait for the end line."""

    def __init__(self):
        super().__init__()
        self.results = []

    def filter(self, record):
        if getattr(record, "result", False):
            self.results.append(record.getMessage())
            return False
        return record.levelno >= logging.WARNING or getattr(record, "console", False)


@contextlib.contextmanager
def _job_console(label):
    """Tag the terminal lines of the job with the time and ``label``; keep the rest for the log."""
    consoles = [h for h in logger.handlers if type(h) is logging.StreamHandler]
    console_filter = _ConsoleFilter()
    formatter = logging.Formatter(f"%(asctime)s {label}: %(message)s", datefmt="%H:%M:%S")
    saved = [h.formatter for h in consoles]
    for handler in consoles:
        handler.setFormatter(formatter)
        handler.addFilter(console_filter)
    try:
        yield console_filter
    finally:
        for handler, old in zip(consoles, saved):
            handler.setFormatter(old)
            handler.removeFilter(console_filter)


@contextlib.contextmanager
def _captured_warnings(seen):
    """Route ``warnings.warn`` (Python's, scikit-learn's, MNE's ``warn``) to the log, one line each.

    The filters are unchanged (a warning the user silenced stays silent); each shown warning is
    appended to ``seen`` as ``(category, message, source)``.
    """

    def show(message, category, filename, lineno, file=None, line=None):
        text = " ".join(str(message).split())
        seen.append((category.__name__, text, f"{Path(filename).name}:{lineno}"))
        logger.warning(f"{category.__name__}: {text}")

    with warnings.catch_warnings():
        warnings.showwarning = show
        yield


def _write_warnings_record(log_path, rule, wildcards, label, seen):
    path = warnings_record_path(log_path)
    if not seen:
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
        return
    counts = {}
    for category, message, source in seen:
        counts.setdefault((category, message), {"category": category, "message": message, "source": source, "count": 0})
        counts[(category, message)]["count"] += 1
    record = {"rule": rule, "unit": _warnings_scope(_unit_of(wildcards), rule), "job": label, "log": str(log_path), "warnings": list(counts.values())}
    atomic_write_text(path, json.dumps(record, indent=2) + "\n")


def collect_warnings(log_dir, unit):
    """The warnings recorded by the jobs of ``unit`` (a subject or subject_session) under ``log_dir``.

    Parameters
    ----------
    log_dir : path-like
        The workflow's log folder (``logs/``).
    unit : str
        ``sub-01`` or ``sub-01_ses-01``, or ``"group"`` for the group-level jobs (``group_*``
        rules); dataset-level jobs (the demo generation) are included in each.

    Returns
    -------
    rows : list of dict
        One per distinct warning of a job, with keys ``rule``, ``job``, ``category``,
        ``message``, ``source``, ``count`` and ``log``, sorted by rule then job.
    """
    rows = []
    for path in sorted(Path(log_dir).rglob(f"*{WARNINGS_SUFFIX}")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if _warnings_scope(record.get("unit"), record.get("rule")) not in (unit, None):
            continue
        for warning in record["warnings"]:
            rows.append({"rule": record["rule"], "job": record["job"], "log": record["log"], **warning})
    return sorted(rows, key=lambda r: (r["rule"], r["job"]))


def _job_temporaries(output_paths):
    """Temporary files that an earlier, killed attempt of this job may have left (see atomic_path).

    Only names derived from this job's own outputs (and their provenance files) are matched, so a
    job never touches the temporaries of another job writing into the same folder.
    """
    found = []
    for output in output_paths:
        output = Path(output)
        stem = output.name.split(".")[0]
        for name in (output.name, f"{stem}.provenance.json"):
            found += [p for p in output.parent.glob(f".{name}.*") if p.is_file()]
    return found


def _remove_stale_temporaries(output_paths):
    for path in _job_temporaries(output_paths):
        with contextlib.suppress(FileNotFoundError):
            path.unlink()
            logger.info(f"removed {path}, left by an interrupted earlier attempt of this job")


def _as_dict(named):
    """Snakemake's named lists (wildcards) as a plain dict."""
    return dict(named.items()) if hasattr(named, "items") else dict(named)


def _warnings_scope(unit, rule):
    """The page that lists a job's warnings: its unit, ``GROUP`` for the group-level rules
    (``group_*``), None (every page) for the other dataset-level jobs."""
    return unit or (GROUP if str(rule).startswith("group") else None)


def _unit_of(wildcards):
    """The subject (or subject_session) label a job belongs to, or None for dataset-level jobs."""
    for value in _as_dict(wildcards).values():
        match = _UNIT_RE.search(str(value))
        if match:
            return match.group(0).replace("/", "_")
    return None


def _write_failure_record(log_path, rule, wildcards, outputs, err):
    message = str(err).strip() or type(err).__name__
    record = {
        "rule": rule,
        "unit": _unit_of(wildcards),
        "wildcards": {k: str(v) for k, v in _as_dict(wildcards).items()},
        "error": type(err).__name__,
        "message": message,
        "log": str(log_path),
        "outputs": [str(p) for p in outputs],
        "time": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    atomic_write_text(failure_record_path(log_path), json.dumps(record, indent=2) + "\n")


def _json_params(params):
    """A job's named params as a plain dict (Snakemake's Params, or any mapping / object)."""
    if hasattr(params, "items"):
        return {str(k): v for k, v in params.items()}
    return {k: v for k, v in vars(params).items() if not k.startswith("_")} if hasattr(params, "__dict__") else {}


def write_job_provenance(rule, inputs, outputs, params):
    """``<output>.provenance.json`` beside each output of a finished job (one record per job).

    The record lists the job's inputs, its params (the config keys the rule uses, see
    :mod:`neuroopt.pipeline.params`, and the values derived from the plan), the hash of the config
    keys (``cfg`` and ``seed``: independent of where the data are), the seed and the tool versions
    (:func:`neuroopt.io.derivatives.write_provenance`).
    """
    from ..io.derivatives import write_provenance

    named = _json_params(params)
    outputs = [str(p) for p in outputs]
    for output in outputs:
        write_provenance(
            output, inputs=list(inputs), params=named, seed=named.get("seed"), rule=rule, outputs=outputs,
            hashed={k: named[k] for k in ("cfg", "seed") if k in named},
        )


def run_rule(smk, step):
    """Call ``step(input, output, params, threads)`` with the job's files, logging to ``smk.log[0]``.

    ``smk`` is the ``snakemake`` object Snakemake gives a script. The step writes every output
    atomically; then each output gets its provenance file (:func:`write_job_provenance`), unless
    the step sets ``writes_provenance = False`` (the demo generator: its outputs are raw data).
    On an exception (or SIGTERM) the log gets the full traceback and one summary line,
    a failure record is written beside the log, and the exception propagates so Snakemake marks the
    job failed (and removes any output it sees). Temporary files left by an earlier attempt that
    was killed outright (SIGKILL, power loss) are removed first.
    """
    import mne

    signal.signal(signal.SIGTERM, _raise_job_terminated)
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
    wildcards = getattr(smk, "wildcards", {})
    label = job_label(rule, wildcards)
    seen = []
    start = time.monotonic()
    try:
        with _job_console(label) as console, _captured_warnings(seen):
            logger.info("started", extra={"console": True})
            logger.info(f"inputs: {', '.join(map(str, smk.input)) or 'none'}")
            _remove_stale_temporaries(list(smk.output))
            step(smk.input, smk.output, smk.params, threads)
            if getattr(step, "writes_provenance", True):
                write_job_provenance(rule, list(smk.input), list(smk.output), smk.params)
            logger.info(f"wrote: {', '.join(map(str, smk.output))}")
            results = "; ".join(console.results)
            noted = f" [{len(seen)} warning(s), see {log_path}]" if seen and log_path else ""
            logger.info(f"done in {time.monotonic() - start:.1f} s" + (f": {results}" if results else "") + noted,
                        extra={"console": True})
        if log_path:
            with contextlib.suppress(FileNotFoundError):
                os.unlink(failure_record_path(log_path))
    except BaseException as err:
        if isinstance(err, OSError) and err.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG):
            err = OSError(
                err.errno,
                f"{err.strerror} while writing the outputs of rule {rule} ({', '.join(map(str, smk.output))}); "
                "nothing partial was kept. Free space (or raise the quota / file size limit) and rerun.",
            )
        logger.error("".join(traceback.format_exception(err)))
        logger.error(f"rule {rule} FAILED: {type(err).__name__}: {err}")
        print(f"neuroopt: rule {rule} failed: {type(err).__name__}: {err} (log: {log_path})", file=sys.stderr)
        if log_path:
            with contextlib.suppress(Exception):  # the record helps the summary; never mask the error
                _write_failure_record(log_path, rule, wildcards, list(smk.output), err)
        raise
    finally:
        if log_path:
            with contextlib.suppress(Exception):  # the record feeds the report; never mask the job's outcome
                _write_warnings_record(log_path, rule, wildcards, label, seen)
        if handler is not None:
            logger.removeHandler(handler)
            handler.close()
            mne.set_log_file(None)


def collect_failures(log_dir, units=None, since=None):
    """Failure records under ``log_dir`` of jobs whose outputs are still missing.

    Parameters
    ----------
    log_dir : path-like
        The workflow's log folder.
    units : iterable of str | None
        Keep only records of these units (subjects planned in this run) and dataset-level jobs.
    since : float | None
        Keep only records written at or after this time (seconds since the epoch): the start of
        the current run, so that failures of earlier runs are not reported again.

    Returns
    -------
    records : list of dict
        Sorted by unit then rule; see ``_write_failure_record`` for the keys.
    """
    records = []
    for path in sorted(Path(log_dir).rglob(f"*{FAILURE_SUFFIX}")):
        if since is not None and path.stat().st_mtime < since:
            continue
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        if units is not None and record.get("unit") is not None and record["unit"] not in units:
            continue  # a subject no longer selected
        if record.get("outputs") and all(Path(p).exists() for p in record["outputs"]):
            continue  # done since (e.g. by a run without this log folder)
        records.append(record)
    return sorted(records, key=lambda r: (r.get("unit") or "", r["rule"], r["log"]))


def format_failures(records):
    """A readable summary of failed jobs: one paragraph per job with its error and its log."""
    if not records:
        return "neuroopt: the run failed before any neuroopt job reported an error (see the messages above)."
    lines = [f"neuroopt: {len(records)} job(s) failed:"]
    for record in records:
        where = record.get("unit") or "dataset"
        label = ", ".join(f"{k}={v}" for k, v in record.get("wildcards", {}).items())
        message = record["message"].splitlines()[0] if record["message"] else ""
        if len(message) > 400:
            message = message[:400] + " ..."
        lines.append(f"  - {where}: rule {record['rule']} ({label})")
        lines.append(f"      {record['error']}: {message}")
        lines.append(f"      log: {record['log']}")
    return "\n".join(lines)


def report_failed_run(plan, log_dir, since=None):
    """At the end of a failed run: print the error summary and write the group page of what finished.

    Called by the workflow's ``onerror`` handler. With ``--keep-going`` the subjects that did
    finish have their reports; the group page then links them and lists each failed subject with
    the rule, the error and the log. The page is given an old modification time so that Snakemake
    considers it out of date and the ``group_report`` rule rebuilds it on the next complete run.

    ``since`` (the run's start time) keeps failures of earlier runs out of the summary.

    Returns
    -------
    summary : str
        The printed summary.
    """
    units = list(plan.units())
    records = collect_failures(log_dir, units=units, since=since)
    summary = format_failures(records)
    print(summary, file=sys.stderr)
    if not plan.config["report"]["enabled"]:
        return summary
    from ..report import save_report
    from ..report.group import build_group_report

    failed = {}
    for record in records:
        if record.get("unit"):
            failed.setdefault(record["unit"], []).append(record)
    finished = [u for u in units if u not in failed and Path(plan.report(u)).exists()]
    if not finished and not failed:
        return summary
    unfinished = [u for u in units if u not in failed and u not in finished]
    path = plan.group_report()
    try:
        report = build_group_report(
            finished,
            [p for p in plan.group_summaries() if Path(p).exists()],
            [(str(p), reason) for p, reason in plan.invalid] + [(u, "not run: the run stopped first") for u in unfinished],
            title=f"neuroopt — {plan.bids_root.name} (incomplete run)",
            failed=[
                (unit, f"rule {r['rule']}: {r['error']}: {r['message'].splitlines()[0] if r['message'] else ''}", r["log"])
                for unit in sorted(failed)
                for r in failed[unit]
            ],
        )
        save_report(report, path)
        os.utime(path, (0, 0))
    except OSError as err:  # e.g. the disk that made the run fail is still full
        print(f"neuroopt: could not write the group page {path}: {err}", file=sys.stderr)
        return summary
    print(f"neuroopt: group page of the finished subjects (failed ones listed): {path}", file=sys.stderr)
    return summary
