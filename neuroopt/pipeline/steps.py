"""One function per workflow rule: read the rule's input files, call the library, write outputs.

Every step has the signature ``step(input, output, params, threads)`` (Snakemake's named lists,
or any objects with the same attributes) and writes each output through
:func:`neuroopt.utils.atomic_path`, so an interrupted job leaves no complete-looking file.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..io.derivatives import write_dataset_description
from ..utils import atomic_path, atomic_write_text, log_result, logger


def read_derivative(reader, path, **kwargs):
    """``reader(path, **kwargs)``, with an error naming the file when it cannot be read.

    Readers of FIF and NIfTI files fail on a damaged file with messages such as "cannot reshape
    array" that do not say which file; the workflow's user needs the file (and the fix).
    """
    try:
        return reader(path, **kwargs)
    except Exception as err:
        raise ValueError(
            f"{path} could not be read ({type(err).__name__}: {err}). The file is damaged (a copy that "
            "was cut short, a full disk...): delete it and rerun the workflow to recompute it."
        ) from err


def _write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=str) + "\n")


# ---------------------------------------------------------------------------------------- demo
def demo_dataset(input, output, params, threads):
    """Generate the built-in demo dataset (all of it, atomically) at ``params.path``.

    Its outputs are raw BIDS data, not derivatives: no provenance file is written beside them.
    """
    import shutil

    from ..datasets import make_demo_dataset
    from ..datasets.demo import MARKER as DEMO_MARKER

    path = Path(params.path)
    # Snakemake runs this job only when outputs are missing or outdated, after deleting the
    # declared ones: a previous demo there (it has the marker file) is stale, so regenerate it
    # whole. A tree of empty folders is what Snakemake pre-creates for the outputs.
    if path.is_dir() and ((path / DEMO_MARKER).is_file() or not any(p.is_file() for p in path.rglob("*"))):
        shutil.rmtree(path)
    make_demo_dataset(path, **{k: v for k, v in params.cfg.items() if k != "path"})


demo_dataset.writes_provenance = False  # see run_rule


# ---------------------------------------------------------------------------------------- M/EEG
def meeg_preprocess(input, output, params, threads):
    """Raw BIDS recording -> cleaned raw FIF (+ ICA) and a JSON summary of what was done."""
    from ..meeg.preprocessing import bids_maxwell_files, preprocess_raw, read_raw

    cfg = params.cfg
    raw = read_raw(input.raw)
    maxwell = None
    if cfg.get("maxwell", {}).get("enabled"):
        calibration, cross_talk = bids_maxwell_files(input.raw)
        maxwell = dict(calibration=calibration, cross_talk=cross_talk, st_duration=cfg["maxwell"]["st_duration"],
                       origin=cfg["maxwell"]["origin"], source=str(input.raw))
    clean, details = preprocess_raw(
        raw,
        l_freq=cfg["l_freq"],
        h_freq=cfg["h_freq"],
        notch_freqs=cfg["notch_freqs"],
        resample_sfreq=cfg["resample_sfreq"],
        detect_bads=cfg["bad_channels"]["detect"],
        flat_ratio=cfg["bad_channels"]["flat_ratio"],
        zscore_threshold=cfg["bad_channels"]["zscore_threshold"],
        interpolate_bads=cfg["bad_channels"]["interpolate"],
        artifacts=cfg["artifacts"]["method"],
        ica_n_components=cfg["artifacts"]["ica_n_components"],
        eog_threshold=cfg["artifacts"]["eog_threshold"],
        maxwell=maxwell,
        random_state=params.seed,
    )
    with atomic_path(output.raw) as tmp:
        clean.save(tmp, overwrite=True, verbose="error")
    ica = details["artifacts"]["ica"]
    if "ica" in output.keys():
        with atomic_path(output.ica) as tmp:
            ica.save(tmp, overwrite=True, verbose="error")
    scores = details["artifacts"]["eog_scores"]
    summary = {
        "source": str(input.raw),
        "bids_bads": details["bids_bads"],
        "detected_bads": details["bads"],
        "interpolated": details["interpolated"],
        "artifact_method": details["artifacts"]["method"],
        "ica_n_components": int(ica.n_components_) if ica is not None else None,
        "ica_excluded": details["artifacts"]["excluded"],
        "artifact_note": details["artifacts"]["note"],
        "maxwell": details["maxwell"],
        "eog_scores": None if scores is None else np.atleast_2d(np.asarray(scores, dtype=float)).round(4).tolist(),
        "ssp_projs": [p["desc"] for p in details["artifacts"]["projs"]],
        "sfreq": clean.info["sfreq"],
        "n_times": int(clean.n_times),
    }
    _write_json(output.summary, summary)
    bads = [name for kind in ("flat", "noisy") for name in summary["detected_bads"].get(kind, [])]
    excluded = summary["ica_excluded"]
    log_result(f"{len(bads)} bad channel(s){' (' + ', '.join(bads) + ')' if bads else ''}"
               + (f", ICA excluded {', '.join(f'ICA{i:03d}' for i in excluded) or 'no component'}"
                  f" of {summary['ica_n_components']}" if ica is not None else ""))


def meeg_epochs(input, output, params, threads):
    """Cleaned runs -> epochs (run in metadata), evoked per condition, baseline noise covariance."""
    import mne

    from ..meeg.preprocessing import compute_evokeds, compute_noise_cov, make_epochs

    cfg = params.cfg
    raws = [read_derivative(mne.io.read_raw_fif, path, preload=True, verbose="error") for path in input.raws]
    epo_cfg = cfg["epochs"]
    reject = epo_cfg["reject"]
    epochs = make_epochs(
        raws,
        runs=params.runs,
        tmin=epo_cfg["tmin"],
        tmax=epo_cfg["tmax"],
        baseline=epo_cfg["baseline"],
        reject=None if reject == "none" else reject,
        reject_factor=epo_cfg["reject_factor"],
        conditions=None if epo_cfg["conditions"] == "all" else epo_cfg["conditions"],
    )
    evokeds = compute_evokeds(epochs)
    counts = epochs.metadata.groupby(["run", "trial_type"]).size()
    summary = {
        "n_epochs": len(epochs),
        "n_dropped": int(sum(1 for log in epochs.drop_log if log and "IGNORED" not in log)),
        "per_run_condition": {f"{run}/{cond}": int(n) for (run, cond), n in counts.items()},
        "conditions": sorted(epochs.event_id),
        "nave": {ev.comment: int(ev.nave) for ev in evokeds},
    }
    cov = compute_noise_cov(epochs, method=cfg["noise_cov"]["method"], tmax=cfg["noise_cov"]["tmax"])
    with atomic_path(output.epochs) as tmp:
        epochs.save(tmp, overwrite=True, verbose="error")
    with atomic_path(output.evoked) as tmp:
        mne.write_evokeds(tmp, evokeds, overwrite=True, verbose="error")
    with atomic_path(output.cov) as tmp:
        cov.save(tmp, overwrite=True, verbose="error")
    _write_json(output.summary, summary)
    log_result(f"{summary['n_epochs']} epochs ({summary['n_dropped']} rejected), {len(summary['conditions'])} conditions")


# ---------------------------------------------------------------------------------------- fMRI
def _fmriprep_mask_path(bold_path):
    name = Path(bold_path).name.replace("desc-preproc_bold", "desc-brain_mask")
    return Path(bold_path).with_name(name)


def fmri_mask(input, output, params, threads):
    """Brain mask of a subject's runs (fMRIPrep's masks intersected, else nilearn's EPI mask)."""
    from nilearn import masking

    from ..fmri.preprocessing import compute_mask, load_bold

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
    _write_json(output.summary, {"n_voxels": n_voxels, "runs": [str(p) for p in input.bolds]})
    log_result(f"{n_voxels} voxels in the brain mask")


