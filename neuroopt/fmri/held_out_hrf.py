"""HRFs fitted on held-out data, so that the noise a contrast is tested on never chose its HRF.

Two ways to hold data out, both used by :func:`neuroopt.fmri.contrast_maps.r1glm_contrasts`:

- :func:`leave_one_run_out_hrfs`: each run's HRF is a rank-1 fit on the other runs.
- :func:`split_run_hrfs` (one run): the run is cut into ``n_segments`` contiguous segments of
  (almost) equal length; each segment's HRF is a rank-1 fit on the other segments, each of them
  with its own drift terms and intercept (as separate runs). Events are not moved or dropped: the
  task regressors of a training segment are the rows of the *whole run's* design, so an event
  whose response crosses a boundary keeps its tail in the next segment and an event of the
  held-out segment keeps its effect on the rows of the training segments. The contrast GLM then
  uses, on the rows of each segment, the HRF fitted without those rows (row-wise, not per event:
  giving a crossing event's tail the HRF of its onset's segment would use, on the rows of the next
  segment, an HRF fitted on those very rows).
"""

from __future__ import annotations

import inspect

import numpy as np

from .design import check_events, condition_design
from .estimators import R1GLM


def _r1glm_params(estimator):
    names = inspect.signature(R1GLM).parameters
    return {k: v for k, v in estimator.get_params().items() if k in names}


def leave_one_run_out_hrfs(estimator, runs, events, confounds):
    """HRF coefficients of each run from a rank-1 fit (same parameters) on the other runs.

    Parameters
    ----------
    estimator : R1GLM or R1GLMS
        The fitted estimator whose parameters are reused.
    runs : list of ndarray, (n_scans, n_voxels)
    events : list of DataFrame
    confounds : list of array-like or None

    Returns
    -------
    hrfs : list of ndarray, (n_basis, n_voxels)
        One per run.
    """
    params = _r1glm_params(estimator)
    out = []
    for r in range(len(runs)):
        keep = [i for i in range(len(runs)) if i != r]
        fit = R1GLM(**params).fit([runs[i] for i in keep], [events[i] for i in keep],
                                  [confounds[i] for i in keep])
        out.append(fit.hrf_coef_)
    return out


def segment_bounds(n_scans, n_segments):
    """First scan of each of ``n_segments`` contiguous, (almost) equal segments, then ``n_scans``."""
    return np.linspace(0, n_scans, n_segments + 1).round().astype(int)


class _SegmentsR1GLM(R1GLM):
    """R1GLM fitted on some row segments of one run, each with its own drifts (as runs), whose
    task regressors are the rows of the whole run's design (set by :func:`split_run_hrfs`)."""

    def _prepare(self, Y, events, confounds):
        out = super()._prepare(Y, events, confounds)
        # conditions whose regressors reach the training rows (tails of earlier events included)
        full = condition_design(self._run_events, self.basis_, self._run_n_scans, self.t_r,
                                self._run_conditions)
        rows = np.concatenate([np.arange(a, b) for a, b in self._segments])
        energy = np.abs(full[rows]).reshape(rows.size, len(self._run_conditions), -1).sum((0, 2))
        self.conditions_ = np.asarray(self._run_conditions)[energy > 0]
        return out

    def _condition_designs(self, events, drifts, basis):
        from .design import project_out

        full = condition_design(self._run_events, basis, self._run_n_scans, self.t_r, self.conditions_)
        return np.concatenate([project_out(q, full[a:b]) for (a, b), q in zip(self._segments, drifts)])


def split_run_hrfs(estimator, y, events, confounds=None, n_segments=3, name="the run"):
    """HRF coefficients of each segment of one run, each from a rank-1 fit on the other segments.

    Parameters
    ----------
    estimator : R1GLM or R1GLMS
        The fitted estimator whose parameters are reused.
    y : ndarray, (n_scans, n_voxels)
        The run's BOLD data.
    events : DataFrame
        The run's events (``onset``, ``duration``, ``trial_type``).
    confounds : array-like, (n_scans, n_confounds), or None
        Nuisance regressors of the run (sliced per segment).
    n_segments : int
        Number of contiguous segments (>= 2).
    name : str
        The run's name in error messages.

    Returns
    -------
    bounds : ndarray of int, (n_segments + 1,)
        First scan of each segment, then ``n_scans`` (:func:`segment_bounds`).
    hrfs : list of ndarray, (n_basis, n_voxels)
        The HRF used on the rows of each segment.

    Raises
    ------
    ValueError
        If a segment is shorter than ``hrf_length`` or a training set has no event onset or too
        few scans for its rank-1 fit (the message names the run).
    """
    if int(n_segments) != n_segments or n_segments < 2:
        raise ValueError(f"n_segments must be an integer >= 2, got {n_segments!r}.")
    n_scans = y.shape[0]
    t_r = float(estimator.t_r)
    events = check_events(events, n_scans, t_r, name=f"the events of {name}")
    bounds = segment_bounds(n_scans, int(n_segments))
    conf = None if confounds is None else np.asarray(confounds, dtype=float)
    if conf is not None and conf.ndim == 1:
        conf = conf[:, None]
    shortest = int(np.diff(bounds).min())
    if shortest * t_r < float(estimator.hrf_length):
        raise ValueError(
            f"Cannot split {name} ({n_scans} scans of {t_r:g} s) into {n_segments} segments: they "
            f"would last {shortest * t_r:g} s, shorter than one HRF (hrf_length={estimator.hrf_length:g} "
            "s). Use fewer segments (n_segments) or hrf_fit='same-data'.")
    conditions = sorted(set(events["trial_type"]))
    params = _r1glm_params(estimator)
    onsets = events["onset"].to_numpy()
    hrfs = []
    for held in range(n_segments):
        train = [(bounds[s], bounds[s + 1]) for s in range(n_segments) if s != held]
        seg_events = []
        for a, b in train:
            inside = (onsets >= a * t_r) & (onsets <= (b - 1) * t_r)
            seg = events[inside].assign(onset=onsets[inside] - a * t_r)
            if seg.empty:
                raise ValueError(
                    f"Cannot fit the HRF of segment {held + 1}/{n_segments} of {name} on the other "
                    f"segment(s): scans {a}-{b - 1} ({(b - a) * t_r:g} s) have no event onset. Use "
                    "fewer segments (n_segments) or hrf_fit='same-data'.")
            seg_events.append(seg)
        model = _SegmentsR1GLM(**params)
        model._run_events, model._run_n_scans, model._run_conditions = events, n_scans, conditions
        model._segments = train
        try:
            model.fit([y[a:b] for a, b in train], seg_events,
                      None if conf is None else [conf[a:b] for a, b in train])
        except ValueError as err:
            raise ValueError(
                f"Cannot fit the HRF of segment {held + 1}/{n_segments} (scans {bounds[held]}-"
                f"{bounds[held + 1] - 1}) of {name} on the other segment(s), {n_scans} scans in "
                f"all: {err} Use fewer segments (n_segments) or hrf_fit='same-data'.") from err
        hrfs.append(model.hrf_coef_)
    return bounds, hrfs
