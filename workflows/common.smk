# The plan: one scan of the BIDS dataset when the workflow is parsed; rules look things up in it.
import json
from pathlib import Path

from neuroopt.pipeline import make_plan
from neuroopt.pipeline.plan import r1glm_suffixes, sparse_suffixes

PLAN = make_plan(config)
DERIV = PLAN.deriv_root
LOGS = Path("logs")
R1GLM_SUFFIXES = r1glm_suffixes(config)
SPARSE_SUFFIXES = sparse_suffixes(config)

wildcard_constraints:
    sdir=r"sub-[a-zA-Z0-9]+(/ses-[a-zA-Z0-9]+)?",
    rec=r"sub-[a-zA-Z0-9]+[^/]*",
    group=r"sub-[a-zA-Z0-9]+[^/]*",
    unit=r"sub-[a-zA-Z0-9]+(_ses-[a-zA-Z0-9]+)?",
    dtype=r"eeg|meg",


def demo_input(wildcards=None):
    """Raw inputs of a demo run are produced by the demo_dataset rule."""
    return [PLAN.demo_marker()] if PLAN.is_demo else []


onsuccess:
    print(f"\nneuroopt: done. Derivatives: {DERIV}")
    if config["report"]["enabled"]:
        print(f"neuroopt: reports: {PLAN.group_report()}")


onerror:
    print(f"\nneuroopt: the run failed; each failed rule's log is named above (under {LOGS.absolute()}/).")
