"""The workflow's fMRI contrast statistics on a 2-subject demo (fMRI only): subject and group
contrast maps, cluster tables, report sections; contrast errors at planning; native-space inputs
planned out of group maps."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO_ROOT, snakemake

DEMO = dict(n_subjects=2, n_runs=2, eeg_trials_per_condition=20, fmri_trials_per_condition=6,
            fmri_resolution=8.0, path="demo-ds")
FMRI_ONLY = dict(demo=DEMO, meeg={"enabled": False}, rsa={"enabled": False})


def run_with_config(workdir, *args, config, timeout=900):
    path = workdir / "c.yaml"
    path.write_text(yaml.safe_dump(config))
    return snakemake(workdir, *args, configfile=path, timeout=timeout)


@pytest.fixture(scope="module")
def glm_run(tmp_path_factory):
    workdir = tmp_path_factory.mktemp("glm_workflow")
    run = run_with_config(workdir, config=FMRI_ONLY)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    return workdir / "demo-ds" / "derivatives" / "neuroopt"


@pytest.mark.slow
def test_demo_writes_subject_and_group_contrast_maps(glm_run):
    import nibabel as nib

    deriv = glm_run
    for sub in ("01", "02"):
        func = deriv / f"sub-{sub}" / "func"
        for contrast in ("face", "house", "tool", "word"):  # auto: each condition vs baseline
            for model in ("", "model-canonical_"):
                for stat in ("effect", "variance", "t", "z"):
                    path = func / f"sub-{sub}_task-demo_{model}desc-{contrast}_stat-{stat}_statmap.nii.gz"
                    sidecar = json.loads(path.with_name(path.name.replace(".nii.gz", ".json")).read_text())
                    assert sidecar["Contrast"]["Name"] == contrast and sidecar["DegreesOfFreedom"] > 100
            table = pd.read_csv(func / f"sub-{sub}_task-demo_desc-{contrast}_clusters.tsv", sep="\t")
            assert list(table.columns[:5]) == ["Cluster ID", "X", "Y", "Z", "Peak Stat"]
        # the face map peaks in a face-responsive region of the demo truth (FFA or visual)
        z = nib.load(func / f"sub-{sub}_task-demo_desc-face_stat-z_statmap.nii.gz")
        peak = np.unravel_index(np.argmax(z.get_fdata()), z.shape)
        x, y, _ = nib.affines.apply_affine(z.affine, peak)
        assert y < -40, (x, y)
        sidecar = json.loads((func / f"sub-{sub}_task-demo_desc-face_stat-z_statmap.json").read_text())
        assert sidecar["HRFFit"] == "leave-one-run-out"
        assert (func / f"sub-{sub}_task-demo_desc-face_stat-z_statmap.provenance.json").is_file()
    group = deriv / "group" / "func"
    for contrast in ("face", "house", "tool", "word"):
        assert (group / f"task-demo_desc-{contrast}_stat-z_statmap.nii.gz").is_file()
        info = json.loads((group / f"task-demo_desc-{contrast}_clusters.json").read_text())
        assert info["Threshold"]["correction"] == "fdr"
    for kind in ("hrfpeak", "hrffwhm"):
        median = nib.load(group / f"task-demo_desc-{kind}_stat-median_statmap.nii.gz").get_fdata()
        assert 0 < np.median(median[median > 0]) < 20
    assert (group / "task-demo_desc-allConditions_decoding.npz").is_file()
    subject_page = (deriv / "reports" / "sub-01_report.html").read_text()
    # the contrasts in the page's summary table and in its fMRI section
    assert "Contrasts (R1-GLM)" in subject_page and "Suprathreshold voxels" in subject_page
    assert "face — R1-GLM z map" in subject_page
    group_page = (deriv / "reports" / "index.html").read_text()
    assert "Group contrast face (task demo)" in group_page and "Group fMRI decoding" in group_page


def test_unknown_condition_in_a_contrast_stops_at_planning(tmp_path):
    config = {**FMRI_ONLY, "glm": {"contrasts": ["face - cars"]}}
    result = run_with_config(tmp_path, "-n", config=config)
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "'face - cars'" in output and "['cars']" in output and "['face', 'house', 'tool', 'word']" in output
    assert "Job stats" not in output


def test_native_space_inputs_plan_group_maps_out():
    from neuroopt.pipeline.plan import Plan

    config = yaml.safe_load((REPO_ROOT / "config" / "config.yaml").read_text())
    plan = Plan(config=config, bids_root=REPO_ROOT, deriv_root=REPO_ROOT, layout=None, is_demo=False)
    assert "native space" in plan.group_glm_space_problem()
    config["fmri"].update(input="fmriprep", space="MNI152NLin2009cAsym")
    assert plan.group_glm_space_problem() is None
    config["fmri"]["space"] = "T1w"
    assert "'T1w'" in plan.group_glm_space_problem()
