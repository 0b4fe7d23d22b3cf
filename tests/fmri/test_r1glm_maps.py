"""Rank-1 GLM on images: maps, derivative files, truth scoring and the report section."""

from __future__ import annotations

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri.design import simulate_bold
from neuroopt.fmri.maps import (
    fit_r1glm_images,
    r1glm_derivative_paths,
    save_r1glm_derivatives,
    score_against_truth,
)

T_R = 2.0
N_SCANS = 150
SHAPE = (6, 5, 4)


@pytest.fixture(scope="module")
def demo_like():
    """Two runs on a small grid with a truth dict in the format of load_demo_truth."""
    rng = np.random.default_rng(0)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    mask = np.zeros(SHAPE, bool)
    mask[1:5, 1:4, :] = True
    n_vox = int(mask.sum())
    conditions = ["faces", "houses", "tools"]
    active = rng.random(n_vox) < 0.6
    betas = rng.uniform(1, 2, (3, n_vox)) * active
    params = np.array([[5.5, 1.0, 1 / 6], [6.5, 1.0, 0.2], [7.5, 0.9, 0.1]])
    shape_index = rng.integers(0, 3, n_vox)
    imgs, events, trials = [], [], {}
    for run in range(2):
        onsets = np.sort(rng.choice(np.arange(0, (N_SCANS - 1) * T_R - 30), 36, replace=False))
        ev = pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0,
                           "trial_type": rng.permutation(np.repeat(conditions, 12)),
                           "amplitude": rng.uniform(0.5, 1.5, 36)})
        Y, hrfs = simulate_bold(ev, T_R, N_SCANS, params, shape_index, betas, snr=3.0,
                                noise_sd=0.0, random_state=run)
        Y = Y + 100.0
        data = np.zeros(SHAPE + (N_SCANS,), np.float32)
        data[mask] = Y.T
        imgs.append(nib.Nifti1Image(data, affine))
        events.append(ev[["onset", "duration", "trial_type"]])
        trials[run + 1] = ev
    betas_img = np.zeros(SHAPE + (3,))
    betas_img[mask] = betas.T
    true_times = np.arange(0, 32.05, 0.1)
    peak_img = np.zeros(SHAPE)
    peak_img[mask] = true_times[hrfs[:, shape_index].argmax(0)]
    truth = {"fmri": {
        "t_r": T_R, "conditions": conditions,
        "mask_img": nib.Nifti1Image(mask.astype(np.uint8), affine),
        "betas_img": nib.Nifti1Image(betas_img, affine),
        "hrf_peak_img": nib.Nifti1Image(peak_img, affine),
        "hrf_times": true_times, "hrfs": hrfs[:, shape_index], "trials": trials,
        "noise": {"ar1": 0.0, "sd": 1.0, "drift": "none"},
    }}
    return imgs, events, truth


@pytest.fixture(scope="module")
def fitted(demo_like):
    imgs, events, truth = demo_like
    return fit_r1glm_images(imgs, events, truth["fmri"]["mask_img"], t_r=T_R, trial_betas=True)


def test_maps_and_truth_scores(demo_like, fitted):
    _, _, truth = demo_like
    assert fitted.betas.shape == SHAPE + (3,)
    assert fitted.trial_betas.shape == SHAPE + (72,)
    assert fitted.conditions == ["faces", "houses", "tools"]
    assert list(fitted.trials["run"].unique()) == [1, 2]
    peak = fitted.hrf_peak.get_fdata()[truth["fmri"]["mask_img"].get_fdata() > 0]
    assert 4.0 < np.median(peak) < 7.5
    scores = score_against_truth(fitted, truth)
    assert scores["n_voxels"] == 48
    assert scores["hrf_r"] > 0.95
    assert scores["ttp_error"] < 0.5
    assert scores["beta_r"] > 0.9
    assert scores["trial_beta_r"] > 0.6
    with pytest.raises(ValueError, match="Unknown condition"):
        fitted.beta_img("cars")


def test_save_derivatives(tmp_path, fitted):
    paths = r1glm_derivative_paths(tmp_path / "sub-01" / "func", "sub-01_task-demo")
    assert paths["hrf_peak"].name == "sub-01_task-demo_desc-hrf_peak.nii.gz"
    written = save_r1glm_derivatives(fitted, paths)
    for kind in paths:
        assert written[kind].exists()
    betas = nib.load(paths["betas"])
    np.testing.assert_allclose(betas.get_fdata(), fitted.betas.get_fdata(), rtol=1e-5, atol=1e-6)
    assert json.loads(written["betas_json"].read_text())["VolumeLabels"] == fitted.conditions
    trials = pd.read_csv(paths["trials"], sep="\t")
    assert len(trials) == nib.load(paths["trial_betas"]).shape[3]
    # no temporary file is left behind
    assert not [p for p in paths["hrf_peak"].parent.iterdir() if p.name.startswith(".")]
    with pytest.raises(ValueError, match="Unknown derivative kind"):
        save_r1glm_derivatives(fitted, {"peaks": tmp_path / "x.nii.gz"})


def test_report_section(demo_like, fitted):
    mne = pytest.importorskip("mne")
    import matplotlib

    matplotlib.use("Agg")
    from neuroopt.report.hrf import add_hrf_section

    _, _, truth = demo_like
    report = mne.Report(title="test")
    report, scores = add_hrf_section(report, fitted, truth=truth, max_conditions=1)
    titles, _, htmls = report.get_contents()
    assert titles == ["HRF estimation (rank-1 GLM)"]
    for element in ("HRF shapes", "Time-to-peak map", "Condition beta maps", "Fit summary",
                    "Gain over the canonical GLM (map)"):
        assert element in htmls[0]
    assert scores["hrf_r"] > 0.95
