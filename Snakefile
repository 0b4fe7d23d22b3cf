# neuroopt workflow: BIDS raw data -> preprocessing -> stage results -> HTML reports.
# Run from any folder:  snakemake --cores 2 [--configfile my.yaml]   (or: neuroopt run)
# The rules only wire files to functions of the neuroopt package: the rules of workflows/<name>.smk
# to neuroopt/pipeline/steps/<name>.py.

from pathlib import Path

from snakemake.utils import min_version, validate

from neuroopt.pipeline.memory import tune_garbage_collector

min_version("8.0")
tune_garbage_collector()  # planning keeps what it allocates: rare full collections (README "Large datasets")

configfile: str(Path(workflow.basedir) / "config" / "config.yaml")

from neuroopt.pipeline.config import check_config

check_config(config, str(Path(workflow.basedir) / "config" / "schema.yaml"))  # every problem, one line each
validate(config, str(Path(workflow.basedir) / "config" / "schema.yaml"))  # fills in the defaults

report: "workflows/report/workflow.rst"

include: "workflows/common.smk"
include: "workflows/demo.smk"
include: "workflows/meeg.smk"
include: "workflows/fmri.smk"
include: "workflows/r1glm.smk"
include: "workflows/glm.smk"
include: "workflows/sparse.smk"
include: "workflows/decoding_rsa.smk"
include: "workflows/report.smk"
include: "workflows/gate.smk"


rule all:
    input:
        PLAN.final_targets(),
    default_target: True


read_signatures_once(workflow.rules)  # after every rule is defined (workflows/common.smk)
