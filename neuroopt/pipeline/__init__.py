"""File-level glue between the Snakemake workflow and the library: the plan (what to run on which
files) and one step function per rule. A rule's script only calls a step; a step reads files, calls
the library functions a notebook would call, and writes its outputs atomically."""

from .plan import Plan, make_plan


def get_step(rule):
    """The step function of a workflow rule (``neuroopt.pipeline.steps.STEPS``)."""
    from .steps import STEPS

    try:
        return STEPS[rule]
    except KeyError:
        raise KeyError(f"No step function for rule {rule!r}: add it to neuroopt.pipeline.steps.STEPS "
                       "(its function goes in neuroopt/pipeline/steps/<workflow>.py).") from None


__all__ = ["Plan", "get_step", "make_plan"]
