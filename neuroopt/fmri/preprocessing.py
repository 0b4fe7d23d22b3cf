"""fMRI preprocessing with nilearn: brain mask, confounds (fMRIPrep), detrending / cosine high-pass,
optional smoothing. Raw BIDS BOLD (already in a common space) and fMRIPrep derivatives are accepted.
"""

from __future__ import annotations

from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
from nilearn import image, masking

from ..io.bids import BIDSError
from ..utils import check_positive, logger, verbose


def load_bold(path):
    """Load a 4D BOLD image, with errors naming the file for corrupt, non-4D or non-finite data.

    Parameters
    ----------
    path : path-like
        A 4D NIfTI file (``*_bold.nii.gz``).

    Returns
    -------
    img : Nifti1Image
        The image with float32 data.
    """
    path = Path(path)
    try:
        img = nib.load(path)
        data = img.get_fdata(dtype=np.float32)
    except Exception as err:  # nibabel raises several exception types on corrupt files
        raise BIDSError(f"{path} cannot be read as NIfTI ({type(err).__name__}: {err}); is it truncated?") from err
    if data.ndim != 4:
        raise BIDSError(f"{path} has shape {data.shape}: a BOLD run must be a 4D image.")
    if data.shape[3] < 10:
        raise BIDSError(f"{path} has only {data.shape[3]} volumes: too short for a task analysis.")
    if not np.all(np.isfinite(data)):
        raise BIDSError(f"{path} contains NaN or infinite values; repair the image (or mask them) first.")
    return nib.Nifti1Image(data, img.affine, img.header)


def compute_mask(bold_imgs, mask_img=None, min_voxels=10):
    """Brain mask of one subject's runs.

    - ``mask_img`` given (e.g. fMRIPrep's): binarised and used as is.
    - Images already masked (exactly zero outside the brain, as fMRIPrep outputs, the demo and
      many shared datasets are): the voxels that vary over time in every run.
    - Otherwise nilearn's (multi-run) EPI mask; where that finds nothing (a single slice has no
      background to learn from), voxels whose mean is above 20 % of the 98th percentile.

    Parameters
    ----------
    bold_imgs : list of Nifti1Image
        The subject's 4D runs (may be empty when ``mask_img`` is given).
    mask_img : Nifti1Image | path-like | None
        A mask to use instead (e.g. fMRIPrep's ``desc-brain_mask``); binarised.
    min_voxels : int
        Fewer voxels than this in nilearn's EPI mask switch to the intensity threshold.

    Returns
    -------
    mask : Nifti1Image
        Binary brain mask on the runs' grid.
    """
    if mask_img is not None:
        return image.math_img("img > 0", img=mask_img)
    if not bold_imgs:
        raise ValueError("compute_mask needs at least one BOLD image or a mask_img.")
    datas = [np.asarray(img.dataobj, dtype=np.float32) for img in bold_imgs]
    affine = bold_imgs[0].affine
    zero_fraction = np.mean([np.all(d == 0, axis=3).mean() for d in datas])
    if zero_fraction > 0.1:
        inside = np.logical_and.reduce([d.std(axis=3) > 0 for d in datas])
        mask = nib.Nifti1Image(inside.astype(np.uint8), affine)
    elif len(bold_imgs) == 1:
        mask = masking.compute_epi_mask(bold_imgs[0])
    else:
        mask = masking.compute_multi_epi_mask(bold_imgs, threshold=0.5)
    if np.asarray(mask.dataobj).sum() < min_voxels:
        mean = np.mean([d.mean(axis=3) for d in datas], axis=0)
        threshold = 0.2 * np.percentile(mean[mean > 0], 98) if np.any(mean > 0) else np.inf
        logger.info("The EPI mask is (nearly) empty; using an intensity threshold on the mean image instead.")
        mask = nib.Nifti1Image((mean > threshold).astype(np.uint8), affine)
    if np.asarray(mask.dataobj).sum() < min_voxels:
        raise ValueError(
            f"The brain mask has fewer than {min_voxels} voxels: the BOLD images look empty. Check them, "
            "or give a mask (fMRIPrep's desc-brain_mask)."
        )
    return mask


