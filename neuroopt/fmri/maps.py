"""NIfTI-level rank-1 GLM: 4D BOLD runs + events + mask -> HRF and activation maps, and files.

:func:`fit_r1glm_images` masks the runs with :class:`nilearn.maskers.NiftiMasker`, fits
:class:`~neuroopt.fmri.estimators.R1GLM` (or :class:`~neuroopt.fmri.estimators.R1GLMS` for trial
betas) and returns an :class:`R1GLMImages`; :func:`save_r1glm_derivatives` writes its maps
atomically; :func:`score_against_truth` compares them with the demo dataset's ground truth.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from ..utils import atomic_path, atomic_write_text, logger, verbose
from .estimators import R1GLM, R1GLMS

#: keys of :func:`r1glm_derivative_paths` / :func:`save_r1glm_derivatives`
DERIVATIVE_KINDS = ("hrf_peak", "hrf_fwhm", "hrf_coef", "betas", "r2_gain", "trial_betas",
                    "trials")


@dataclass
class R1GLMImages:
    """Maps of a rank-1 GLM fit (all 3D/4D images on the mask's grid).

    Attributes
    ----------
    estimator : R1GLM or R1GLMS
        The fitted array estimator (voxels in masker order).
    masker : nilearn.maskers.NiftiMasker
        Fitted masker mapping voxel columns to images.
    hrf_peak, hrf_fwhm : Nifti1Image
        HRF time to peak and full width at half maximum (s).
    hrf_coef : Nifti1Image
        4D, one volume per basis function (``estimator.basis_``).
    betas : Nifti1Image
        4D, one volume per condition, in the order of ``conditions``.
    r2, r2_canonical, r2_gain : Nifti1Image
        Explained drift-free variance of the rank-1 model, of the canonical-HRF GLM, and their
        difference.
    conditions : list of str
    trial_betas : Nifti1Image or None
        4D, one volume per trial (R1GLMS only), rows of ``trials``.
    trials : pandas.DataFrame or None
        run (1-based), onset, trial_type of each trial volume.
    """

    estimator: object
    masker: object
    hrf_peak: object
    hrf_fwhm: object
    hrf_coef: object
    betas: object
    r2: object
    r2_canonical: object
    r2_gain: object
    conditions: list
    trial_betas: object = None
    trials: pd.DataFrame = field(default=None)

    @classmethod
    def from_estimator(cls, estimator, masker):
        """The maps of a fitted :class:`R1GLM` / :class:`R1GLMS` and the masker of its voxels.

        Saving only these two (e.g. with joblib) and rebuilding the images here keeps a stored
        model small: the full-grid images are the bulk of the object.
        """
        trial_betas = isinstance(estimator, R1GLMS)
        condition_betas = estimator.condition_betas_ if trial_betas else estimator.betas_
        to_img = masker.inverse_transform
        result = cls(
            estimator=estimator,
            masker=masker,
            hrf_peak=to_img(np.nan_to_num(estimator.hrf_peak_time_)),
            hrf_fwhm=to_img(np.nan_to_num(estimator.hrf_fwhm_)),
            hrf_coef=to_img(estimator.hrf_coef_),
            betas=to_img(condition_betas),
            r2=to_img(estimator.r2_),
            r2_canonical=to_img(estimator.r2_canonical_),
            r2_gain=to_img(estimator.r2_ - estimator.r2_canonical_),
            conditions=[str(c) for c in estimator.conditions_],
        )
        if trial_betas:
            result.trial_betas = to_img(estimator.betas_)
            result.trials = pd.DataFrame({
                "run": estimator.trial_runs_ + 1,
                "onset": estimator.trial_onsets_,
                "trial_type": estimator.trial_conditions_,
            })
        return result

    def beta_img(self, condition):
        """3D beta map of one condition."""
        from nilearn.image import index_img

        if condition not in self.conditions:
            raise ValueError(f"Unknown condition {condition!r}; fitted conditions are "
                             f"{self.conditions}.")
        return index_img(self.betas, self.conditions.index(condition))


def _read_events(events, n_runs):
    if isinstance(events, (pd.DataFrame, str, Path)):
        events = [events]
    events = list(events)
    if len(events) != n_runs:
        raise ValueError(f"Got {n_runs} BOLD run(s) but {len(events)} events table(s); give one "
                         "per run, in the same order.")
    return [pd.read_csv(ev, sep="\t") if isinstance(ev, (str, Path)) else ev for ev in events]


def _bold_list(bold_imgs):
    """The BOLD runs as a list of images or paths; arrays are refused (rows are not runs)."""
    if isinstance(bold_imgs, (str, Path)) or hasattr(bold_imgs, "get_fdata"):
        return [bold_imgs]
    try:
        items = None if isinstance(bold_imgs, np.ndarray) else list(bold_imgs)
    except TypeError:
        items = None
    if items is None:
        shape = getattr(bold_imgs, "shape", None)
        raise TypeError(
            f"bold_imgs must be a 4D image or path, or a list of them (one per run); got "
            f"{type(bold_imgs).__name__}" + (f" of shape {shape}" if shape is not None else "")
            + ". For masked data (n_scans, n_voxels) use "
            "neuroopt.fmri.estimators.R1GLM(t_r).fit(Y, events).")
    for r, img in enumerate(items):
        if not (isinstance(img, (str, Path)) or hasattr(img, "get_fdata")):
            raise TypeError(
                f"bold_imgs[{r}] must be a 4D image or path, got {type(img).__name__}"
                + (f" of shape {img.shape}" if hasattr(img, "shape") else "")
                + ". For masked data (n_scans, n_voxels) use "
                "neuroopt.fmri.estimators.R1GLM(t_r).fit(Y, events).")
    return items


def _fitted_masker(mask_img):
    """A fitted NiftiMasker from a mask image, a path or a NiftiMasker (fitted if needed)."""
    from nilearn.maskers import NiftiMasker
    from sklearn.base import clone
    from sklearn.exceptions import NotFittedError
    from sklearn.utils.validation import check_is_fitted

    if mask_img is None:
        raise ValueError("mask_img is required: give the brain mask of the BOLD runs (e.g. the "
                         "preprocessing's _desc-brain_mask.nii.gz) or a NiftiMasker.")
    if isinstance(mask_img, NiftiMasker):
        try:
            check_is_fitted(mask_img)
        except NotFittedError:
            if mask_img.mask_img is None:
                raise ValueError("mask_img is a NiftiMasker without a mask: give it mask_img= "
                                 "(the brain mask) or fit it first.") from None
            # as nilearn's FirstLevelModel: a fitted copy, the caller's masker is not changed
            mask_img = clone(mask_img).fit()
        return mask_img
    try:
        return NiftiMasker(mask_img=mask_img, standardize=None, detrend=False).fit()
    except (TypeError, ValueError, FileNotFoundError) as err:
        shown = (repr(str(mask_img)) if isinstance(mask_img, (str, Path))
                 else type(mask_img).__name__)
        raise ValueError(f"mask_img ({shown}) is not a usable mask: {err} Give a 3D mask "
                         "image or its path, or a NiftiMasker.") from err


@verbose
def fit_r1glm_images(bold_imgs, events, mask_img, t_r, confounds=None, trial_betas=False,
                     verbose=None, **params):
    """Fit the rank-1 GLM on 4D BOLD runs and return HRF and activation maps.

    Parameters
    ----------
    bold_imgs : 4D image or path, or list of them (one per run)
        Preprocessed BOLD runs on the same grid. Runs are fitted jointly (shared HRF and betas
        per voxel, drifts per run).
    events : DataFrame or path to events.tsv, or list of them (one per run)
        BIDS events: onset, duration, trial_type.
    mask_img : 3D image or path, or nilearn.maskers.NiftiMasker
        Voxels to fit (nonzero). Required: HRF fits on out-of-brain voxels are meaningless. A
        NiftiMasker is used with its own options (e.g. smoothing; a fitted copy if it is not
        fitted); a mask image gets a masker without standardisation or detrending.
    t_r : float
        Repetition time in s (passed explicitly: NIfTI headers are sometimes wrong).
    confounds : array-like or list of them (one per run) or None
        Nuisance regressors, one row per scan.
    trial_betas : bool
        Also estimate one beta per trial with :class:`~neuroopt.fmri.estimators.R1GLMS`.
    verbose : bool | str | None
        Log level for this call.
    **params
        Other parameters of :class:`~neuroopt.fmri.estimators.R1GLM` (basis, hrf_length,
        drift_model, high_pass, noise_model, n_jobs, tol, max_iter).

    Returns
    -------
    result : R1GLMImages
    """
    bold_imgs = _bold_list(bold_imgs)
    events = _read_events(events, len(bold_imgs))
    masker = _fitted_masker(mask_img)
    runs = []
    for r, img in enumerate(bold_imgs):
        name = f"bold_imgs[{r}]" if len(bold_imgs) > 1 else "bold_imgs"
        try:
            runs.append(masker.transform(img))
        except (TypeError, ValueError) as err:
            raise ValueError(f"{name} could not be masked with mask_img: {err} It must be a 4D "
                             "image (or path) on the mask's grid.") from err
    cls = R1GLMS if trial_betas else R1GLM
    estimator = cls(t_r=t_r, **params).fit(runs, events, confounds)
    logger.info("rank-1 GLM: %d voxels, %d run(s), %d conditions", runs[0].shape[1],  # fit time: R1GLM.fit's line
                len(runs), len(estimator.conditions_))
    return R1GLMImages.from_estimator(estimator, masker)


def r1glm_derivative_paths(out_dir, prefix):
    """BIDS-derivative file names of the rank-1 GLM outputs.

    Parameters
    ----------
    out_dir : path-like
        Folder, e.g. ``derivatives/neuroopt/sub-01/func``.
    prefix : str
        Entities shared by all outputs, e.g. ``"sub-01_task-demo"``.

    Returns
    -------
    paths : dict
        Kind (see :data:`DERIVATIVE_KINDS`) -> Path.
    """
    out_dir = Path(out_dir)
    names = {
        "hrf_peak": f"{prefix}_desc-hrf_peak.nii.gz",
        "hrf_fwhm": f"{prefix}_desc-hrf_fwhm.nii.gz",
        "hrf_coef": f"{prefix}_desc-hrf_coef.nii.gz",
        "betas": f"{prefix}_desc-conditions_stat-beta_statmap.nii.gz",
        "r2_gain": f"{prefix}_desc-r2gain_statmap.nii.gz",
        "trial_betas": f"{prefix}_desc-trials_stat-beta_statmap.nii.gz",
        "trials": f"{prefix}_desc-trials_events.tsv",
    }
    return {kind: out_dir / name for kind, name in names.items()}


def _save_img(img, path, sidecar=None):
    import nibabel as nib

    img = nib.Nifti1Image(np.asarray(img.get_fdata(), dtype=np.float32), img.affine)
    with atomic_path(path) as tmp:
        nib.save(img, tmp)
    if sidecar is not None:
        json_path = Path(str(path).replace(".nii.gz", ".json"))
        atomic_write_text(json_path, json.dumps(sidecar, indent=2))


def save_r1glm_derivatives(result, paths):
    """Write the maps of :func:`fit_r1glm_images` atomically (temporary file, then rename).

    Parameters
    ----------
    result : R1GLMImages
        A fit of :func:`fit_r1glm_images`.
    paths : dict
        Kind -> output path, e.g. from :func:`r1glm_derivative_paths`. Kinds may be omitted;
        ``"trial_betas"`` and ``"trials"`` need a fit with ``trial_betas=True``. 4D maps get a
        JSON sidecar listing their volumes.

    Returns
    -------
    written : dict
        Kind -> Path of the files written (including sidecars under ``kind + "_json"``).
    """
    unknown = sorted(set(paths) - set(DERIVATIVE_KINDS))
    if unknown:
        raise ValueError(f"Unknown derivative kind(s) {unknown}; allowed: "
                         f"{list(DERIVATIVE_KINDS)}.")
    if ("trial_betas" in paths or "trials" in paths) and result.trial_betas is None:
        raise ValueError("paths asks for trial betas but the fit has none; call "
                         "fit_r1glm_images(..., trial_betas=True).")
    est = result.estimator
    sidecars = {
        "hrf_peak": {"Description": "HRF time to peak (s), rank-1 GLM", "Units": "s"},
        "hrf_fwhm": {"Description": "HRF full width at half maximum (s)", "Units": "s"},
        "hrf_coef": {"Description": "HRF coefficients, orthonormal basis",
                     "Basis": est.basis_.kind, "HRFLength": est.basis_.hrf_length,
                     "RepetitionTime": float(est.t_r)},
        "betas": {"Description": "rank-1 GLM condition betas (unit-norm HRF)",
                  "VolumeLabels": result.conditions},
        "r2_gain": {"Description": "explained variance, rank-1 GLM minus canonical-HRF GLM"},
        "trial_betas": {"Description": "R1-GLMS trial betas", "VolumeLabels": (
            [f"run-{r}_onset-{o:g}_{t}" for r, o, t in result.trials.itertuples(index=False)]
            if result.trials is not None else [])},
    }
    images = {"hrf_peak": result.hrf_peak, "hrf_fwhm": result.hrf_fwhm,
              "hrf_coef": result.hrf_coef, "betas": result.betas, "r2_gain": result.r2_gain,
              "trial_betas": result.trial_betas}
    written = {}
    for kind, path in paths.items():
        path = Path(path)
        if kind == "trials":
            with atomic_path(path) as tmp:
                result.trials.to_csv(tmp, sep="\t", index=False)
        else:
            _save_img(images[kind], path, sidecars[kind])
            written[kind + "_json"] = Path(str(path).replace(".nii.gz", ".json"))
        written[kind] = path
    return written


def score_against_truth(result, truth):
    """Compare a fit with the demo dataset's ground truth.

    Parameters
    ----------
    result : R1GLMImages
        A fit of :func:`fit_r1glm_images` on the demo dataset.
    truth : dict
        ``load_demo_truth(root, subject)`` (uses its ``"fmri"`` entry: conditions, mask_img,
        betas_img, hrf_times, hrfs, and trials for trial betas).

    Returns
    -------
    scores : dict
        ``n_voxels`` (common to fit and truth masks), ``n_active`` (true beta != 0),
        ``hrf_r`` (mean HRF correlation over active voxels), ``ttp_error`` (median absolute
        time-to-peak error, s, active voxels), ``beta_r`` (pooled correlation of condition betas,
        all common voxels), ``beta_r_active``; ``trial_beta_r`` when trial betas were fitted.
    """
    from nilearn.image import resample_to_img
    from nilearn.masking import apply_mask

    fmri = truth["fmri"] if "fmri" in truth else truth
    truth_mask = np.asarray(fmri["mask_img"].get_fdata()) != 0
    fit_mask = np.asarray(result.masker.mask_img_.get_fdata()) != 0
    if truth_mask.shape != fit_mask.shape or not np.allclose(
            fmri["mask_img"].affine, result.masker.mask_img_.affine):
        fit_mask_img = resample_to_img(result.masker.mask_img_, fmri["mask_img"],
                                       interpolation="nearest")
        fit_mask = np.asarray(fit_mask_img.get_fdata()) != 0
        if fit_mask.shape != truth_mask.shape:
            raise ValueError("The fit and the truth are on different grids.")
    common = truth_mask & fit_mask
    if not common.any():
        raise ValueError("The fit mask and the truth mask share no voxel.")
    # positions of the common voxels in each masked vector (C order, as nilearn's apply_mask)
    truth_pos = np.flatnonzero(common[truth_mask])
    fit_pos = np.flatnonzero(common[fit_mask])
    est = result.estimator
    true_betas = apply_mask(fmri["betas_img"], fmri["mask_img"])[:, truth_pos]
    cond_index = [list(result.conditions).index(c) for c in fmri["conditions"]
                  if c in result.conditions]
    missing = [c for c in fmri["conditions"] if c not in result.conditions]
    if missing:
        raise ValueError(f"Conditions {missing} of the truth were not fitted "
                         f"({result.conditions}).")
    betas = est.condition_betas_ if isinstance(est, R1GLMS) else est.betas_
    betas = betas[cond_index][:, fit_pos]
    active = np.any(true_betas != 0, axis=0)
    scores = {"n_voxels": int(common.sum()), "n_active": int(active.sum())}
    scores["beta_r"] = float(np.corrcoef(betas.ravel(), true_betas.ravel())[0, 1])
    if active.sum() > 1:
        scores["beta_r_active"] = float(np.corrcoef(betas[:, active].ravel(),
                                                    true_betas[:, active].ravel())[0, 1])
        times = np.asarray(fmri["hrf_times"], dtype=float)
        true_hrfs = np.asarray(fmri["hrfs"])[:, truth_pos][:, active]
        hrf = est.hrf_[:, fit_pos][:, active]
        hrf = np.stack([np.interp(times, est.hrf_times_, h, right=0.0) for h in hrf.T], axis=1)
        hc, tc = hrf - hrf.mean(0), true_hrfs - true_hrfs.mean(0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r = (hc * tc).sum(0) / np.sqrt((hc ** 2).sum(0) * (tc ** 2).sum(0))
        scores["hrf_r"] = float(np.nanmean(r))
        true_peak = times[true_hrfs.argmax(0)]
        scores["ttp_error"] = float(np.nanmedian(np.abs(
            est.hrf_peak_time_[fit_pos][active] - true_peak)))
    if isinstance(est, R1GLMS) and "trials" in fmri:
        true_trials = []
        for run_index, run_trials in enumerate(
                [fmri["trials"][k] for k in sorted(fmri["trials"])]):
            run_trials = run_trials.sort_values("onset", kind="stable")
            amp = run_trials["amplitude"].to_numpy() if "amplitude" in run_trials else 1.0
            codes = [list(fmri["conditions"]).index(t) for t in run_trials["trial_type"]]
            true_trials.append(true_betas[codes] * np.asarray(amp)[:, None] if np.ndim(amp)
                               else true_betas[codes])
        true_trials = np.concatenate(true_trials, axis=0)
        if true_trials.shape[0] == est.betas_.shape[0]:
            scores["trial_beta_r"] = float(np.corrcoef(
                est.betas_[:, fit_pos][:, active].ravel(), true_trials[:, active].ravel())[0, 1])
        else:
            logger.warning("truth has %d trials but the fit %d; trial betas not scored",
                           true_trials.shape[0], est.betas_.shape[0])
    return scores
