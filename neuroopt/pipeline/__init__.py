"""File-level glue between the Snakemake workflow and the library: the plan (what to run on which
files) and one step function per rule. A rule's script only calls a step; a step reads files, calls
the library functions a notebook would call, and writes its outputs atomically."""

from .plan import Plan, make_plan


def get_step(rule):
    """The step function of a workflow rule: preprocessing steps, then the analysis stages'."""
    from . import glm_steps, stages, steps

    for module in (steps, stages, glm_steps):
        if hasattr(module, rule):
            return getattr(module, rule)
    raise KeyError(f"No step function for rule {rule!r} in neuroopt.pipeline.steps or .stages.")


__all__ = ["Plan", "get_step", "make_plan"]
