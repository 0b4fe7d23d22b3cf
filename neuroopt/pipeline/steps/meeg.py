"""Steps of ``workflows/meeg.smk``: M/EEG preprocessing per run, then epochs per subject/task."""

from __future__ import annotations

import numpy as np

from ...utils import atomic_path, log_result
from ._common import read_derivative, write_json


def meeg_preprocess(input, output, params, threads):
    """Raw BIDS recording -> cleaned raw FIF (+ ICA) and a JSON summary of what was done."""
    from ...meeg.preprocessing import bids_maxwell_files, preprocess_raw, read_raw

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
    write_json(output.summary, summary)
    bads = [name for kind in ("flat", "noisy") for name in summary["detected_bads"].get(kind, [])]
    excluded = summary["ica_excluded"]
    log_result(f"{len(bads)} bad channel(s){' (' + ', '.join(bads) + ')' if bads else ''}"
               + (f", ICA excluded {', '.join(f'ICA{i:03d}' for i in excluded) or 'no component'}"
                  f" of {summary['ica_n_components']}" if ica is not None else ""))


def meeg_epochs(input, output, params, threads):
    """Cleaned runs -> epochs (run in metadata), evoked per condition, baseline noise covariance."""
    import mne

    from ...meeg.preprocessing import compute_evokeds, compute_noise_cov, make_epochs

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
    write_json(output.summary, summary)
    log_result(f"{summary['n_epochs']} epochs ({summary['n_dropped']} rejected), {len(summary['conditions'])} conditions")

