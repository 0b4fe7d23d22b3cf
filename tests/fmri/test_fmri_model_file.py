"""The stored R1-GLM model (estimator + masker, what the workflow keeps for the report) does not
depend on the mask file it was fitted with."""

from __future__ import annotations

import joblib
import nibabel as nib
import numpy as np
import pandas as pd

from neuroopt.fmri.design import simulate_bold
from neuroopt.fmri.maps import R1GLMImages, fit_r1glm_images


def test_stored_model_survives_the_mask_file(tmp_path):
    t_r, n_scans, shape = 2.0, 120, (4, 4, 3)
    rng = np.random.default_rng(3)
    mask = np.zeros(shape, np.uint8)
    mask[1:3, 1:3, :] = 1
    n_vox = int(mask.sum())
    onsets = np.sort(rng.choice(np.arange(0, (n_scans - 1) * t_r - 30), 24, replace=False))
    events = pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0,
                           "trial_type": rng.permutation(np.repeat(["a", "b"], 12))})
    Y, _ = simulate_bold(events, t_r, n_scans, np.array([[6.0, 1.0, 1 / 6]]), np.zeros(n_vox, int),
                         rng.uniform(1, 2, (2, n_vox)), snr=3.0, noise_sd=0.0, random_state=0)
    data = np.zeros(shape + (n_scans,), np.float32)
    data[mask > 0] = Y.T + 100.0
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    mask_file = tmp_path / "mask.nii.gz"
    nib.save(nib.Nifti1Image(mask, affine), mask_file)

    result = fit_r1glm_images(nib.Nifti1Image(data, affine), events, mask_file, t_r=t_r)
    model_file = tmp_path / "model.joblib"
    joblib.dump({"estimator": result.estimator, "masker": result.masker}, model_file)
    mask_file.unlink()  # e.g. the derivatives were moved to another disk

    rebuilt = R1GLMImages.from_estimator(**joblib.load(model_file))
    np.testing.assert_array_equal(rebuilt.betas.get_fdata(), result.betas.get_fdata())
    np.testing.assert_array_equal(rebuilt.hrf_peak.get_fdata(), result.hrf_peak.get_fdata())
    assert np.count_nonzero(rebuilt.betas.get_fdata()[..., 0]) == n_vox
