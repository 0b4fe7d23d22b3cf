"""Residuals of the first-level rank-1 GLM: the noise estimate of fMRI RSA (Walther et al. 2016).

Noise-normalised RSA distances need the spatial noise covariance of the patterns. With one trial
per condition per run (block designs such as Haxby et al. 2001) the trial patterns have no
within-cell residuals, so the covariance is estimated, as rsatoolbox and Walther et al. (2016,
NeuroImage 137:188) do, from the residual time series of the first-level GLM that gave the
betas: ``r = P (y - X_task c)`` per run, ``P`` the projection out of the run's drifts and
confounds, ``X_task c`` the fitted task signal (rank-1 HRF x condition betas).
"""

from __future__ import annotations

import numpy as np

from .design import check_events, condition_design, drift_basis, project_out


def r1glm_residuals(estimator, runs, events, confounds=None):
    """Residual time series of a fitted rank-1 GLM, runs stacked along scans.

    Parameters
    ----------
    estimator : R1GLM | R1GLMS
        Fitted on ``runs``, ``events`` and ``confounds`` (the condition-level fit is used: for
        :class:`~neuroopt.fmri.estimators.R1GLMS` its ``condition_betas_``).
    runs : list of ndarray, shape (n_scans, n_voxels)
        The data it was fitted on, one array per run.
    events : list of pandas.DataFrame
        One events table per run.
    confounds : list of (array-like | None) | None
        The confounds it was fitted with.

    Returns
    -------
    residuals : ndarray, shape (n_scans_total, n_voxels)
        Drift- and confound-free data minus the fitted task signal.
    dof : int
        Degrees of freedom: scans minus nuisance regressors minus the ``n_basis + n_conditions
        - 1`` parameters of the rank-1 model (per voxel).
    """
    from .estimators import R1GLMS

    if not hasattr(estimator, "hrf_coef_"):
        raise ValueError("estimator is not fitted: call fit(runs, events) before r1glm_residuals.")
    runs = [np.asarray(y, dtype=np.float64) for y in runs]
    if len(runs) != len(estimator.n_scans_) or any(y.shape[0] != n for y, n in zip(runs, estimator.n_scans_)):
        raise ValueError(
            f"runs have {[y.shape[0] for y in runs]} scans but the estimator was fitted on "
            f"{list(estimator.n_scans_)}: pass the runs it was fitted on."
        )
    if len(events) != len(runs):
        raise ValueError(f"Got {len(runs)} run(s) but {len(events)} events table(s); give one per run.")
    confounds = [None] * len(runs) if confounds is None else list(confounds)
    betas = estimator.condition_betas_ if isinstance(estimator, R1GLMS) else estimator.betas_
    n_basis = estimator.basis_.n_basis
    # (n_conditions * n_basis, n_voxels), condition-major like condition_design's columns
    coef = (betas.T[:, :, None] * estimator.hrf_coef_.T[:, None, :]).reshape(betas.shape[1], -1).T
    out, n_nuisance = [], 0
    for r, (y, ev, conf) in enumerate(zip(runs, events, confounds)):
        n = y.shape[0]
        ev = check_events(ev, n, estimator.t_r, name=f"events[{r}]")
        q = drift_basis(n, estimator.t_r, estimator.drift_model, estimator.high_pass, confounds=conf)
        n_nuisance += q.shape[1]
        task = condition_design(ev, estimator.basis_, n, estimator.t_r, estimator.conditions_) @ coef
        out.append(project_out(q, y - task))
    residuals = np.concatenate(out, axis=0)
    dof = residuals.shape[0] - n_nuisance - (n_basis + len(estimator.conditions_) - 1)
    if dof < 1:
        raise ValueError(f"The GLM leaves {dof} degrees of freedom: there are no residuals to estimate noise from.")
    return residuals, int(dof)


def save_residuals(residuals, dof, masker, path):
    """Write residuals as a 4D NIfTI (one volume per scan, zeros outside the mask) + sidecar.

    The file is kept small: values are stored as int16 with the NIfTI scale factor (nibabel picks
    it from the range: a quantisation step of about 1e-4 standard deviations, far below what a
    covariance estimate resolves), and gzip removes the zeros outside the mask. The JSON sidecar
    beside it (same name, ``.json``) holds ``DegreesOfFreedom``.

    Parameters
    ----------
    residuals : ndarray, shape (n_scans_total, n_voxels)
        From :func:`r1glm_residuals` (voxels in ``masker`` order).
    dof : int
        Their degrees of freedom (from :func:`r1glm_residuals`), written to the sidecar.
    masker : nilearn.maskers.NiftiMasker
        The fitted masker of the voxels.
    path : path-like
        ``.nii.gz`` output.

    Returns
    -------
    path, sidecar_path : Path
    """
    import json
    from pathlib import Path

    import nibabel as nib

    from ..utils import atomic_path, atomic_write_text

    img = masker.inverse_transform(np.asarray(residuals, dtype=np.float32))
    img = nib.Nifti1Image(np.asarray(img.dataobj, dtype=np.float32), img.affine)
    img.set_data_dtype(np.int16)  # scaled on save (scl_slope / scl_inter)
    path = Path(path)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    sidecar = path.with_name(path.name.replace(".nii.gz", ".json"))
    atomic_write_text(sidecar, json.dumps({
        "Description": "rank-1 GLM residual time series (drift- and confound-free data minus the "
                       "fitted task signal), runs concatenated; noise estimate of fMRI RSA",
        "DegreesOfFreedom": int(dof),
    }, indent=2) + "\n")
    return path, sidecar
