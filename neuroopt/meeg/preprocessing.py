"""M/EEG preprocessing with MNE and MNE-BIDS: read, mark bad channels, filter, resample, remove
ocular/cardiac artifacts (ICA or SSP), epoch, average, and estimate the noise covariance.

Each function takes and returns MNE objects, so a notebook and a workflow rule call the same code.
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np
import pandas as pd

from ..io.bids import BIDSError, check_events_file
from ..utils import check_option, logger, verbose

ARTIFACT_METHODS = ("ica", "ssp", "none")


@verbose
def read_raw(path, *, verbose=None):
    """Read one raw M/EEG recording of a BIDS dataset with :func:`mne_bids.read_raw_bids`.

    Channel types and bad channels come from ``channels.tsv``, events from ``events.tsv`` (as
    annotations whose description is ``trial_type``), the line frequency from the sidecar.
    """
    import mne_bids

    path = Path(path)
    if not path.exists():
        raise BIDSError(f"{path} does not exist.")
    events = path.with_name(path.name.split(".")[0].rsplit("_", 1)[0] + "_events.tsv")
    if events.exists():
        check_events_file(events)  # clear errors for missing columns / bad values before MNE-BIDS reads it
    bids_path = mne_bids.get_bids_path_from_fname(path)
    try:
        raw = mne_bids.read_raw_bids(bids_path, verbose="error")
    except RuntimeError as err:
        if "channels.tsv" in str(err) or "channel" in str(err).lower():
            raise BIDSError(
                f"{path}: its channels.tsv does not match the channels in the data file ({err}). "
                "Regenerate channels.tsv (e.g. with mne_bids.write_raw_bids) or fix the channel names."
            ) from err
        raise BIDSError(f"{path} could not be read by MNE-BIDS: {err}") from err
    except (ValueError, OSError) as err:
        raise BIDSError(f"{path} could not be read (corrupt or unsupported file?): {err}") from err
    raw.load_data()
    data_picks = mne.pick_types(raw.info, meg=True, eeg=True, exclude=[])
    if not np.all(np.isfinite(raw.get_data(picks=data_picks))):
        raise BIDSError(f"{path} contains NaN or infinite samples; repair the recording before preprocessing.")
    return raw


def detect_bad_channels(raw, *, flat_ratio=0.01, zscore_threshold=5.0, l_freq=1.0):
    """Find flat and noisy channels, per channel type, from robust statistics of their spread.

    A channel is flat when its standard deviation (after a ``l_freq`` high-pass) is below
    ``flat_ratio`` times the median of its type, and noisy when the robust z-score (median / MAD) of
    its log standard deviation exceeds ``zscore_threshold``. Channels already marked bad are kept.

    Returns
    -------
    bads : dict
        ``{"flat": [...], "noisy": [...]}``, channel names.
    """
    filtered = raw.copy().pick(["eeg", "meg"], exclude=[]).filter(l_freq, None, verbose="error")
    data = filtered.get_data()
    std = data.std(axis=1)
    types = np.array(filtered.get_channel_types())
    flat, noisy = [], []
    for ch_type in np.unique(types):
        idx = np.flatnonzero(types == ch_type)
        if len(idx) < 4:
            continue
        median = np.median(std[idx])
        is_flat = std[idx] < flat_ratio * median
        log_std = np.log(np.maximum(std[idx], np.finfo(float).tiny))
        good = ~is_flat
        center = np.median(log_std[good])
        mad = 1.4826 * np.median(np.abs(log_std[good] - center)) or np.finfo(float).eps
        is_noisy = good & (np.abs(log_std - center) / mad > zscore_threshold)
        flat += [filtered.ch_names[i] for i in idx[is_flat]]
        noisy += [filtered.ch_names[i] for i in idx[is_noisy]]
    return {"flat": flat, "noisy": noisy}


# MEGIN / Elekta / Neuromag sensors (VectorView and TRIUX planar gradiometers and magnetometers)
_MEGIN_COILS = {3012, 3013, 3014, 3022, 3023, 3024}


def bids_maxwell_files(path):
    """The fine-calibration and cross-talk files of a BIDS MEG recording (or None each)."""
    import mne_bids

    bids_path = mne_bids.get_bids_path_from_fname(path)
    return bids_path.meg_calibration_fpath, bids_path.meg_crosstalk_fpath


@verbose
def maxwell_filter_raw(raw, *, calibration=None, cross_talk=None, st_duration=None, origin="auto",
                       source="raw", verbose=None):
    """Maxwell-filter (SSS, or tSSS with ``st_duration``) a MEGIN/Elekta recording, in a copy.

    Bad MEG channels must be marked first (SSS reconstructs them). Raises a ``ValueError``
    naming ``source`` and the config key ``meeg.maxwell`` when the recording has no
    MEGIN/Elekta MEG sensors (CTF, KIT, BTi, EEG only): Maxwell filtering needs their geometry.

    Returns
    -------
    raw_sss : mne.io.Raw
    details : dict
        ``calibration``, ``cross_talk`` (files used, or None), ``st_duration``.
    """
    meg = mne.pick_types(raw.info, meg=True, ref_meg=False, exclude=[])
    coils = {int(raw.info["chs"][i]["coil_type"]) for i in meg}
    if len(meg) == 0 or not coils <= _MEGIN_COILS:
        kind = "no MEG channel" if len(meg) == 0 else f"MEG sensors of another system (coil types {sorted(coils - _MEGIN_COILS)})"
        raise ValueError(
            f"{source}: meeg.maxwell is enabled but this recording has {kind}; Maxwell filtering "
            "(SSS) applies to MEGIN/Elekta/Neuromag MEG only. Set meeg.maxwell.enabled: false for it."
        )
    raw_sss = mne.preprocessing.maxwell_filter(
        raw, calibration=calibration, cross_talk=cross_talk, st_duration=st_duration, origin=origin,
        coord_frame="head", verbose="error",
    )
    details = {"calibration": None if calibration is None else str(calibration),
               "cross_talk": None if cross_talk is None else str(cross_talk), "st_duration": st_duration}
    logger.info(f"Maxwell filter: {details}")
    return raw_sss, details


def _notch_freqs(raw, notch_freqs):
    if notch_freqs is None or notch_freqs == "none":
        return None
    if notch_freqs == "auto":
        line = raw.info.get("line_freq")
        if not line:
            logger.info("No PowerLineFrequency in the sidecar: no notch filter.")
            return None
        nyquist = raw.info["sfreq"] / 2.0
        return np.arange(line, nyquist - 1, line)
    return np.asarray(notch_freqs, dtype=float)


@verbose
def filter_raw(raw, *, l_freq=0.5, h_freq=40.0, notch_freqs="auto", resample_sfreq=None, n_jobs=1, verbose=None):
    """Notch (line noise), band-pass, then resample, in place. Returns ``raw``.

    ``notch_freqs="auto"`` removes the line frequency of the recording and its harmonics below
    Nyquist. Resampling comes after the low-pass, so it cannot alias.
    """
    freqs = _notch_freqs(raw, notch_freqs)
    picks = mne.pick_types(raw.info, meg=True, eeg=True, eog=True, ecg=True, exclude=[])
    if freqs is not None and len(freqs):
        raw.notch_filter(freqs, picks=picks, n_jobs=n_jobs, verbose="error")
    raw.filter(l_freq, h_freq, picks=picks, n_jobs=n_jobs, verbose="error")
    if resample_sfreq and resample_sfreq < raw.info["sfreq"]:
        raw.resample(resample_sfreq, n_jobs=n_jobs, verbose="error")
    return raw


@verbose
def remove_artifacts(raw, *, method="ica", n_components=0.99, eog_threshold=3.0, random_state=0, verbose=None):
    """Remove ocular (and cardiac, where ECG exists) artifacts in place with ICA or SSP.

    ICA is fitted on a 1 Hz high-passed copy (slow drifts hurt the unmixing) and components are
    picked by their correlation with the EOG/ECG channels (:meth:`mne.preprocessing.ICA.find_bads_eog`).

    Without EOG and ECG channels there is no reference signal to pick components by, and
    guessing them (e.g. from frontal EEG channels) risks removing brain activity. So ICA is
    still fitted and returned (its components are shown in the report for the user to inspect;
    exclude some with ``ica.exclude`` and ``ica.apply``), but no component is removed, and
    ``details["note"]`` says so. SSP needs those channels and is skipped, with the same note.

    Returns
    -------
    raw : mne.io.Raw
    details : dict
        ``{"method", "ica" (None unless ``method="ica"``), "excluded" (component indices),
        "eog_scores", "projs", "note"}`` (``note``: why nothing was removed, or None).
    """
    check_option("artifacts.method", method, ARTIFACT_METHODS)
    details = {"method": method, "ica": None, "excluded": [], "eog_scores": None, "projs": [], "note": None}
    has_eog = len(mne.pick_types(raw.info, eog=True)) > 0
    has_ecg = len(mne.pick_types(raw.info, ecg=True)) > 0
    if method == "none":
        return raw, details
    if not (has_eog or has_ecg):
        if method == "ica":
            details["note"] = (
                "no EOG/ECG channel: ICA fitted, no component removed (inspect the components in the "
                "report; to remove some, apply the saved ICA with ica.exclude set)"
            )
        else:
            details["note"] = "no EOG/ECG channel: no SSP projector computed (SSP needs them)"
        logger.info(f"Artifacts: {details['note']}.")
        if method == "ssp":
            return raw, details
    if method == "ssp":
        projs = []
        if has_eog:
            eog_projs, _ = mne.preprocessing.compute_proj_eog(raw, n_grad=1, n_mag=1, n_eeg=1, verbose="error")
            projs += list(eog_projs or [])
        if has_ecg:
            ecg_projs, _ = mne.preprocessing.compute_proj_ecg(raw, n_grad=1, n_mag=1, n_eeg=1, verbose="error")
            projs += list(ecg_projs or [])
        raw.add_proj(projs)
        details["projs"] = projs
        return raw, details
    picks = mne.pick_types(raw.info, meg=True, eeg=True, exclude="bads")
    ica = mne.preprocessing.ICA(n_components=n_components, random_state=random_state, max_iter="auto")
    fit_raw = raw.copy().filter(1.0, None, picks=picks, verbose="error")
    ica.fit(fit_raw, picks=picks, verbose="error")
    excluded = []
    if has_eog:
        eog_idx, scores = ica.find_bads_eog(raw, threshold=eog_threshold, verbose="error")
        excluded += list(eog_idx)
        details["eog_scores"] = scores
    if has_ecg:
        ecg_idx, _ = ica.find_bads_ecg(raw, verbose="error")
        excluded += list(ecg_idx)
    ica.exclude = sorted(set(int(i) for i in excluded))
    if ica.exclude:
        ica.apply(raw, verbose="error")
    details.update(ica=ica, excluded=ica.exclude)
    logger.info(f"ICA: {ica.n_components_} components, excluded {ica.exclude}.")
    return raw, details


@verbose
def preprocess_raw(
    raw,
    *,
    l_freq=0.5,
    h_freq=40.0,
    notch_freqs="auto",
    resample_sfreq=None,
    detect_bads=True,
    flat_ratio=0.01,
    zscore_threshold=5.0,
    interpolate_bads=True,
    artifacts="ica",
    ica_n_components=0.99,
    eog_threshold=3.0,
    eeg_reference="average",
    maxwell=None,
    random_state=0,
    verbose=None,
):
    """Preprocess one raw recording (a copy): bads, filters, resampling, artifacts, EEG reference.

    ``maxwell``: None, or the keyword arguments of :func:`maxwell_filter_raw` (MEGIN MEG:
    applied after bad-channel detection, which SSS needs, and before the filters; the channels
    it reconstructs are then no longer bad).

    Returns
    -------
    clean : mne.io.Raw
    details : dict
        ``bads`` (detected, by kind), ``interpolated``, ``maxwell`` (None or what was used),
        and the artifact details of :func:`remove_artifacts`.
    """
    clean = raw.copy().load_data()
    details = {"bads": {"flat": [], "noisy": []}, "bids_bads": list(raw.info["bads"]), "interpolated": [],
               "maxwell": None}
    if detect_bads:
        details["bads"] = detect_bad_channels(clean, flat_ratio=flat_ratio, zscore_threshold=zscore_threshold)
        new = details["bads"]["flat"] + details["bads"]["noisy"]
        clean.info["bads"] = sorted(set(clean.info["bads"]) | set(new))
    if maxwell is not None:
        clean, details["maxwell"] = maxwell_filter_raw(clean, **maxwell)
    filter_raw(clean, l_freq=l_freq, h_freq=h_freq, notch_freqs=notch_freqs, resample_sfreq=resample_sfreq)
    clean, artifact_details = remove_artifacts(
        clean, method=artifacts, n_components=ica_n_components, eog_threshold=eog_threshold, random_state=random_state
    )
    details.update(artifacts=artifact_details)
    if interpolate_bads and clean.info["bads"] and clean.get_montage() is not None:
        details["interpolated"] = list(clean.info["bads"])
        clean.interpolate_bads(reset_bads=True, verbose="error")
    if eeg_reference and len(mne.pick_types(clean.info, eeg=True)):
        # a projector, as MNE's inverse solvers require for EEG
        clean.set_eeg_reference(eeg_reference, projection=True, verbose="error")
    return clean, details


def condition_ids(raws):
    """One event_id for all runs: sorted trial types of the runs' annotations -> 1..n."""
    names = set()
    for raw in raws:
        names |= {d for d in raw.annotations.description if not d.upper().startswith(("BAD", "EDGE"))}
    if not names:
        raise BIDSError(
            f"{raws[0].filenames[0] if raws[0].filenames else 'raw'}: no events found; the events.tsv of "
            "this recording is empty or missing, so there is nothing to epoch."
        )
    return {name: code for code, name in enumerate(sorted(names), start=1)}


