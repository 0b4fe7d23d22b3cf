"""The slurm profile's job groups cover every rule: per-subject rules in ``subject``, the
group-level ones in ``dataset`` (a rule left out would be submitted once per job again)."""

import re

import yaml

from neuroopt.pipeline.outputs import OUTPUTS

from conftest import REPO_ROOT

PROFILE = yaml.safe_load((REPO_ROOT / "config" / "profiles" / "slurm" / "config.yaml").read_text())


def test_every_rule_is_in_its_job_group():
    groups = dict(item.split("=", 1) for item in PROFILE["groups"])
    expected = {}
    for rule, patterns in OUTPUTS.items():  # every rule's outputs (workflows/*.smk take them from this table)
        outputs = " ".join(patterns.values())
        if re.search(r"\{(sdir|unit|subject)\}", outputs):
            expected[rule] = "subject"
        elif "group/" in outputs or "index.html" in outputs:
            expected[rule] = "dataset"
    # the scheduling markers of workflows/gate.smk (not derivatives, so not in OUTPUTS): the gate is
    # the first member of `dataset`; subjects_done runs where Snakemake runs, in no group
    expected["group_gate"] = "dataset"
    assert {"meeg_preprocess", "subject_report", "group_rsa", "group_report"} <= set(expected)
    assert groups == expected
    components = dict(item.split("=", 1) for item in PROFILE["group-components"])
    assert components == {"subject": "1", "dataset": "1"}
