"""Score a (sparse) source estimate against known source positions (simulation ground truth)."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd

from ..utils import check_positive, validate_type


def source_positions(stc, src):
    """Positions (m, frame of ``src``) of the sources of a volume/discrete ``stc``.

    Parameters
    ----------
    stc : mne.VolSourceEstimate | mne.VolVectorSourceEstimate
        Source estimate on ``src``.
    src : mne.SourceSpaces | mne.Forward
        Its source space; pass ``forward["src"]`` (or the forward) for head coordinates.
    """
    if isinstance(src, mne.Forward):
        src = src["src"]
    validate_type(src, mne.SourceSpaces, "src")
    if len(src) != len(stc.vertices):
        raise ValueError(
            f"src has {len(src)} source spaces but stc has {len(stc.vertices)} vertex arrays; "
            "pass the source space the stc was computed on."
        )
    return np.concatenate([s["rr"][v] for s, v in zip(src, stc.vertices)], axis=0)


def source_amplitudes(stc):
    """Amplitude time courses (n_sources, n_times): the norm over orientations for vector stcs.

    Parameters
    ----------
    stc : mne.VolSourceEstimate | mne.VolVectorSourceEstimate
        Source estimate.

    Returns
    -------
    amplitudes : ndarray, shape (n_sources, n_times)
    """
    return np.linalg.norm(stc.data, axis=1) if stc.data.ndim == 3 else np.abs(stc.data)


# float32 positions of a saved forward: grid points exactly match_radius apart differ by ~0.3 um
RADIUS_TOLERANCE = 1e-6


def score_sources_against_truth(stc, truth_sources, src, *, truth_waveforms=None,
                                amplitude_threshold=0.1, match_radius=0.02):
    """Localisation errors of the true sources and spurious estimated sources.

    Parameters
    ----------
    stc : mne.VolSourceEstimate
        Estimated sources (e.g. ``sparse_inverse(...).stc``).
    truth_sources : pandas.DataFrame
        True sources with columns ``name``, ``x``, ``y``, ``z`` (m, same frame as ``src``), as
        ``load_demo_truth(root, subject)["eeg"]["sources"]``.
    src : mne.SourceSpaces | mne.Forward
        Source space of ``stc`` (``forward["src"]`` is in head coordinates).
    truth_waveforms : ndarray, shape (n_sources, n_times) | None
        True amplitudes of ``truth_sources`` in the condition; only sources with a non-zero
        waveform are scored. ``None``: all sources are scored.
    amplitude_threshold : float
        Estimated sources whose peak amplitude is below this fraction of the largest peak are
        negligible and ignored.
    match_radius : float
        Distance (m) within which an estimated source counts as finding a true one, up to
        ``RADIUS_TOLERANCE`` (1 um): forward solutions store positions in float32, so a grid
        point exactly ``match_radius`` away (2 steps of a 10 mm grid for 20 mm) can come out
        0.3 um farther.

    Returns
    -------
    scores : dict
        ``localization_error_m`` (dict name -> distance from each true source to the nearest
        non-negligible estimated source, ``inf`` if there is none), ``mean_localization_error_m``,
        ``max_localization_error_m``, ``n_true``, ``n_estimated`` (non-negligible),
        ``n_detected`` (true sources with an estimate within ``match_radius``), ``recall``,
        ``n_spurious`` (estimates farther than ``match_radius`` from every true source).
    """
    validate_type(truth_sources, pd.DataFrame, "truth_sources")
    missing = {"name", "x", "y", "z"} - set(truth_sources.columns)
    if missing:
        raise ValueError(f"truth_sources lacks the column(s) {sorted(missing)}; it needs name, "
                         "x, y, z (m).")
    amplitude_threshold = check_positive(amplitude_threshold, "amplitude_threshold",
                                         strict=False)
    match_radius = check_positive(match_radius, "match_radius")
    truth = truth_sources
    if truth_waveforms is not None:
        truth_waveforms = np.asarray(truth_waveforms, dtype=float)
        if truth_waveforms.shape[0] != len(truth_sources):
            raise ValueError(f"truth_waveforms has {truth_waveforms.shape[0]} rows for "
                             f"{len(truth_sources)} true sources; pass one row per source.")
        truth = truth_sources[np.abs(truth_waveforms).max(axis=1) > 0]
    true_pos = truth[["x", "y", "z"]].to_numpy(dtype=float)

    positions = source_positions(stc, src)
    peak = source_amplitudes(stc).max(axis=1) if len(stc.data) else np.zeros(0)
    keep = peak >= amplitude_threshold * peak.max() if peak.size and peak.max() > 0 else (
        np.zeros(len(peak), bool))
    est_pos = positions[keep]

    if len(est_pos):
        distances = np.linalg.norm(true_pos[:, None] - est_pos[None], axis=-1)
        errors = distances.min(axis=1)
        n_spurious = int(np.sum(distances.min(axis=0) > match_radius + RADIUS_TOLERANCE)) if (
            len(true_pos)) else len(est_pos)
    else:
        errors = np.full(len(true_pos), np.inf)
        n_spurious = 0
    n_detected = int(np.sum(errors <= match_radius + RADIUS_TOLERANCE))
    return dict(
        localization_error_m=dict(zip(truth["name"], errors.tolist())),
        mean_localization_error_m=float(np.mean(errors)) if len(errors) else np.nan,
        max_localization_error_m=float(np.max(errors)) if len(errors) else np.nan,
        n_true=len(true_pos),
        n_estimated=int(keep.sum()),
        n_detected=n_detected,
        recall=n_detected / len(true_pos) if len(true_pos) else np.nan,
        n_spurious=n_spurious,
    )