@verbose
def make_epochs(
    raws,
    *,
    runs=None,
    tmin=-0.2,
    tmax=0.5,
    baseline=(None, 0.0),
    reject="auto",
    reject_factor=6.0,
    conditions=None,
    decim=1,
    verbose=None,
):
    """Epoch one or several cleaned runs around their events and concatenate them.

    Parameters
    ----------
    raws : list of mne.io.Raw
        Cleaned runs of one subject/task (same channels).
    runs : list of str | None
        Run label of each raw, stored in ``epochs.metadata["run"]`` (folds are grouped by it).
    reject : dict | "auto" | None
        Peak-to-peak rejection thresholds; ``"auto"`` sets them per channel type to
        ``reject_factor`` times the median peak-to-peak amplitude of the epochs.
    conditions : list of str | None
        Keep only these trial types.

    Returns
    -------
    epochs : mne.Epochs
        With metadata columns ``run`` and ``trial_type``.
    """
    if isinstance(raws, mne.io.BaseRaw):
        raws = [raws]
    runs = list(runs) if runs is not None else [str(i + 1) for i in range(len(raws))]
    if len(runs) != len(raws):
        raise ValueError(f"runs has {len(runs)} labels for {len(raws)} raw recordings.")
    event_id = condition_ids(raws)
    if conditions is not None:
        unknown = sorted(set(conditions) - set(event_id))
        if unknown:
            raise ValueError(f"epochs.conditions lists {unknown}, absent from the events ({sorted(event_id)}).")
        event_id = {k: v for k, v in event_id.items() if k in conditions}
    bads = sorted(set().union(*(raw.info["bads"] for raw in raws)))
    all_epochs = []
    inverse_id = {v: k for k, v in event_id.items()}
    for raw, run in zip(raws, runs):
        raw.info["bads"] = bads
        events, _ = mne.events_from_annotations(raw, event_id=event_id, verbose="error")
        if len(events) == 0:
            continue
        metadata = pd.DataFrame({"run": run, "trial_type": [inverse_id[c] for c in events[:, 2]]})
        epochs = mne.Epochs(
            raw,
            events,
            event_id={k: v for k, v in event_id.items() if v in set(events[:, 2])},
            tmin=tmin,
            tmax=tmax,
            baseline=tuple(baseline) if baseline is not None else None,
            metadata=metadata,
            reject=None,
            decim=decim,
            preload=True,
            on_missing="ignore",
            verbose="error",
        )
        all_epochs.append(epochs)
    if not all_epochs:
        raise BIDSError("No events of the selected conditions in any run: nothing to epoch.")
    epochs = mne.concatenate_epochs(all_epochs, verbose="error") if len(all_epochs) > 1 else all_epochs[0]
    if reject == "auto":
        reject = _auto_reject(epochs, reject_factor)
    if reject:
        n_before = len(epochs)
        epochs.drop_bad(reject=reject, verbose="error")
        logger.info(f"Rejected {n_before - len(epochs)} of {n_before} epochs with thresholds {reject}.")
    return epochs


