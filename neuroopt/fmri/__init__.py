"""fMRI: preprocessing (nilearn), HRF estimation (R1-GLM / R1-GLMS, Pedregosa et al. 2015) and contrast maps.

The names below are imported from their module on first use (as :mod:`neuroopt` does for its
sub-packages), so that ``neuroopt.fmri.contrasts``, which the workflow's planning reads, does not
import nilearn, scikit-learn and numba (2.4 s of CPU at every ``snakemake`` start).
"""

import importlib

_MODULE_OF = {
    "ContrastMaps": "contrast_maps",
    "canonical_contrast_images": "contrast_maps",
    "r1glm_contrast_images": "contrast_maps",
    "r1glm_contrasts": "contrast_maps",
    "save_contrast_maps": "contrast_maps",
    "resolve_glm_contrasts": "contrasts",
    "R1GLM": "estimators",
    "R1GLMS": "estimators",
    "HRFBasis": "hrf_basis",
    "R1GLMImages": "maps",
    "fit_r1glm_images": "maps",
    "r1glm_derivative_paths": "maps",
    "save_r1glm_derivatives": "maps",
    "score_against_truth": "maps",
    "clean_bold": "preprocessing",
    "compute_mask": "preprocessing",
    "fmriprep_confounds": "preprocessing",
    "load_bold": "preprocessing",
    "r1glm_residuals": "residuals",
    "save_residuals": "residuals",
}


def __getattr__(name):
    if name in _MODULE_OF:
        return getattr(importlib.import_module(f"{__name__}.{_MODULE_OF[name]}"), name)
    if name in set(_MODULE_OF.values()):  # a module not imported yet: neuroopt.fmri.maps
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}; its public names are in __all__.")


def __dir__():
    return sorted([*globals(), *_MODULE_OF])


__all__ = sorted(_MODULE_OF)
