"""The slurm profile's job groups cover every rule: per-subject rules in ``subject``, the
group-level ones in ``dataset`` (a rule left out would be submitted once per job again)."""

import re

import yaml

from conftest import REPO_ROOT

PROFILE = yaml.safe_load((REPO_ROOT / "config" / "profiles" / "slurm" / "config.yaml").read_text())


def _rule_outputs():
    """rule -> the text of its ``output:`` section, for every rule of workflows/*.smk."""
    rules = {}
    for smk in sorted((REPO_ROOT / "workflows").glob("*.smk")):
        for block in re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.M):
            match = re.match(r"\s*rule (\w+):", block)
            if match:
                section = re.search(r"^\s*output:\n(.*?)^\s*(params|log|threads|resources|script):", block, flags=re.M | re.S)
                rules[match.group(1)] = section.group(1) if section else ""
    return rules


def test_every_rule_is_in_its_job_group():
    groups = dict(item.split("=", 1) for item in PROFILE["groups"])
    expected = {}
    for rule, outputs in _rule_outputs().items():
        if re.search(r"\{(sdir|unit|subject)\}", outputs):
            expected[rule] = "subject"
        elif "group/" in outputs or "index.html" in outputs:
            expected[rule] = "dataset"
    assert {"meeg_preprocess", "subject_report", "group_rsa", "group_report"} <= set(expected)
    assert groups == expected
    components = dict(item.split("=", 1) for item in PROFILE["group-components"])
    assert components == {"subject": "1", "dataset": "1"}
