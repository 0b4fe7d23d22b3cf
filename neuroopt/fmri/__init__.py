"""fMRI: preprocessing (nilearn), HRF estimation (R1-GLM / R1-GLMS, Pedregosa et al. 2015) and contrast maps."""

from .contrast_maps import (
    ContrastMaps,
    canonical_contrast_images,
    r1glm_contrast_images,
    r1glm_contrasts,
    save_contrast_maps,
)
from .contrasts import resolve_glm_contrasts
from .estimators import R1GLM, R1GLMS
from .hrf_basis import HRFBasis
from .maps import R1GLMImages, fit_r1glm_images, r1glm_derivative_paths, save_r1glm_derivatives, score_against_truth
from .preprocessing import clean_bold, compute_mask, fmriprep_confounds, load_bold
from .residuals import r1glm_residuals, save_residuals

__all__ = [
    "ContrastMaps",
    "HRFBasis",
    "R1GLM",
    "R1GLMImages",
    "R1GLMS",
    "canonical_contrast_images",
    "clean_bold",
    "compute_mask",
    "fit_r1glm_images",
    "fmriprep_confounds",
    "load_bold",
    "r1glm_contrast_images",
    "r1glm_contrasts",
    "r1glm_derivative_paths",
    "r1glm_residuals",
    "resolve_glm_contrasts",
    "save_contrast_maps",
    "save_r1glm_derivatives",
    "save_residuals",
    "score_against_truth",
]
