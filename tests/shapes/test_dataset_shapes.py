"""The dataset shapes of issue 18, planned and run end to end on small data.

Real layouts built as BIDS from ../shared/data (Haxby 2001: one block per category per run;
pyhrf localizer: one run per subject, two voxel sizes), simulated trees for several tasks,
sessions, single-run groups, events with n/a and extra columns, participants.tsv with a subject
left out, raw and fMRIPrep input; and EEG without EOG channels nor electrode positions.
"""

import json
from collections import Counter

import numpy as np
import pytest
import yaml
from bids_shapes import eeg_without_positions_bids, haxby_bids, pyhrf_localizer_bids, simulated_fmri_bids

from neuroopt.decoding.cv import split_half_runs
from neuroopt.pipeline.preconditions import decoding_problem, rsa_problem

from conftest import REPO_ROOT, shared_dataset, snakemake

FMRI_ONLY = {"meeg": {"enabled": False}}
# The end-to-end runs check that each shape runs through every stage, not the contrast maps
# (tests/fmri/test_fmri_contrasts*.py do): one GLM contrast instead of one job per condition.
ONE_CONTRAST = {"haxby": {"contrasts": ["face - house"]}, "localizer": {"contrasts": ["calculaudio - phraseaudio"]}}
# confounds asked for explicitly: with raw BOLD they cannot be applied (the default, auto, asks for none)
ASKED_CONFOUNDS = {"confounds": {"strategy": ["motion", "high_pass", "wm_csf"]}}


def _config(path, **config):
    path.write_text(yaml.safe_dump(config))
    return path


def _load_config(**overrides):
    """The default config with ``overrides`` merged in (what Snakemake validates), for make_plan."""
    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())

    def merge(base, extra):
        for key, value in extra.items():
            if isinstance(value, dict) and isinstance(base.get(key), dict):
                merge(base[key], value)
            else:
                base[key] = value

    merge(config, overrides)
    return config


# ------------------------------------------------------------------------------ preconditions
def test_split_half_runs_leaves_a_gap():
    onsets = np.arange(0.0, 200.0, 10.0)
    halves = split_half_runs(onsets, gap=30.0)
    assert set(halves) == {0, 1, 2}
    kept1, kept2 = onsets[halves == 1], onsets[halves == 2]
    assert kept2.min() - kept1.max() >= 30.0 and kept1.max() < kept2.min()
    assert np.all(np.abs(onsets[halves == 0] - np.median(onsets)) < 15.0)
    with pytest.raises(ValueError, match="gap"):
        split_half_runs(onsets, gap=-1.0)


def test_decoding_and_rsa_problems():
    two_runs = [Counter(a=3, b=3), Counter(a=3, b=3)]
    assert decoding_problem(two_runs, "run", ("a", "b"), "func") is None
    assert "1 run; cross-validation needs runs" in decoding_problem(two_runs[:1], "run", ("a", "b"), "func")
    assert "split_half" in decoding_problem(two_runs[:1], "run", ("a", "b"), "func")
    assert "split_half" not in decoding_problem(two_runs[:1], "run", ("a", "b"), "meeg")
    assert "fewer than 2 of the classes" in decoding_problem(two_runs, "run", ("a", "c"), "func")
    assert "too few trials" in decoding_problem([Counter(a=3, b=1), Counter(a=3, b=1)], "run", ("a", "b"), "func")
    # tags pool conditions: 'left' = 'auditory/left' + 'visual/left'
    tagged = [Counter({"auditory/left": 1, "visual/left": 1, "auditory/right": 2}) for _ in range(2)]
    assert decoding_problem(tagged, "run", ("left", "right"), "meeg") is None
    assert rsa_problem(two_runs, "run", ["a", "b"], "func", noise_from_trials=True) is None
    one_each = [Counter(a=1, b=1), Counter(a=1, b=1)]
    assert "single trial" in rsa_problem(one_each, "run", ["a", "b"], "func", noise_from_trials=True)
    assert "glm_residuals" in rsa_problem(one_each, "run", ["a", "b"], "func", noise_from_trials=True)
    assert rsa_problem(one_each, "run", ["a", "b"], "func", noise_from_trials=False) is None
    assert "no trial in run 2" in rsa_problem([Counter(a=2, b=2), Counter(a=2)], "run", ["a", "b"], "func", False)
    assert "an RDM needs 2" in rsa_problem(two_runs, "run", ["a"], "func", False)


@pytest.fixture(scope="module")
def simulated(tmp_path_factory):
    return simulated_fmri_bids(tmp_path_factory.mktemp("shapes") / "ds", fmriprep=True)


