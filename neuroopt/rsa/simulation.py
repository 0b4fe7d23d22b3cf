"""Simulated epochs / trial patterns with a known representational geometry (tests, benchmarks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils import check_random_state


@dataclass
class SimulatedPatterns:
    """Simulated data and its ground truth.

    Attributes
    ----------
    data : ndarray, shape (n_epochs, n_channels[, n_times])
    conditions : ndarray of str, shape (n_epochs,)
        Labels ``"c00", "c01", ...`` (sorted order = condition index).
    runs : ndarray of int, shape (n_epochs,)
    patterns : ndarray, shape (n_conditions, n_channels)
        True condition patterns at the peak of the time course.
    time_course : ndarray, shape (n_times,)
        Signal amplitude over time (1 at the peak).
    true_rdm : ndarray, shape (n_pairs,)
        True crossnobis value at the peak, ``(u_i - u_j)' Sigma^-1 (u_i - u_j) / n_channels``
        with ``Sigma`` the true noise covariance.
    noise_cov : ndarray, shape (n_channels, n_channels) | None
        True noise covariance (``None`` when not formed, for many channels).
    """

    data: np.ndarray
    conditions: np.ndarray
    runs: np.ndarray
    patterns: np.ndarray
    time_course: np.ndarray
    true_rdm: np.ndarray
    noise_cov: np.ndarray | None


def simulate_patterns(n_conditions=6, n_runs=5, n_per_cell=10, n_channels=60, n_times=None,
                      n_dims=3, signal=1.0, noise_rank=10, random_state=0):
    """Simulate epochs whose condition means have a known geometry, with correlated noise.

    Condition patterns are points of an ``n_dims``-dimensional embedding mapped to channels by
    a random matrix; noise is white plus a rank-``noise_rank`` spatially correlated part
    (``Sigma = I + B B'``), independent over epochs and time points.

    Parameters
    ----------
    n_conditions, n_runs, n_per_cell : int
        Design: every condition occurs ``n_per_cell`` times in every run.
    n_channels : int
        Channels (or voxels).
    n_times : int | None
        Time points (Gaussian signal time course centred in the epoch); ``None`` gives 2D data.
    n_dims : int
        Dimension of the condition embedding.
    signal : float
        Pattern amplitude relative to the white noise (sd 1).
    noise_rank : int
        Rank of the correlated noise part.
    random_state : int | RandomState | None
        Seed.

    Returns
    -------
    SimulatedPatterns
    """
    rng = check_random_state(random_state)
    embedding = rng.standard_normal((n_conditions, n_dims))
    patterns = signal * embedding @ rng.standard_normal((n_dims, n_channels)) / np.sqrt(n_dims)
    mixing = rng.standard_normal((n_channels, noise_rank)) * 0.5
    n_epochs = n_conditions * n_runs * n_per_cell
    cond_index = np.tile(np.repeat(np.arange(n_conditions), n_per_cell), n_runs)
    runs = np.repeat(np.arange(1, n_runs + 1), n_conditions * n_per_cell)
    order = rng.permutation(n_epochs)  # epochs in random order, runs still labelled
    cond_index, runs = cond_index[order], runs[order]
    if n_times is None:
        time_course = np.ones(1)
    else:
        grid = np.arange(n_times)
        time_course = np.exp(-0.5 * ((grid - n_times / 2) / (n_times / 8)) ** 2)
    shape = (n_epochs, n_times or 1, n_channels)
    noise = rng.standard_normal(shape) + rng.standard_normal(shape[:2] + (noise_rank,)) @ mixing.T
    data = noise + time_course[None, :, None] * patterns[cond_index][:, None, :]
    data = np.ascontiguousarray(data.transpose(0, 2, 1))
    if n_times is None:
        data = data[:, :, 0]
    noise_cov = np.eye(n_channels) + mixing @ mixing.T if n_channels <= 2000 else None
    # Woodbury: inv(I + M M') = I - M (I + M'M)^-1 M'
    inner = np.eye(noise_rank) + mixing.T @ mixing
    rows, cols = np.triu_indices(n_conditions, k=1)
    diffs = patterns[rows] - patterns[cols]
    proj = diffs @ mixing
    quad = np.sum(diffs**2, axis=1) - np.einsum("ij,ij->i", proj, np.linalg.solve(inner, proj.T).T)
    labels = np.array([f"c{i:02d}" for i in range(n_conditions)])
    return SimulatedPatterns(
        data=data, conditions=labels[cond_index], runs=runs, patterns=patterns,
        time_course=time_course, true_rdm=quad / n_channels, noise_cov=noise_cov,
    )