def _auto_reject(epochs, factor):
    thresholds = {}
    for ch_type in ("eeg", "mag", "grad"):
        picks = mne.pick_types(epochs.info, meg=ch_type if ch_type != "eeg" else False, eeg=ch_type == "eeg")
        if len(picks) == 0:
            continue
        data = epochs.get_data(picks=picks)
        ptp = np.ptp(data, axis=-1).max(axis=1)
        thresholds[ch_type] = float(factor * np.median(ptp))
    return thresholds


def compute_evokeds(epochs):
    """Average the epochs of each condition (sorted by name)."""
    return [epochs[name].average() for name in sorted(epochs.event_id) if len(epochs[name])]


@verbose
def compute_noise_cov(epochs, *, method=("shrunk", "empirical"), tmax=0.0, rank="auto", verbose=None):
    """Noise covariance from the pre-stimulus baseline of the epochs (:func:`mne.compute_covariance`).

    ``rank="auto"``: the rank of the baseline data, estimated and capped by the ``"info"`` rank
    (:func:`neuroopt.meeg.whitening.data_rank`), so that interpolated channels or removed ICA
    components do not leave a near-zero eigenvalue inside the regularised subspace.
    """
    if epochs.tmin >= tmax:
        raise ValueError(f"noise_cov.tmax={tmax} leaves no baseline: epochs start at {epochs.tmin} s.")
    if isinstance(rank, str) and rank == "auto":
        from .whitening import data_rank

        rank = data_rank(epochs.copy().crop(None, tmax))
    method = list(method) if isinstance(method, (list, tuple)) else method
    return mne.compute_covariance(epochs, tmax=tmax, method=method, rank=rank, verbose="error")