def fmriprep_confounds(bold_path, strategy=("motion", "high_pass", "wm_csf"), motion="basic"):
    """Confounds of an fMRIPrep ``desc-preproc_bold`` image via :func:`nilearn.interfaces.fmriprep.load_confounds`.

    NaNs that fMRIPrep leaves in the first rows of derivative columns are filled by nilearn
    (``demean=True``); any NaN left is replaced by the column mean, and logged.

    Parameters
    ----------
    bold_path : path-like
        An fMRIPrep ``*_desc-preproc_bold.nii.gz`` (its ``*_desc-confounds_timeseries.tsv`` beside it).
    strategy : tuple of str
        nilearn's ``load_confounds`` strategy (``"motion"``, ``"high_pass"``, ``"wm_csf"``, ...).
    motion : str
        nilearn's motion model (``"basic"``, ``"power2"``, ``"derivatives"``, ``"full"``).

    Returns
    -------
    confounds : pandas.DataFrame | None
        One column per confound, one row per volume.
    sample_mask : ndarray | None
        Volumes to keep (scrubbing / non-steady-state), as nilearn returns it.
    """
    from nilearn.interfaces.fmriprep import load_confounds

    try:
        confounds, sample_mask = load_confounds(str(bold_path), strategy=tuple(strategy), motion=motion)
    except (ValueError, FileNotFoundError) as err:
        raise BIDSError(f"{bold_path}: cannot load its fMRIPrep confounds ({err}).") from err
    if confounds is not None and confounds.isna().to_numpy().any():
        n_nan = int(confounds.isna().to_numpy().sum())
        logger.info(f"{bold_path}: {n_nan} NaN confound values replaced by column means.")
        confounds = confounds.fillna(confounds.mean())
    return confounds, sample_mask


@verbose
def clean_bold(
    bold_img,
    t_r,
    mask_img,
    *,
    high_pass=0.01,
    detrend=True,
    standardize=False,
    confounds=None,
    smoothing_fwhm=None,
    verbose=None,
):
    """Detrend, cosine high-pass and regress confounds out of one run, inside the mask.

    The cosine high-pass (``filter="cosine"``) is the drift model nilearn's GLM uses, so the GLM
    stages can re-include it without conflict. Smoothing, when asked, comes first.

    Parameters
    ----------
    bold_img : Nifti1Image
        One 4D run.
    t_r : float
        Repetition time in seconds.
    mask_img : Nifti1Image
        Brain mask (:func:`compute_mask`).
    high_pass : float | None
        Cut-off of the cosine high-pass in Hz; None: no high-pass.
    detrend : bool
        Remove a linear trend.
    standardize : bool
        Scale each voxel's time course to unit variance (the mean is then removed too).
    confounds : pandas.DataFrame | ndarray | None
        Regressors to remove (e.g. :func:`fmriprep_confounds`), one row per volume.
    smoothing_fwhm : float | None
        Gaussian smoothing FWHM in mm, applied first; None: none.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    cleaned : Nifti1Image
        Same shape as the input, zero outside the mask, mean kept (``standardize=False``) so that
        betas stay in the data's units.
    """
    t_r = check_positive(t_r, "t_r")
    if high_pass is not None:
        check_positive(high_pass, "fmri.high_pass")
    if smoothing_fwhm:
        bold_img = image.smooth_img(bold_img, smoothing_fwhm)
    if isinstance(confounds, pd.DataFrame):
        confounds = confounds.to_numpy(dtype=float)
    data = masking.apply_mask(bold_img, mask_img)
    mean = data.mean(axis=0, keepdims=True)
    from nilearn.signal import clean

    cleaned = clean(
        data,
        detrend=detrend,
        standardize="zscore_sample" if standardize else None,
        confounds=confounds,
        high_pass=high_pass,
        t_r=t_r,
        filter="cosine" if high_pass else False,
    )
    if not standardize:
        cleaned = cleaned + mean  # keep the baseline: percent-signal-change maps need it
    return masking.unmask(cleaned.astype(np.float32), mask_img)
