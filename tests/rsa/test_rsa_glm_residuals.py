"""fMRI RSA noise from the first-level GLM residuals: designs with one trial per condition per run."""

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri.design import drift_basis, simulate_bold
from neuroopt.fmri.estimators import R1GLMS
from neuroopt.fmri.residuals import r1glm_residuals, save_residuals
from neuroopt.rsa import crossnobis, roi_rdms

T_R, N_SCANS, N_RUNS, N_VOX = 2.0, 64, 4, 24
CONDITIONS = ["a", "b", "c"]


@pytest.fixture(scope="module")
def block_design():
    """Haxby-like: every run has one block per condition; spatially correlated noise, known covariance."""
    rng = np.random.default_rng(0)
    betas = rng.standard_normal((3, N_VOX)) * 2.0
    mix = np.eye(N_VOX) + 0.6 * rng.standard_normal((N_VOX, N_VOX)) / np.sqrt(N_VOX)
    true_cov = mix @ mix.T
    runs, events = [], []
    for r in range(N_RUNS):
        order = rng.permutation(CONDITIONS)
        ev = pd.DataFrame({"onset": [8.0, 44.0, 80.0], "duration": [16.0] * 3, "trial_type": order})
        signal, _ = simulate_bold(ev, T_R, N_SCANS, [[6.0, 1.0, 0.167]], np.zeros(N_VOX, int), betas,
                                  noise_sd=0.0, random_state=r)
        runs.append(100.0 + signal + rng.standard_normal((N_SCANS, N_VOX)) @ mix.T)
        events.append(ev)
    est = R1GLMS(t_r=T_R, hrf_shrinkage=0.0).fit(runs, events)
    return runs, events, est, true_cov


def test_residuals_are_drift_free_and_estimate_the_noise(block_design):
    runs, events, est, true_cov = block_design
    residuals, dof = r1glm_residuals(est, runs, events)
    assert residuals.shape == (N_RUNS * N_SCANS, N_VOX)
    n_drift = 0
    for r in range(N_RUNS):
        q = drift_basis(N_SCANS, T_R, "cosine", 0.01)
        n_drift += q.shape[1]
        np.testing.assert_allclose(q.T @ residuals[r * N_SCANS:(r + 1) * N_SCANS], 0.0, atol=1e-8)
    assert dof == N_RUNS * N_SCANS - n_drift - (est.basis_.n_basis + 3 - 1)
    cov = residuals.T @ residuals / dof
    # the noise covariance (not the signal) is what the residuals hold
    assert np.corrcoef(cov.ravel(), true_cov.ravel())[0, 1] > 0.95
    np.testing.assert_allclose(np.median(np.diag(cov) / np.diag(true_cov)), 1.0, atol=0.15)
    with pytest.raises(ValueError, match="fitted on"):
        r1glm_residuals(est, runs[:2], events[:2])


def test_crossnobis_with_glm_residuals_one_trial_per_cell(block_design, tmp_path):
    runs, events, est, true_cov = block_design
    trials_cond, trials_run = est.trial_conditions_, est.trial_runs_
    with pytest.raises(ValueError, match="single epoch"):
        crossnobis(est.betas_, trials_cond, trials_run, noise="shrinkage_diag")
    residuals, dof = r1glm_residuals(est, runs, events)
    ours = crossnobis(est.betas_, trials_cond, trials_run, noise="shrinkage_diag", residuals=residuals, dof=dof)
    oracle = crossnobis(est.betas_, trials_cond, trials_run, noise=np.linalg.inv(true_cov))
    np.testing.assert_allclose(ours, oracle, rtol=0.3)
    # the same through images (workflow path): residuals saved as NIfTI, masked per ROI
    from nilearn.maskers import NiftiMasker

    shape = (4, 3, 2)
    mask = nib.Nifti1Image(np.ones(shape, dtype=np.uint8), np.eye(4))
    masker = NiftiMasker(mask_img=mask, standardize=None).fit()
    path, sidecar = save_residuals(residuals, dof, masker, tmp_path / "sub-01_desc-residuals_bold.nii.gz")
    assert nib.load(path).shape == shape + (N_RUNS * N_SCANS,) and nib.load(path).get_data_dtype() == np.int16
    saved = masker.transform(nib.load(path))
    assert np.abs(saved - residuals).max() < 1e-3 * residuals.std()  # int16 with scale factor
    stack = roi_rdms(masker.inverse_transform(est.betas_), mask, trials_cond, trials_run,
                     noise="shrinkage_diag", residuals=nib.load(path), dof=dof, roi_names=["all"])
    np.testing.assert_allclose(stack.dissimilarities[0], ours, rtol=1e-4)
    assert stack.noise == "shrinkage_diag from GLM residuals"  # shown in the report
    with pytest.raises(ValueError, match="only used to estimate the noise"):
        roi_rdms(masker.inverse_transform(est.betas_), mask, trials_cond, trials_run, noise=None, residuals=nib.load(path))
