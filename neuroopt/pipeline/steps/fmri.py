"""Steps of ``workflows/fmri.smk``: a brain mask per subject/task, then each BOLD run cleaned."""

from __future__ import annotations

from pathlib import Path

from ...utils import atomic_path, log_result, logger
from ._common import write_json


def _fmriprep_mask_path(bold_path):
    name = Path(bold_path).name.replace("desc-preproc_bold", "desc-brain_mask")
    return Path(bold_path).with_name(name)


def fmri_mask(input, output, params, threads):
    """Brain mask of a subject's runs (fMRIPrep's masks intersected, else nilearn's EPI mask)."""
    from nilearn import masking

    from ...fmri.preprocessing import compute_mask, load_bold

    if params.cfg["input"] == "fmriprep":
        masks = [str(_fmriprep_mask_path(p)) for p in input.bolds]
        missing = [m for m in masks if not Path(m).exists()]
        if missing:
            raise FileNotFoundError(f"fMRIPrep brain mask(s) {missing} not found beside the preproc BOLD images.")
        mask = masking.intersect_masks(masks, threshold=1.0) if len(masks) > 1 else compute_mask([], masks[0])
    else:
        mask = compute_mask([load_bold(p) for p in input.bolds])
    with atomic_path(output.mask) as tmp:
        mask.to_filename(tmp)
    n_voxels = int((mask.get_fdata() > 0).sum())
    if n_voxels == 0:
        raise ValueError(f"The brain mask of {list(input.bolds)} is empty: check the BOLD images' intensities.")
    write_json(output.summary, {"n_voxels": n_voxels, "runs": [str(p) for p in input.bolds]})
    log_result(f"{n_voxels} voxels in the brain mask")


def fmri_clean(input, output, params, threads):
    """One BOLD run -> cleaned BOLD inside the mask (+ sidecar with RepetitionTime)."""
    import nibabel as nib

    from ...fmri.preprocessing import clean_bold, fmriprep_confounds, load_bold
    from ...io.bids import read_repetition_time

    cfg = params.cfg
    t_r = read_repetition_time(input.bold, root=params.bids_root, check_header=cfg["check_tr_header"])
    confounds = None
    if cfg["input"] == "fmriprep":
        confounds, _ = fmriprep_confounds(input.bold, strategy=confound_strategy(cfg), motion=cfg["confounds"]["motion"])
    cleaned = clean_bold(
        load_bold(input.bold),
        t_r,
        nib.load(input.mask),
        high_pass=cfg["high_pass"],
        detrend=cfg["detrend"],
        standardize=cfg["standardize"],
        confounds=confounds,
        smoothing_fwhm=cfg["smoothing_fwhm"],
    )
    with atomic_path(output.bold) as tmp:
        cleaned.to_filename(tmp)
    sidecar = {
        "RepetitionTime": t_r,
        "Sources": [str(input.bold)],
        "SkullStripped": True,
        "neuroopt": {k: cfg[k] for k in ("high_pass", "detrend", "standardize", "smoothing_fwhm")},
        "Confounds": list(confounds.columns) if confounds is not None else [],
    }
    ignored = raw_bold_ignored_confounds(cfg)
    if ignored:
        sidecar["ConfoundsNotApplied"] = {"strategy": ignored, "reason": RAW_BOLD_CONFOUNDS}
        logger.warning(f"{input.bold}: fmri.confounds.strategy {ignored} not applied: {RAW_BOLD_CONFOUNDS}")
    write_json(output.json, sidecar)


RAW_BOLD_CONFOUNDS = (
    "with fmri.input: raw there are no confound time series (motion parameters, WM/CSF signals come "
    "from fMRIPrep), and raw BOLD is used as it is: it must already be motion-corrected and in one space "
    "across runs. Use fmri.input: fmriprep to apply confounds."
)


FMRIPREP_CONFOUNDS = ("motion", "high_pass", "wm_csf")


def confound_strategy(cfg):
    """The confound strategies to apply (``cfg`` = config['fmri']).

    ``fmri.confounds.strategy: auto`` (the default) is ``motion``, ``high_pass`` and ``wm_csf``
    with fMRIPrep input and none with raw BOLD, which has no confound time series (its drifts are
    removed by ``fmri.high_pass``); a list is used as given.
    """
    strategy = cfg["confounds"]["strategy"]
    if strategy == "auto":
        return list(FMRIPREP_CONFOUNDS) if cfg["input"] == "fmriprep" else []
    return list(strategy)


def raw_bold_ignored_confounds(cfg):
    """The configured confound strategies that raw BOLD input cannot apply (``cfg`` = config['fmri'])."""
    if cfg["input"] != "raw":
        return []
    return [s for s in confound_strategy(cfg) if s != "high_pass"]  # high_pass: the cosine drifts

