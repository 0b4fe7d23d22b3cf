# The script of every rule: runs the step function named like the rule (neuroopt.pipeline.get_step)
# with the rule's input/output/params, logging to the rule's log file (neuroopt.pipeline.rule.run_rule).
from neuroopt.pipeline import get_step
from neuroopt.pipeline.rule import run_rule

run_rule(snakemake, get_step(snakemake.rule))  # noqa: F821 (injected by the script directive)
