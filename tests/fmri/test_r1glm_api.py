"""Rank-1 GLM API: R1GLMS predict/score, one noise_model default, input shapes, maskers."""

from __future__ import annotations

import inspect
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from neuroopt.fmri.design import check_events, drift_basis, event_regressors, simulate_bold
from neuroopt.fmri.estimators import R1GLM, R1GLMS
from neuroopt.fmri.maps import fit_r1glm_images

T_R = 2.0
N_SCANS = 120
SHAPE = (4, 3, 3)
ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(3)
    onsets = np.sort(rng.choice(np.arange(0, int((N_SCANS - 1) * T_R) - 30), 24, replace=False))
    events = pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0,
                           "trial_type": rng.permutation(np.repeat(["a", "b"], 12))})
    betas = rng.uniform(1, 2, (2, 20))
    Y, _ = simulate_bold(events, T_R, N_SCANS, [[6.0, 1.0, 1 / 6]], np.zeros(20, int), betas,
                         snr=3.0, random_state=0)
    return Y + 50.0, events


def test_r1glms_predict_and_score(sim):
    """predict uses the trial betas (was a shape error: condition design x trial betas)."""
    Y, events = sim
    model = R1GLMS(t_r=T_R).fit(Y, events)
    pred = model.predict(events)
    assert pred.shape == Y.shape
    # the prediction is sum_i beta_i x_i with each trial's regressor built with the voxel's HRF
    ev = check_events(events, N_SCANS, T_R)
    regs = event_regressors(ev, model.basis_, N_SCANS, T_R)  # (n_scans, n_trials, n_basis)
    for v in (0, 7):
        expected = (regs @ model.hrf_coef_[:, v]) @ model.betas_[:, v]
        np.testing.assert_allclose(pred[:, v], expected, rtol=1e-10, atol=1e-12)
    # LSS trial betas are each fitted against the other trials, not jointly, so their R^2 is
    # below the condition fit's (measured 0.86 vs 0.88 here)
    score = model.score(Y, events)
    assert 0.7 < score <= R1GLM(t_r=T_R).fit(Y, events).score(Y, events)
    # the R^2 of score is that of the drift-free data and the drift-free prediction
    q = drift_basis(N_SCANS, T_R)
    resid = Y - q @ (q.T @ Y)
    fit = pred - q @ (q.T @ pred)
    r2 = 1 - ((resid - fit) ** 2).sum(0) / (resid ** 2).sum(0)
    assert score == pytest.approx(r2.mean(), rel=1e-10)
    other = events.copy()
    other.loc[0, "onset"] += 2.0
    with pytest.raises(ValueError, match="are not the 24 trials fitted"):
        model.predict(other)


def test_one_noise_model_default():
    """The library's default noise model is the workflow's (config.yaml and the schema)."""
    default = inspect.signature(R1GLM).parameters["noise_model"].default
    assert default == inspect.signature(R1GLMS).parameters["noise_model"].default == "ar1"
    config = yaml.safe_load((ROOT / "config" / "config.yaml").read_text())
    schema = yaml.safe_load((ROOT / "config" / "schema.yaml").read_text())
    assert config["r1glm"]["noise_model"] == default
    assert schema["properties"]["r1glm"]["properties"]["noise_model"]["default"] == default


def test_transposed_data_is_named(sim):
    Y, events = sim
    with pytest.raises(ValueError, match=r"Y has shape \(20, 120\).*pass its transpose"):
        R1GLM(t_r=T_R).fit(Y.T, events)
    with pytest.raises(ValueError, match=r"got shapes \[\(120, 20\), \(20, 120\)\]"):
        R1GLM(t_r=T_R).fit([Y, Y.T], [events, events])
    # more voxels than scans: the transposed array could hold the events, which end early
    wide = np.tile(Y, (1, 30))  # 120 scans x 600 voxels
    with pytest.raises(ValueError, match=r"Y has shape \(600, 120\).*within the first 92 scans"):
        R1GLM(t_r=T_R).fit(wide.T, events)
    # an events table that really is too long for the run keeps its own message
    late = events.copy()
    late.loc[3, "onset"] = 10 * N_SCANS * T_R
    with pytest.raises(ValueError, match="outside the scan window"):
        R1GLM(t_r=T_R).fit(Y, late)


@pytest.fixture(scope="module")
def images(sim):
    Y, events = sim
    mask = np.zeros(SHAPE, bool)
    mask.reshape(-1)[:Y.shape[1]] = True
    data = np.zeros(SHAPE + (N_SCANS,), np.float32)
    data[mask] = Y.T
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    return (nib.Nifti1Image(data, affine), events,
            nib.Nifti1Image(mask.astype(np.uint8), affine))


def test_fit_images_accepts_a_masker(images):
    from nilearn.maskers import NiftiMasker

    img, events, mask = images
    ref = fit_r1glm_images(img, events, mask, t_r=T_R)
    unfitted = NiftiMasker(mask_img=mask, standardize=None)
    from_masker = fit_r1glm_images(img, events, unfitted, t_r=T_R)
    np.testing.assert_allclose(from_masker.estimator.betas_, ref.estimator.betas_, rtol=1e-6)
    assert not hasattr(unfitted, "mask_img_")  # a fitted copy, as nilearn's FirstLevelModel
    fitted = NiftiMasker(mask_img=mask, standardize=None).fit()
    again = fit_r1glm_images([img], [events], fitted, t_r=T_R)
    assert again.masker is fitted
    np.testing.assert_allclose(again.estimator.betas_, ref.estimator.betas_, rtol=1e-6)
    with pytest.raises(ValueError, match="NiftiMasker without a mask"):
        fit_r1glm_images(img, events, NiftiMasker(), t_r=T_R)
    with pytest.raises(ValueError, match=r"mask_img \('/nonexistent/mask.nii.gz'\)"):
        fit_r1glm_images(img, events, "/nonexistent/mask.nii.gz", t_r=T_R)


def test_fit_images_refuses_arrays(images, sim):
    """A 2D array is not a list of runs (was: 'Got 120 BOLD run(s) but 1 events table(s)')."""
    img, events, mask = images
    Y, _ = sim
    with pytest.raises(TypeError, match=r"ndarray of shape \(120, 20\).*R1GLM\(t_r\)\.fit"):
        fit_r1glm_images(Y, events, mask, t_r=T_R)
    with pytest.raises(TypeError, match=r"bold_imgs\[1\] must be a 4D image"):
        fit_r1glm_images([img, Y], [events, events], mask, t_r=T_R)
    with pytest.raises(TypeError, match=r"got int"):
        fit_r1glm_images(3, events, mask, t_r=T_R)
