"""Validation and coding of condition / run labels shared by the RSA distances."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils import check_finite


@dataclass(frozen=True)
class Design:
    """Integer coding of conditions (sorted unique labels) and runs (sorted unique labels)."""

    conditions: np.ndarray  # sorted unique condition labels
    runs: np.ndarray  # sorted unique run labels
    condition_index: np.ndarray  # (n_epochs,) int
    run_index: np.ndarray  # (n_epochs,) int

    @property
    def n_conditions(self):
        return self.conditions.size

    @property
    def n_runs(self):
        return self.runs.size

    def cell_counts(self):
        """Number of epochs per (run, condition), shape (n_runs, n_conditions)."""
        counts = np.zeros((self.n_runs, self.n_conditions))
        np.add.at(counts, (self.run_index, self.condition_index), 1.0)
        return counts


def check_data(data, name="data"):
    """Return data as float64 of shape (n_epochs, n_channels, n_times) and whether it was 2D."""
    data = np.asarray(data, dtype=np.float64)
    if data.ndim not in (2, 3):
        raise ValueError(
            f"{name} must have shape (n_epochs, n_channels) or (n_epochs, n_channels, n_times), "
            f"got an array of shape {data.shape}."
        )
    check_finite(data, name)
    was_2d = data.ndim == 2
    return (data[:, :, None] if was_2d else data), was_2d


def _labels(values, name, n_epochs):
    values = np.asarray(values)
    if values.ndim != 1 or values.size != n_epochs:
        raise ValueError(
            f"{name} must be a 1D array with one label per epoch ({n_epochs}), got shape "
            f"{values.shape}."
        )
    if values.dtype.kind == "f" and not np.all(np.isfinite(values)):
        raise ValueError(f"{name} contains NaN labels; give every epoch a {name[:-1]} label.")
    return values


def make_design(conditions, runs, n_epochs, require_runs=True):
    """Code labels as integers; check every condition occurs in every run.

    Parameters
    ----------
    conditions : array-like, shape (n_epochs,)
        Condition label of each epoch.
    runs : array-like, shape (n_epochs,) | None
        Run label of each epoch (the cross-validation folds); ``None`` treats all epochs as one
        run (only for non-cross-validated distances).
    n_epochs : int
        Number of epochs in the data.
    require_runs : bool
        Require at least two runs (cross-validated distances).
    """
    conditions = _labels(conditions, "conditions", n_epochs)
    runs = np.zeros(n_epochs, dtype=int) if runs is None else _labels(runs, "runs", n_epochs)
    cond_values, cond_index = np.unique(conditions, return_inverse=True)
    run_values, run_index = np.unique(runs, return_inverse=True)
    if cond_values.size < 2:
        raise ValueError(
            "conditions must contain at least 2 distinct labels to form an RDM, got "
            f"{cond_values.tolist()!r}."
        )
    if require_runs and run_values.size < 2:
        raise ValueError(
            f"Cross-validated distances need at least 2 runs (independent partitions), got "
            f"runs={run_values.tolist()!r}. Pass the run of each epoch, or use method='mahalanobis'."
        )
    design = Design(cond_values, run_values, cond_index.ravel(), run_index.ravel())
    counts = design.cell_counts()
    missing = np.argwhere(counts == 0)
    if missing.size:
        run_i, cond_i = missing[0]
        raise ValueError(
            f"Condition {cond_values[cond_i].item()!r} has no epoch in run {run_values[run_i].item()!r} "
            f"({len(missing)} empty run x condition cell(s)). Every condition must occur in every "
            "run for leave-one-run-out distances; drop the condition or the run."
        )
    return design