def fmri_clean(input, output, params, threads):
    """One BOLD run -> cleaned BOLD inside the mask (+ sidecar with RepetitionTime)."""
    import nibabel as nib

    from ..fmri.preprocessing import clean_bold, fmriprep_confounds, load_bold
    from ..io.bids import read_repetition_time

    cfg = params.cfg
    t_r = read_repetition_time(input.bold, root=params.bids_root, check_header=cfg["check_tr_header"])
    confounds = None
    if cfg["input"] == "fmriprep":
        confounds, _ = fmriprep_confounds(input.bold, strategy=cfg["confounds"]["strategy"], motion=cfg["confounds"]["motion"])
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
    _write_json(output.json, sidecar)


RAW_BOLD_CONFOUNDS = (
    "with fmri.input: raw there are no confound time series (motion parameters, WM/CSF signals come "
    "from fMRIPrep), and raw BOLD is used as it is: it must already be motion-corrected and in one space "
    "across runs. Use fmri.input: fmriprep to apply confounds."
)


def raw_bold_ignored_confounds(cfg):
    """The configured confound strategies that raw BOLD input cannot apply (``cfg`` = config['fmri'])."""
    if cfg["input"] != "raw":
        return []
    return [s for s in cfg["confounds"]["strategy"] if s != "high_pass"]  # high_pass: the cosine drifts


# ---------------------------------------------------------------------------------------- reports
def subject_report(input, output, params, threads):
    """Per-subject HTML report: every stage's section for this subject (or subject/session)."""
    from ..report import save_report
    from ..report.subject import build_subject_report
    from .rule import collect_warnings

    logs = getattr(params, "logs", None)
    warnings = collect_warnings(logs, params.unit) if logs else None
    save_report(build_subject_report(params.unit, params.sections, warnings=warnings), output.html)


def group_report(input, output, params, threads):
    """Group page: subject report links, excluded inputs, group decoding and RSA."""
    from ..report import save_report
    from ..report.group import build_group_report

    write_dataset_description(Path(output.description).parent, source_name=params.dataset_name)
    report = build_group_report(
        params.units, list(input.summaries), params.excluded, params.title, decoding=params.decoding, rsa=params.rsa,
        glm=params.glm,
        planned_out=getattr(params, "planned_out", ()),
    )
    save_report(report, output.html)
