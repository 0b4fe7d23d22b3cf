"""Cross-validation folds grouped by run: train and test never share a run."""

from __future__ import annotations

import numpy as np
from sklearn.model_selection import GroupKFold, LeaveOneGroupOut


def grouped_folds(groups, n_splits=None):
    """Train/test index pairs with whole runs held out.

    Parameters
    ----------
    groups : array-like, shape (n_samples,)
        Run (or session) of each sample.
    n_splits : int | None
        Number of folds. ``None`` (or at least as many as runs) gives leave-one-run-out;
        fewer folds use :class:`sklearn.model_selection.GroupKFold`.

    Returns
    -------
    folds : list of (ndarray, ndarray)
        Train and test indices of each fold.
    """
    groups = np.asarray(groups)
    if groups.ndim != 1:
        raise ValueError(f"groups must be 1D (one run label per sample), got shape {groups.shape}.")
    n_groups = np.unique(groups).size
    if n_groups < 2:
        raise ValueError(
            f"Grouped cross-validation needs at least 2 runs, got {n_groups} "
            f"(groups={np.unique(groups)!r}); decoding within a single run would mix train and "
            "test data from the same run."
        )
    if n_splits is not None and (int(n_splits) != n_splits or n_splits < 2):
        raise ValueError(f"n_splits must be an integer >= 2 or None, got {n_splits!r}.")
    if n_splits is None or n_splits >= n_groups:
        splitter = LeaveOneGroupOut()
    else:
        splitter = GroupKFold(n_splits=int(n_splits))
    dummy = np.zeros((groups.size, 1))
    folds = [(train, test) for train, test in splitter.split(dummy, groups=groups)]
    for train, test in folds:
        shared = np.intersect1d(groups[train], groups[test])
        if shared.size:  # defensive: a splitter change must never leak a run
            raise RuntimeError(f"Fold mixes runs {shared!r} between train and test.")
    return folds


def split_half_runs(onsets, gap):
    """Pseudo-runs of a single run: its first and second half in time, apart by at least ``gap``.

    The alternative to grouped cross-validation for single-run recordings: trials are split at
    the median onset into two halves (labels 1 and 2), and trials closer than ``gap`` seconds to
    the split are dropped (label 0), so that no response of one half overlaps the other (use a
    gap of at least the HRF length, ~30 s, for fMRI). The halves then play the part of runs.

    Parameters
    ----------
    onsets : array-like, shape (n_trials,)
        Trial onsets in seconds.
    gap : float
        Seconds kept free of trials around the split (``gap / 2`` on each side).

    Returns
    -------
    halves : ndarray of int, shape (n_trials,)
        1 or 2 for the trials kept, 0 for the trials dropped.
    """
    onsets = np.asarray(onsets, dtype=float)
    if onsets.ndim != 1 or onsets.size == 0:
        raise ValueError(f"onsets must be a non-empty 1D array of seconds, got shape {onsets.shape}.")
    if not np.isfinite(gap) or gap < 0:
        raise ValueError(f"gap must be a number of seconds >= 0, got {gap!r}.")
    split = float(np.median(onsets))
    halves = np.where(onsets < split, 1, 2)
    halves[np.abs(onsets - split) < gap / 2.0] = 0
    return halves