def test_plan_of_tasks_sessions_and_single_runs(simulated, caplog):
    """Planning alone (no job): groups per subject/session/task, single runs planned out with a reason."""
    from neuroopt.pipeline import make_plan

    root, _ = simulated
    with caplog.at_level("WARNING", logger="neuroopt"):
        plan = make_plan(_load_config(bids_root=str(root), subjects=["01", "02"], **FMRI_ONLY, fmri=ASKED_CONFOUNDS))
    groups = sorted(plan.fmri_groups())
    assert groups == ["sub-01_ses-1_task-motor", "sub-01_ses-2_task-motor", "sub-02_ses-1_task-visual"]
    assert sorted(plan.units()) == ["sub-01_ses-1", "sub-01_ses-2", "sub-02_ses-1"]  # sub-03: not selected
    assert plan.contrasts("sub-01_ses-1_task-motor", "func") == {"leftVsRight": ("left", "right")}
    assert plan.contrasts("sub-02_ses-1_task-visual", "func") == {"allConditions": ("chair", "face", "house")}
    skipped = {(p.stage, p.group): p.reason for p in plan.planned_out()}
    assert set(skipped) == {("decoding", "sub-02_ses-1_task-visual"), ("rsa", "sub-02_ses-1_task-visual")}
    assert skipped[("decoding", "sub-02_ses-1_task-visual")].startswith("1 run; cross-validation needs runs")
    assert "fMRI decoding allConditions skipped for sub-02 ses-1 task-visual: 1 run" in caplog.text
    assert "fmri.confounds.strategy ['motion', 'wm_csf'] not applied" in caplog.text
    targets = set(plan.targets())
    assert not any("sub-02" in t and ("decoding" in t or "rdm" in t) for t in targets)
    # the group model comparison of task motor: two sessions of sub-01 (2 conditions, one pair)
    assert plan.group_members("motor", "func", "rsa") == ["sub-01_ses-1_task-motor", "sub-01_ses-2_task-motor"]
    assert plan.group_rsa_output("motor", "func") in targets
    assert plan.group_rsa_output("visual", "func") not in targets  # no subject with RSA
    # sub-01 has two sessions: a sessions table, whose job joins them (one cluster job group)
    assert plan.multi_session_subjects() == {"sub-01": ("sub-01_ses-1", "sub-01_ses-2")}
    runs = [len(plan.fmri_groups()[f"sub-01_ses-{s}_task-motor"]) for s in (1, 2)]
    assert plan.sessions_rows("sub-01") == [
        {"session_id": f"ses-{s}", "func_runs": n, "report": f"../reports/sub-01_ses-{s}_report.html"} for s, n in zip((1, 2), runs)
    ]
    assert plan.sessions_inputs("sub-01") == [plan.report("sub-01_ses-1"), plan.report("sub-01_ses-2")]
    assert plan.sessions_table("sub-01") in targets and plan.sessions_table("sub-01") in plan.final_targets()
    # the single-run alternative: the halves of the run act as runs, and are checked as such
    halves = make_plan(_load_config(bids_root=str(root), subjects=["02"], fmri={"single_run": "split_half", "single_run_gap": 10.0},
                                    **FMRI_ONLY))
    reasons = [p.reason for p in halves.planned_out()]
    assert all("half" in r and "1 run" not in r for r in reasons), reasons


@pytest.mark.slow
def test_plan_eeg_without_positions_has_no_sparse_stage(tiny_demo, tmp_path):
    from neuroopt.pipeline import make_plan
    from neuroopt.pipeline.preconditions import has_electrode_positions

    root = eeg_without_positions_bids(tiny_demo, tmp_path / "eeg")
    plan = make_plan(_load_config(bids_root=str(root), fmri={"enabled": False}))
    rec = plan.layout.select("eeg")[0]
    assert not has_electrode_positions(rec)
    assert has_electrode_positions(make_plan(_load_config(bids_root=str(tiny_demo), fmri={"enabled": False})).layout.select("eeg")[0])
    skipped = {p.stage: p.reason for p in plan.planned_out()}
    assert set(skipped) == {"sparse", "decoding", "rsa"}
    assert "without electrode positions" in skipped["sparse"] and "-fwd.fif" in skipped["sparse"]
    assert not any("sources" in t or "fwd" in t for t in plan.targets())
    (tmp_path / "01-fwd.fif").write_bytes(b"")  # planning checks that it exists; no job reads it here
    with_fwd = make_plan(_load_config(bids_root=str(root), fmri={"enabled": False}, sparse={"forward": str(tmp_path / "{subject}-fwd.fif")}))
    assert "sparse" not in {p.stage for p in with_fwd.planned_out()}


