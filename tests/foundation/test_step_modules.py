"""The step functions mirror the workflow files: the rules of ``workflows/<name>.smk`` run the
functions of ``neuroopt/pipeline/steps/<name>.py``, found through one registry."""

import re

import pytest

from neuroopt.pipeline import get_step
from neuroopt.pipeline.steps import MODULES, STEPS

from conftest import REPO_ROOT


def _rules_by_workflow():
    """workflow file stem -> the rule names it declares (workflows/*.smk)."""
    return {smk.stem: re.findall(r"^\s*rule (\w+):", smk.read_text(), flags=re.M)
            for smk in sorted((REPO_ROOT / "workflows").glob("*.smk"))}


def test_every_rule_has_its_step_in_the_module_of_its_workflow_file():
    rules = _rules_by_workflow()
    declared = {rule for names in rules.values() for rule in names}
    assert set(STEPS) == declared, (f"rules without a step: {sorted(declared - set(STEPS))}; "
                                    f"steps without a rule: {sorted(set(STEPS) - declared)}")
    for stem, names in rules.items():
        if names:
            assert stem in MODULES, f"workflows/{stem}.smk has rules but there is no neuroopt/pipeline/steps/{stem}.py"
        for rule in names:
            assert get_step(rule).__module__ == f"neuroopt.pipeline.steps.{stem}", (
                f"rule {rule} (workflows/{stem}.smk) runs {get_step(rule).__module__}.{get_step(rule).__name__}"
            )
            assert get_step(rule).__name__ == rule


def test_unknown_rule_names_the_registry():
    with pytest.raises(KeyError, match="neuroopt.pipeline.steps.STEPS"):
        get_step("no_such_rule")


def test_runs_repetition_time_is_shared_or_names_the_runs(tmp_path):
    from neuroopt.pipeline.steps._common import runs_repetition_time

    sidecars = []
    for run, t_r in (("run-01", 2.0), ("run-02", 2.0), ("run-03", 1.5)):
        path = tmp_path / f"{run}_bold.json"
        path.write_text(f'{{"RepetitionTime": {t_r}}}')
        sidecars.append(path)
    assert runs_repetition_time(sidecars[:2], ["run-01", "run-02"]) == 2.0
    with pytest.raises(ValueError, match=r"run-03.*different repetition times \[1\.5, 2\.0\]"):
        runs_repetition_time(sidecars, ["run-01", "run-02", "run-03"])
