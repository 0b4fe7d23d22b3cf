"""The config schema: defaults are filled, wrong types and unknown keys are errors naming the key."""

import copy

import pytest
import yaml
from snakemake.exceptions import WorkflowError
from snakemake.utils import validate

from conftest import REPO_ROOT

SCHEMA = str(REPO_ROOT / "config" / "schema.yaml")


@pytest.fixture
def default_config():
    with open(REPO_ROOT / "config" / "config.yaml") as fid:
        return yaml.safe_load(fid)


def test_default_config_is_valid(default_config):
    validate(default_config, SCHEMA)
    assert default_config["bids_root"] == "demo"


def test_defaults_are_filled_for_missing_sections():
    config = {"bids_root": "/data/ds"}
    validate(config, SCHEMA)
    assert config["meeg"]["l_freq"] == 0.5
    assert config["meeg"]["artifacts"]["method"] == "ica"
    assert config["meeg"]["epochs"]["baseline"] == [None, 0.0]
    assert config["fmri"]["high_pass"] == 0.01
    assert config["subjects"] == "all"
    assert config["demo"]["n_subjects"] == 2
    assert config["sparse"]["selection"] == "relocate"


@pytest.mark.parametrize(
    "patch, needle",
    [
        ({"meeg": {"l_freq": "high"}}, "l_freq"),
        ({"meeg": {"artifacts": {"method": "magic"}}}, "method"),
        ({"fmri": {"high_pass": -1}}, "high_pass"),
        ({"subjects": "01"}, "subjects"),
        ({"demo": {"n_subjects": 0}}, "n_subjects"),
        ({"on_invalid_input": "ignore"}, "on_invalid_input"),
        ({"sparse": {"selection": "merge"}}, "selection"),
    ],
)
def test_wrong_types_name_the_key(default_config, patch, needle):
    config = copy.deepcopy(default_config)
    for section, value in patch.items():
        if isinstance(value, dict) and isinstance(config.get(section), dict):
            for key, sub in value.items():
                if isinstance(sub, dict):
                    config[section][key].update(sub)
                else:
                    config[section][key] = sub
        else:
            config[section] = value
    with pytest.raises(WorkflowError, match=needle):
        validate(config, SCHEMA)


@pytest.mark.parametrize("where", ["top", "meeg", "fmri"])
def test_unknown_keys_are_rejected(default_config, where):
    config = copy.deepcopy(default_config)
    (config if where == "top" else config[where])["hihg_pass"] = 0.1
    with pytest.raises(WorkflowError, match="hihg_pass"):
        validate(config, SCHEMA)


def test_missing_bids_root_is_an_error():
    with pytest.raises(WorkflowError, match="bids_root"):
        validate({}, SCHEMA)


def test_every_problem_on_one_line_with_a_suggestion(default_config):
    from neuroopt.pipeline.config import ConfigError, check_config, config_problems

    config = copy.deepcopy(default_config)
    config["meeg"]["lfreq"] = 1.0
    config["smoothing"] = 6
    config["fmri"]["high_pass"] = "low"
    problems = config_problems(config, SCHEMA)
    assert problems == [
        "fmri.high_pass: 'low' is not of type 'number', 'null'",
        "meeg.lfreq: unknown key; did you mean meeg.l_freq?",
        "smoothing: unknown key; did you mean fmri.smoothing_fwhm?",
    ]
    with pytest.raises(ConfigError) as info:
        check_config(config, SCHEMA)
    assert len(str(info.value).splitlines()) == 1 + len(problems)
    assert config_problems(default_config, SCHEMA) == []


def test_default_confounds_fit_the_input(default_config):
    """The default asks raw BOLD (the demo) for no confound, fMRIPrep input for motion, drifts and
    WM/CSF; a list asked for with raw input is reported as not applied."""
    from neuroopt.pipeline.steps.fmri import confound_strategy, raw_bold_ignored_confounds

    fmri = copy.deepcopy(default_config["fmri"])
    validate({"bids_root": "demo", "fmri": fmri}, SCHEMA)
    assert fmri["input"] == "raw" and fmri["confounds"]["strategy"] == "auto"
    assert confound_strategy(fmri) == [] and raw_bold_ignored_confounds(fmri) == []
    assert confound_strategy({**fmri, "input": "fmriprep"}) == ["motion", "high_pass", "wm_csf"]
    fmri["confounds"]["strategy"] = ["motion", "high_pass", "wm_csf"]
    assert raw_bold_ignored_confounds(fmri) == ["motion", "wm_csf"]
    fmri["confounds"]["strategy"] = "all"
    with pytest.raises(WorkflowError, match="strategy"):
        validate({"bids_root": "demo", "fmri": fmri}, SCHEMA)
