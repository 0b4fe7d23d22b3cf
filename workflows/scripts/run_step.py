# The script of every rule: runs the function of neuroopt.pipeline.steps named like the rule, with
# the rule's input/output/params, logging to the rule's log file (neuroopt.pipeline.rule.run_rule).
from neuroopt.pipeline import steps
from neuroopt.pipeline.rule import run_rule

run_rule(snakemake, getattr(steps, snakemake.rule))  # noqa: F821 (injected by the script directive)
