"""One table of output names (neuroopt/pipeline/outputs.py): the rules' ``output:`` blocks and the
plan's paths both come from it. The end-to-end check (``snakemake -n`` builds the jobs of the plan's
targets) is in test_workflow.py; these are the fast checks of the table itself."""

import copy
import re
import string

import pytest
import yaml

from neuroopt.pipeline import make_plan
from neuroopt.pipeline.outputs import OUTPUTS, rule_outputs

from conftest import REPO_ROOT

DEFAULT = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
RAW_BIDS_RULES = {"demo_dataset"}  # writes the demo's raw BIDS data, not derivatives
GATE_RULES = {"subjects_done", "group_gate"}  # scheduling markers under logs/, not derivatives (workflows/gate.smk)
DIRECTIVES = r"(input|output|params|log|threads|resources|script|wildcard_constraints|run|shell|benchmark|message|priority|localrule)"


def _output_blocks():
    """rule name -> the text of its ``output:`` block, for every rule of workflows/*.smk."""
    blocks = {}
    for smk in sorted((REPO_ROOT / "workflows").glob("*.smk")):
        for block in re.split(r"^(?=\s*rule \w+:)", smk.read_text(), flags=re.M):
            match = re.match(r"\s*rule (\w+):", block)
            if match:
                output = re.search(rf"^(\s+)output:\n(.*?)(?=^\1{DIRECTIVES}:)", block, flags=re.M | re.S)
                blocks[match.group(1)] = output.group(2) if output else ""
    return blocks


def test_every_rule_declares_its_outputs_from_the_table():
    blocks = _output_blocks()
    assert set(OUTPUTS) == set(blocks) - RAW_BIDS_RULES - GATE_RULES, (
        f"rules without an OUTPUTS entry: {sorted(set(blocks) - RAW_BIDS_RULES - GATE_RULES - set(OUTPUTS))}; "
        f"OUTPUTS entries without a rule: {sorted(set(OUTPUTS) - set(blocks))}")
    for rule in GATE_RULES:
        assert f'GATE["{rule}"]' in blocks[rule], f"rule {rule}: its marker must be GATE[{rule!r}] (workflows/common.smk)"
    for rule in OUTPUTS:
        block = blocks[rule]
        assert f'deriv_outputs("{rule}")' in block, f"rule {rule}: its output: block must be deriv_outputs({rule!r})"
        assert "DERIV" not in block and not re.search(r"[\"'][^\"']*\.(fif|json|nii\.gz|npz|tsv|html|h5|joblib)[\"']", block), (
            f"rule {rule}: a path written in its output: block instead of neuroopt/pipeline/outputs.py:\n{block}")


def _variant(**changes):
    config = copy.deepcopy(DEFAULT)
    for path, value in changes.items():
        *parents, last = path.split("__")
        node = config
        for part in parents:
            node = node[part]
        node[last] = value
    return config


CONFIGS = {
    "default": _variant(),
    "ssp, no canonical GLM, trial noise, three estimators": _variant(
        meeg__artifacts__method="ssp", glm__canonical=False, rsa__fmri_noise="trials", sparse__estimators=["mtl", "sqrt", "clar"]),
}


def _constraints(text):
    """``name -> regex`` of the ``wildcard_constraints:`` blocks in ``text`` (lines ``name=r"..."``)."""
    return dict(re.findall(r'^\s*(\w+)=r"(.*)",\s*$', text, flags=re.M))


def _wildcard_constraints():
    """The workflow-wide wildcard constraints, and those of each rule (which take precedence)."""
    common, by_rule = {}, {}
    for smk in sorted((REPO_ROOT / "workflows").glob("*.smk")):
        text = smk.read_text()
        for block in re.findall(r"^wildcard_constraints:\n((?:[ \t]+.*\n)+)", text, flags=re.M):
            common.update(_constraints(block))
        for block in re.split(r"^(?=\s*rule \w+:)", text, flags=re.M):
            rule = re.match(r"\s*rule (\w+):", block)
            local = re.search(rf"^(\s+)wildcard_constraints:\n(.*?)(?=^\1{DIRECTIVES}:)", block, flags=re.M | re.S)
            if rule and local:
                by_rule[rule.group(1)] = _constraints(local.group(2))
    return common, by_rule


def _as_regex(pattern, constraints):
    """A path pattern as a regex whose groups are its wildcards, as Snakemake matches it."""
    out, seen = "", set()
    for literal, field, _, _ in string.Formatter().parse(pattern):
        out += re.escape(literal)
        if field is not None:
            out += f"(?P={field})" if field in seen else f"(?P<{field}>{constraints.get(field, '.+')})"
            seen.add(field)
    return re.compile(out + "$")


@pytest.mark.parametrize("name", list(CONFIGS))
def test_the_plans_jobs_are_the_rules_outputs(name, tmp_path):
    """Every job of the demo plan writes exactly the outputs of one rule, with one set of wildcards."""
    config = CONFIGS[name]
    plan = make_plan(config, workdir=tmp_path)
    deriv = str(plan.deriv_root) + "/"
    rules = {rule: rule_outputs(config, rule) for rule in OUTPUTS}
    common, by_rule = _wildcard_constraints()
    assert "sdir" in common and "group" in by_rule["fmri_glm_contrast"]
    jobs = plan._job_outputs(plan.targets())
    assert set(plan.targets()) <= {p for job in jobs for p in job}
    seen_rules = set()
    for job in jobs:
        assert all(p.startswith(deriv) for p in job), job
        first = job[0][len(deriv):]
        matches = []
        for rule, patterns in rules.items():
            for pattern in patterns.values():
                found = _as_regex(pattern, {**common, **by_rule.get(rule, {})}).match(first)
                if found and {deriv + p.format(**found.groupdict()) for p in patterns.values()} == set(job):
                    matches.append(rule)
                    break
        assert len(matches) == 1, f"job {job} matches the outputs of rules {matches} (expected one)"
        seen_rules.add(matches[0])
    expected = set(OUTPUTS) - {"subject_sessions"}  # the demo has no sessions, so no sessions table
    assert seen_rules == expected, f"rules with no job in the demo plan: {sorted(expected - seen_rules)}"


@pytest.mark.parametrize("name", list(CONFIGS))
def test_a_report_waits_for_one_output_of_each_job_it_reads(name, tmp_path):
    """The report's Snakemake inputs name each job whose outputs its sections read, once (its first
    output), and nothing else: the same jobs run before it, with fewer files for Snakemake to resolve."""
    plan = make_plan(CONFIGS[name], workdir=tmp_path)
    jobs = plan._job_outputs(plan.targets())
    job_of = {path: tuple(outputs) for outputs in jobs for path in outputs}
    for unit in plan.units():
        read = plan.report_inputs(unit)
        inputs = plan.report_job_inputs(unit)
        assert set(read) <= set(job_of), "a file the report reads is written by no planned job"
        assert [job_of[path][0] for path in inputs] == inputs, "an input is not its job's first output"
        assert {job_of[path] for path in inputs} == {job_of[path] for path in read}
        assert len(inputs) == len(set(inputs)) < len(read)