# ------------------------------------------------------------------------------ end to end
def _run(workdir, config, targets=()):
    # "--" ends --configfile's list of files: what follows are targets
    result = snakemake(workdir, *(["--", *targets] if targets else []), configfile=_config(workdir / "config.yaml", **config))
    assert result.returncode == 0, result.stdout[-3000:] + result.stderr[-5000:]
    return result


@pytest.fixture(scope="module")
def haxby_run(tmp_path_factory):
    """Haxby 2001, 4 of its 12 runs (same layout: one block per category per run), with a report
    (and one GLM contrast, ONE_CONTRAST)."""
    source = shared_dataset("fmri_haxby2001_1slice")
    workdir = tmp_path_factory.mktemp("haxby")
    root = haxby_bids(source, workdir / "ds", runs=range(1, 5))
    result = _run(workdir, {"bids_root": str(root), **FMRI_ONLY, "decoding": {"contrasts": [["face", "house"]]},
                            "rsa": {"n_bootstrap": 10}, "glm": ONE_CONTRAST["haxby"]})
    return root / "derivatives" / "neuroopt", result


@pytest.mark.slow
def test_haxby_block_design_runs_every_stage(haxby_run):
    deriv, result = haxby_run
    func = deriv / "sub-1" / "func"
    from neuroopt.decoding.trials import TrialDecodingResult
    from neuroopt.rsa.rdm import RDMStack

    decoding = TrialDecodingResult.load(func / "sub-1_task-objectviewing_desc-faceVsHouse_decoding.npz")
    assert decoding.mean_scores > 0.9  # faces vs houses in ventral temporal cortex (1.0 on the 12 runs)
    stack = RDMStack.load(func / "sub-1_task-objectviewing_desc-crossnobis_rdm.npz")
    assert stack.n_conditions == 8 and np.isfinite(stack.dissimilarities).all()
    assert json.loads((func / "sub-1_task-objectviewing_desc-residuals_bold.json").read_text())["DegreesOfFreedom"] > 300
    report = (deriv / "reports" / "sub-1_report.html").read_text()
    assert (func / "sub-1_task-objectviewing_desc-faceMinusHouse_stat-z_statmap.nii.gz").is_file()
    assert "RSA" in report and "fMRI decoding" in report
    assert (deriv / "reports" / "index.html").is_file()
    assert "skipped for" not in result.stdout + result.stderr


@pytest.fixture(scope="module")
def localizer_run(tmp_path_factory):
    source = shared_dataset("fmri_pyhrf_localizer")
    workdir = tmp_path_factory.mktemp("localizer")
    root = pyhrf_localizer_bids(source, workdir / "ds")
    result = _run(workdir, {"bids_root": str(root), **FMRI_ONLY, "fmri": {"check_tr_header": False},
                            "glm": ONE_CONTRAST["localizer"]})
    return root / "derivatives" / "neuroopt", result


@pytest.mark.slow
def test_single_run_localizer_plans_out_decoding_and_rsa(localizer_run):
    deriv, result = localizer_run
    output = result.stdout + result.stderr
    for sub in ("01", "02"):
        assert f"fMRI decoding allConditions skipped for sub-{sub} task-localizer: 1 run; cross-validation needs runs" in output
        summary = json.loads((deriv / f"sub-{sub}/func/sub-{sub}_task-localizer_desc-r1glm_summary.json").read_text())
        assert 4.0 < summary["median_hrf_peak_s"] < 6.0  # 4.9 / 5.0 s
        assert (deriv / "reports" / f"sub-{sub}_report.html").is_file()
        assert not list((deriv / f"sub-{sub}" / "func").glob("*_decoding.npz"))
    index = (deriv / "reports" / "index.html").read_text()
    assert "Stages planned out" in index and "cross-validation needs runs" in index


