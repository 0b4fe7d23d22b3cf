"""fMRI: preprocessing (nilearn) and HRF estimation (R1-GLM / R1-GLMS)."""

from .preprocessing import clean_bold, compute_mask, fmriprep_confounds, load_bold

__all__ = ["clean_bold", "compute_mask", "fmriprep_confounds", "load_bold"]
