"""Design matrices for the rank-1 GLM: events x HRF basis regressors, and drift projectors.

Columns are ordered condition-major: column ``k * n_basis + j`` is condition (or trial) ``k``
convolved with basis function ``j``. Drifts are not fitted jointly: each run's data and task
regressors are projected onto the orthogonal complement of that run's drift space, which gives
the same task estimates as fitting drifts in the same least-squares problem (Frisch-Waugh-Lovell).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from ..utils import check_option, check_positive

REQUIRED_EVENT_COLUMNS = ("onset", "duration", "trial_type")
DRIFT_MODELS = ("cosine", "polynomial", None)
# sub-sampling step (fraction of t_r) used to integrate the basis over a non-zero duration
_OVERSAMPLING = 50


def check_events(events, n_scans, t_r, name="events"):
    """Validate an events table against a run of ``n_scans`` scans.

    Parameters
    ----------
    events : pandas.DataFrame
        Needs the BIDS columns ``onset``, ``duration`` (s, 0 for an impulse) and ``trial_type``.
        An optional ``modulation`` column scales each event (nilearn's convention).
    n_scans : int
        Number of scans of the run.
    t_r : float
        Repetition time (s).
    name : str
        Name used in error messages.

    Returns
    -------
    events : pandas.DataFrame
        Copy with columns onset, duration, trial_type (str), modulation, sorted by onset.
    """
    if not isinstance(events, pd.DataFrame):
        raise TypeError(f"{name} must be a pandas DataFrame with columns "
                        f"{list(REQUIRED_EVENT_COLUMNS)}, got {type(events).__name__}.")
    missing = [col for col in REQUIRED_EVENT_COLUMNS if col not in events.columns]
    if missing:
        raise ValueError(
            f"{name} lacks the column(s) {missing}; it has {list(events.columns)}. Rename them to "
            f"the BIDS names {list(REQUIRED_EVENT_COLUMNS)} (duration 0 for impulses)."
        )
    if len(events) == 0:
        raise ValueError(f"{name} is empty: the rank-1 GLM needs at least one event.")
    out = pd.DataFrame({
        "onset": pd.to_numeric(events["onset"], errors="coerce").to_numpy(float),
        "duration": pd.to_numeric(events["duration"], errors="coerce").to_numpy(float),
        "trial_type": events["trial_type"].astype(str).to_numpy(),
    })
    if "modulation" in events.columns:
        out["modulation"] = pd.to_numeric(events["modulation"], errors="coerce").to_numpy(float)
    else:
        out["modulation"] = 1.0
    for col in ("onset", "duration", "modulation"):
        bad = ~np.isfinite(out[col].to_numpy())
        if bad.any():
            raise ValueError(f"{name}['{col}'] has {bad.sum()} missing or non-numeric value(s) "
                             f"(rows {np.flatnonzero(bad)[:5].tolist()}...); fix or drop those "
                             "rows.")
    if (out["duration"] < 0).any():
        raise ValueError(f"{name}['duration'] has negative values; durations must be >= 0 s.")
    last_scan = (n_scans - 1) * t_r
    outside = (out["onset"] < 0) | (out["onset"] > last_scan)
    if outside.any():
        bad_onsets = out["onset"][outside].to_numpy()[:5]
        raise ValueError(
            f"{name} has {int(outside.sum())} onset(s) outside the scan window "
            f"[0, {last_scan:g}] s "
            f"(n_scans={n_scans}, t_r={t_r:g} s), e.g. {bad_onsets.tolist()}. Check t_r (NIfTI "
            "headers are sometimes wrong), the run the events belong to, and whether onsets are "
            "in seconds."
        )
    return out.sort_values("onset", kind="stable").reset_index(drop=True)


def event_regressors(events, basis, n_scans, t_r):
    """Regressors of each event convolved with each basis function, sampled at the scans.

    Parameters
    ----------
    events : pandas.DataFrame
        Output of :func:`check_events`.
    basis : HRFBasis
    n_scans : int
    t_r : float

    Returns
    -------
    regressors : ndarray, (n_scans, n_events, n_basis)
        Scan ``i`` is acquired at ``i * t_r``. An impulse (duration 0) gives ``basis(t - onset)``;
        a duration ``d`` gives the integral of the basis over the ``d`` seconds of stimulation,
        so a 1 s event and an impulse have about the same scale.
    """
    frame_times = np.arange(n_scans) * t_r
    out = np.zeros((n_scans, len(events), basis.n_basis))
    step = t_r / _OVERSAMPLING
    onsets = events["onset"].to_numpy()
    durations = events["duration"].to_numpy()
    modulations = events["modulation"].to_numpy()
    impulses = np.flatnonzero(durations <= 0)
    if impulses.size:
        lags = frame_times[:, None] - onsets[None, impulses]
        out[:, impulses] = basis.evaluate(lags) * modulations[impulses, None]
    for i in np.flatnonzero(durations > 0):
        onset, duration, modulation = onsets[i], durations[i], modulations[i]
        n_sub = max(int(np.ceil(duration / step)), 1)
        sub_onsets = onset + (np.arange(n_sub) + 0.5) * (duration / n_sub)
        lags = frame_times[:, None] - sub_onsets[None, :]
        values = basis.evaluate(lags.ravel()).reshape(n_scans, n_sub, basis.n_basis)
        out[:, i] = values.sum(axis=1) * (duration / n_sub) * modulation
    return out


def drift_basis(n_scans, t_r, drift_model="cosine", high_pass=0.01, drift_order=1,
                confounds=None):
    """Orthonormal basis of the nuisance space of one run (drifts, constant, confounds).

    Uses :func:`nilearn.glm.first_level.make_first_level_design_matrix` for the drift terms.

    Returns
    -------
    q : ndarray, (n_scans, n_nuisance)
        Orthonormal columns spanning the nuisance regressors.
    """
    from nilearn.glm.first_level import make_first_level_design_matrix

    check_option("drift_model", drift_model, DRIFT_MODELS)
    frame_times = np.arange(n_scans) * t_r
    kwargs = {"drift_model": drift_model}
    if drift_model == "cosine":
        kwargs["high_pass"] = check_positive(high_pass, "high_pass")
    elif drift_model == "polynomial":
        kwargs["drift_order"] = drift_order
    nuisance = make_first_level_design_matrix(frame_times, events=None, **kwargs).to_numpy()
    if confounds is not None:
        confounds = np.asarray(confounds, dtype=float)
        if confounds.ndim == 1:
            confounds = confounds[:, None]
        if confounds.shape[0] != n_scans:
            raise ValueError(f"confounds has {confounds.shape[0]} rows but the run has {n_scans} "
                             "scans; give one row per scan.")
        if not np.all(np.isfinite(confounds)):
            raise ValueError("confounds contains NaN or infinite values; fill them (e.g. the "
                             "first rows of derivative confounds) before fitting.")
        nuisance = np.column_stack([nuisance, confounds])
    u, s, _ = np.linalg.svd(nuisance, full_matrices=False)
    keep = s > s.max() * 1e-10
    return u[:, keep]


def project_out(q, array):
    """Residual of ``array`` (n_scans, ...) after projection on the orthonormal columns ``q``."""
    return array - q @ (q.T @ array)


def condition_design(events, basis, n_scans, t_r, conditions):
    """Condition-level task design of one run, condition-major columns.

    Returns
    -------
    design : ndarray, (n_scans, n_conditions * n_basis)
    """
    per_event = event_regressors(events, basis, n_scans, t_r)
    membership = (events["trial_type"].to_numpy()[:, None]
                  == np.asarray(conditions)[None, :]).astype(float)
    design = np.matmul(per_event.transpose(0, 2, 1), membership)  # (n_scans, n_basis, n_cond)
    return np.ascontiguousarray(design.transpose(0, 2, 1)).reshape(n_scans, -1)


def simulate_bold(events, t_r, n_scans, hrf_params, shape_index, betas, noise_sd=1.0, ar1=0.0,
                  drift_sd=0.0, snr=None, random_state=None):
    """Simulate BOLD data with known per-voxel HRFs (double gammas) and condition activations.

    Voxels share a small library of HRF shapes (one per row of ``hrf_params``) so that large
    simulations only compute one design per shape.

    Parameters
    ----------
    events : pandas.DataFrame
        Columns onset, duration, trial_type (and optionally ``amplitude``, a per-trial multiplier
        of the condition beta).
    t_r : float
    n_scans : int
    hrf_params : ndarray, (n_shapes, 3)
        ``(peak_delay, dispersion, undershoot_ratio)`` of :func:`~.hrf_basis.double_gamma_hrf`.
    shape_index : ndarray of int, (n_voxels,)
        HRF shape of each voxel.
    betas : ndarray, (n_conditions, n_voxels)
        Activations of the sorted conditions, scaling the unit-norm HRF sampled every 0.1 s.
    noise_sd : float or ndarray (n_voxels,)
        Standard deviation of the AR(1) innovations scaled to unit marginal variance.
    ar1 : float
        AR(1) coefficient of the noise.
    drift_sd : float
        Amplitude of a random slow drift (sum of low-frequency cosines).
    snr : float | None
        If given, overrides ``noise_sd``: each voxel's noise sd is its signal sd divided by
        ``snr``.
    random_state : int | Generator | None

    Returns
    -------
    Y : ndarray, (n_scans, n_voxels)
    hrfs : ndarray, (321, n_shapes)
        True HRFs at ``np.arange(0, 32.05, 0.1)``, unit norm.
    """
    from .hrf_basis import double_gamma_hrf

    rng = np.random.default_rng(random_state)
    events = events.copy()
    if "amplitude" not in events.columns:
        events["amplitude"] = 1.0
    conditions = sorted(set(events["trial_type"].astype(str)))
    codes = events["trial_type"].astype(str).map({c: k for k, c in enumerate(conditions)})
    times = np.arange(0.0, 32.05, 0.1)
    frame_times = np.arange(n_scans) * t_r
    hrf_params = np.atleast_2d(np.asarray(hrf_params, dtype=float))
    n_voxels = betas.shape[1]
    signal = np.zeros((n_scans, n_voxels))
    hrfs = np.zeros((times.size, hrf_params.shape[0]))
    for s, (delay, dispersion, ratio) in enumerate(hrf_params):
        norm = np.linalg.norm(double_gamma_hrf(times, peak_delay=delay, dispersion=dispersion,
                                               ratio=ratio))
        hrfs[:, s] = double_gamma_hrf(times, peak_delay=delay, dispersion=dispersion,
                                      ratio=ratio) / norm
        voxels = np.flatnonzero(shape_index == s)
        if voxels.size == 0:
            continue
        design = np.zeros((n_scans, len(conditions)))
        for onset, duration, code, amp in zip(events["onset"], events["duration"], codes,
                                              events["amplitude"]):
            n_sub = max(int(np.ceil(duration / 0.05)), 1)
            if duration > 0:
                subs = onset + (np.arange(n_sub) + 0.5) * (duration / n_sub)
            else:
                subs = [onset]
            resp = sum(double_gamma_hrf(frame_times - u, peak_delay=delay,
                                        dispersion=dispersion, ratio=ratio) for u in subs)
            scale = duration / n_sub if duration > 0 else 1.0
            design[:, code] += amp * resp * scale / norm
        signal[:, voxels] = design @ betas[:, voxels]
    innovations = rng.standard_normal((n_scans, n_voxels)) * np.sqrt(1.0 - ar1 ** 2)
    noise = np.empty_like(innovations)
    noise[0] = innovations[0] / np.sqrt(1.0 - ar1 ** 2)
    for t in range(1, n_scans):
        noise[t] = ar1 * noise[t - 1] + innovations[t]
    if snr is not None:
        noise_sd = signal.std(axis=0) / check_positive(snr, "snr")
    Y = signal + noise * noise_sd
    if drift_sd > 0:
        slow = np.cos(np.pi * np.outer(frame_times / frame_times[-1], np.arange(1, 4)))
        Y += drift_sd * slow @ rng.standard_normal((3, n_voxels))
    return Y, hrfs