@pytest.mark.slow
def test_tasks_sessions_single_run_and_raw_bold(simulated, tmp_path):
    root, _ = simulated
    result = _run(tmp_path, {"bids_root": str(root), "subjects": ["01", "02"], **FMRI_ONLY, "fmri": ASKED_CONFOUNDS,
                             "report": {"enabled": False},
                             "rsa": {"n_bootstrap": 20}, "decoding": {"n_permutations": 16}})
    deriv = root / "derivatives" / "neuroopt"
    assert not (deriv / "sub-03").exists()
    for group in ("sub-01/ses-1/func/sub-01_ses-1_task-motor", "sub-01/ses-2/func/sub-01_ses-2_task-motor"):
        assert (deriv / f"{group}_desc-leftVsRight_decoding.npz").is_file()
        assert (deriv / f"{group}_desc-crossnobis_rdm.npz").is_file()
    assert not list((deriv / "sub-02").rglob("*_decoding.npz"))  # single run: planned out
    sessions = (deriv / "sub-01/sub-01_sessions.tsv").read_text().splitlines()
    assert sessions[0].split("\t") == ["session_id", "func_runs", "report"] and len(sessions) == 3
    assert sessions[1].startswith("ses-1\t") and sessions[1].endswith("\tn/a")  # reports disabled
    assert not (deriv / "sub-02/sub-02_sessions.tsv").exists()  # one session
    assert (deriv / "sub-02/ses-1/func/sub-02_ses-1_task-visual_desc-r1glm_summary.json").is_file()
    # the group comparison with two conditions (one pair) runs
    from neuroopt.rsa.inference import ModelComparisonResult

    group = ModelComparisonResult.load(deriv / "group/func/task-motor_desc-models_rsa.npz")
    assert np.isfinite(group.bootstrap_fits).all()
    sidecar = json.loads((deriv / "sub-01/ses-1/func/sub-01_ses-1_task-motor_run-01_desc-clean_bold.json").read_text())
    assert sidecar["Confounds"] == [] and sidecar["ConfoundsNotApplied"]["strategy"] == ["motion", "wm_csf"]
    assert "not applied" in result.stdout + result.stderr


@pytest.mark.slow
def test_fmriprep_input_applies_confounds(simulated, tmp_path):
    root, prep = simulated
    deriv = tmp_path / "deriv"
    sidecar = deriv / "sub-01/ses-1/func/sub-01_ses-1_task-motor_run-01_desc-clean_bold.json"
    # the fMRIPrep-specific jobs only (mask from fMRIPrep's masks, one run cleaned with its confounds);
    # the stages after them are the same as with raw input
    result = _run(tmp_path, {"bids_root": str(root), "deriv_root": str(deriv), "subjects": ["01"], "sessions": ["1"],
                             "tasks": ["motor"], **FMRI_ONLY, "fmri": {"input": "fmriprep", "fmriprep_root": str(prep)}},
                  targets=[str(sidecar)])
    sidecar = json.loads(sidecar.read_text())
    assert "trans_x" in sidecar["Confounds"] and "white_matter" in sidecar["Confounds"] and "ConfoundsNotApplied" not in sidecar
    assert "space-MNI152NLin2009cAsym_desc-preproc_bold" in sidecar["Sources"][0]
    assert "not applied" not in result.stdout + result.stderr


@pytest.mark.slow
def test_eeg_without_eog_and_positions_runs(tiny_demo, tmp_path):
    """Needs meeg_preprocess to run without an EOG channel (ICA output written or not declared)."""
    root = eeg_without_positions_bids(tiny_demo, tmp_path / "eeg")
    result = _run(tmp_path, {"bids_root": str(root), "fmri": {"enabled": False}})
    output = result.stdout + result.stderr
    assert "M/EEG sparse skipped for sub-01 task-demo: EEG without electrode positions" in output
    deriv = root / "derivatives" / "neuroopt"
    assert (deriv / "sub-01/eeg/sub-01_task-demo_epo.fif").is_file()
    assert not list(deriv.rglob("*_sources.h5")) and not list(deriv.rglob("*_decoding.npz"))
    index = (deriv / "reports" / "index.html").read_text()
    assert "Stages planned out" in index and "without electrode positions" in index


def test_single_run_trials_split_in_halves_by_the_jobs():
    """What the fMRI decoding / RSA jobs use as runs: the run, or its halves with fmri.single_run: split_half."""
    from types import SimpleNamespace

    import pandas as pd

    from neuroopt.pipeline.steps.decoding_rsa import _trial_runs

    trials = pd.DataFrame({"run": 1, "onset": np.arange(0.0, 300.0, 20.0), "trial_type": ["a", "b", "c"] * 5})
    params = SimpleNamespace(single_run={"single_run": "split_half", "single_run_gap": 40.0})
    runs = _trial_runs(trials, params)
    np.testing.assert_array_equal(runs, split_half_runs(trials["onset"], 40.0))
    assert set(runs) == {0, 1, 2}
    skip = SimpleNamespace(single_run={"single_run": "skip", "single_run_gap": 40.0})
    np.testing.assert_array_equal(_trial_runs(trials, skip), 1)
    two_runs = trials.assign(run=[1] * 7 + [2] * 8)
    np.testing.assert_array_equal(_trial_runs(two_runs, params), two_runs["run"])  # several runs: unchanged
