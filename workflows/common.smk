# The plan: one scan of the BIDS dataset when the workflow is parsed; rules look things up in it.
import time
from pathlib import Path

from neuroopt.pipeline import make_plan
from neuroopt.pipeline.params import rule_params
from neuroopt.pipeline.outputs import rule_outputs

RUN_START = time.time()  # failures recorded before this belong to earlier runs
PLAN = make_plan(config)
DERIV = PLAN.deriv_root
LOGS = Path("logs")
# the markers of workflows/gate.smk (scheduling bookkeeping, not derivatives)
GATE = {rule: LOGS / f"{rule}.done" for rule in ("subjects_done", "group_gate")}

wildcard_constraints:
    sdir=r"sub-[a-zA-Z0-9]+(/ses-[a-zA-Z0-9]+)?",
    rec=r"sub-[a-zA-Z0-9]+[^/]*",
    group=r"sub-[a-zA-Z0-9]+[^/]*",
    unit=r"sub-[a-zA-Z0-9]+(_ses-[a-zA-Z0-9]+)?",
    subject=r"sub-[a-zA-Z0-9]+",
    dtype=r"eeg|meg",


def deriv_outputs(rule):
    """The rule's output: block, from the one table of output names (neuroopt/pipeline/outputs.py)."""
    return {key: str(DERIV / pattern) for key, pattern in rule_outputs(config, rule).items()}


def demo_input(wildcards=None):
    """Raw inputs of a demo run are produced by the demo_dataset rule."""
    return [PLAN.demo_marker()] if PLAN.is_demo else []


# Snakemake calls every input and params function of a rule once per job while it builds the DAG
# (and inspects its signature each time): on 200 subjects x 2 sessions x 3 runs, about 6000 jobs,
# that is a large part of `snakemake -n`. So each rule has at most one input function, returning
# all its named inputs at once (unpack), looking things up in the plan's precomputed tables; and
# params are plain values (or "{wildcard}" strings) wherever a function is not needed.


def read_signatures_once(rules):
    """Give each input and params function of ``rules`` its parameter names, read once.

    Snakemake reads a function's signature (``inspect.signature``) every time it calls it, to see
    which of its optional arguments (``input``, ``output``, ``threads``, ``groupid``...) the
    function takes: 40 000 times on 200 subjects x 2 sessions x 3 runs, about 4 % of
    ``snakemake -n``. ``snakemake.common.overwrite_function_params`` is Snakemake's own way to
    give a function its parameters; they are those of the signature (the mapping, which
    Snakemake also reads for ``**kwargs``), so nothing else changes.
    """
    import inspect

    from snakemake.common import overwrite_function_params
    from snakemake.io import AnnotatedString, _IOFile

    for rule in rules:
        for item in [*rule.input, *rule.params]:
            if isinstance(item, _IOFile):
                item = item._file
            if isinstance(item, AnnotatedString):
                item = item.callable
            if callable(item):
                overwrite_function_params(item, inspect.signature(item).parameters)


onsuccess:
    print(f"\nneuroopt: done. Derivatives: {DERIV}")
    if config["report"]["enabled"]:
        print(f"neuroopt: reports: {PLAN.group_report()}")


onerror:
    from neuroopt.pipeline.rule import report_failed_run

    print(f"\nneuroopt: the run failed; each failed rule's log is under {LOGS.absolute()}/.")
    report_failed_run(PLAN, LOGS, since=RUN_START)
