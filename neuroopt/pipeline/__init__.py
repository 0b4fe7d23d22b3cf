"""File-level glue between the Snakemake workflow and the library: the plan (what to run on which
files) and one step function per rule. A rule's script only calls a step; a step reads files, calls
the library functions a notebook would call, and writes its outputs atomically."""

from .plan import Plan, make_plan

__all__ = ["Plan", "make_plan"]
