"""Cluster-based permutation test of group curves over time (sign flips, MNE's implementation)."""

from __future__ import annotations

import warnings
from dataclasses import dataclass

import numpy as np

from ..utils import check_array_2d, check_option, logger


@dataclass
class ClusterTestResult:
    """Clusters of a one-sample test over time.

    Attributes
    ----------
    t_obs : ndarray, shape (n_times,)
        Observed t values.
    clusters : list of (int, int)
        ``(start, stop)`` sample index ranges (stop exclusive) of each cluster.
    p_values : ndarray, shape (n_clusters,)
        Cluster-level p-values (max-statistic permutation distribution).
    """

    t_obs: np.ndarray
    clusters: list
    p_values: np.ndarray

    def significant_mask(self, alpha=0.05):
        """Boolean mask over time of samples in clusters with ``p < alpha``."""
        mask = np.zeros(self.t_obs.size, bool)
        for (start, stop), p_value in zip(self.clusters, self.p_values):
            if p_value < alpha:
                mask[start:stop] = True
        return mask


def smallest_sign_flip_p(n_subjects, tail=1):
    """The smallest p-value a sign-flip test of ``n_subjects`` curves can give.

    A sign-flip test has ``2 ** n_subjects`` sign patterns (half of them, two-sided), the
    observed one included, so even the exact test (every pattern) cannot give p below one over
    their number; a random subset of ``n_permutations`` patterns cannot go below
    ``1 / n_permutations`` either. With 2 subjects, one-sided: 1/4 = 0.25; p < 0.05 needs 5
    subjects one-sided (1/32), 6 two-sided.

    Parameters
    ----------
    n_subjects : int
        Number of curves (subjects) in the test.
    tail : 1 | 0 | -1
        As in :func:`cluster_test_1samp`.

    Returns
    -------
    p : float
    """
    check_option("tail", tail, (1, 0, -1))
    return 1.0 / 2 ** (int(n_subjects) - (tail == 0))


def cluster_test_1samp(x, *, n_permutations=1024, threshold=None, tail=1, random_state=0):
    """Sign-flip cluster permutation test of ``x`` against zero over time.

    Parameters
    ----------
    x : ndarray, shape (n_subjects, n_times)
        One curve per subject (e.g. AUC - 0.5, or a model-fit difference).
    n_permutations : int
        Sign-flip permutations (all of them when fewer exist).
    threshold : float | None
        Cluster-forming t threshold; ``None`` uses the t value of p = 0.05 (one- or two-sided).
    tail : 1 | 0 | -1
        ``1`` tests x > 0, ``0`` both directions, ``-1`` x < 0.
    random_state : int | None
        Seed of the permutations.

    Returns
    -------
    ClusterTestResult
    """
    from mne.stats import permutation_cluster_1samp_test

    x = check_array_2d(x, "x")
    check_option("tail", tail, (1, 0, -1))
    if x.shape[0] < 2:
        raise ValueError(f"x must hold at least 2 subjects (rows), got {x.shape[0]}.")
    if np.all(np.ptp(x, axis=0) == 0) and np.all(x == 0):
        return ClusterTestResult(np.zeros(x.shape[1]), [], np.array([]))
    with warnings.catch_warnings():
        # "no clusters found" is a valid outcome, reported by an empty result
        warnings.filterwarnings("ignore", message="No clusters found")
        t_obs, clusters, p_values, _ = permutation_cluster_1samp_test(
            x, threshold=threshold, n_permutations=n_permutations, tail=tail, out_type="mask",
            rng=random_state, verbose=False,
        )
    ranges = []
    for cluster in clusters:
        # MNE gives a tuple of slices for 1D data, a boolean mask otherwise
        if isinstance(cluster, tuple) and isinstance(cluster[0], slice):
            ranges.append((int(cluster[0].start), int(cluster[0].stop)))
        else:
            idx = np.flatnonzero(cluster)
            ranges.append((int(idx[0]), int(idx[-1]) + 1))
    logger.info(f"cluster test: {len(ranges)} cluster(s), p = {np.round(p_values, 4).tolist()}")
    return ClusterTestResult(np.asarray(t_obs), ranges, np.asarray(p_values))
