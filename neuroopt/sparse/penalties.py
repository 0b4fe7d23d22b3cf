"""Group penalties for the multitask solvers.

A coefficient matrix ``B`` has shape (n_features, n_times) inside the solvers (the transpose of the
estimators' ``coef_``); a group is ``n_orient`` consecutive rows, and its norm is the Frobenius
norm of that (n_orient, n_times) block.
"""

from __future__ import annotations

import numpy as np

from .base import BasePenalty


def group_norms(B, n_orient):
    """Frobenius norm of each block of ``n_orient`` consecutive rows of ``B`` (n_groups,)."""
    B = np.asarray(B)
    flat = B.reshape(B.shape[0] // n_orient, n_orient * int(np.prod(B.shape[1:])))
    sq = np.einsum("ij,ij->i", flat, flat)
    return np.sqrt(sq)


class L21(BasePenalty):
    """Weighted L2,1 penalty ``alpha * sum_g weights[g] * ||B_g||_F``.

    Parameters
    ----------
    alpha : float
        Regularization strength (>= 0).
    n_orient : int
        Rows per group (1: fixed orientation, 3: free orientation).
    weights : ndarray, shape (n_groups,) | None
        Non-negative group weights (``None``: all ones). ``np.inf`` removes a group from the
        model (its coefficients are kept at zero), as iterative reweighting does.
    """

    def __init__(self, alpha, n_orient=1, weights=None):
        self.alpha = float(alpha)
        self.n_orient = int(n_orient)
        self.weights = None if weights is None else np.asarray(weights, dtype=float)

    def group_weights(self, n_groups):
        """Return the weights as an array of length ``n_groups``."""
        if self.weights is None:
            return np.ones(n_groups)
        if self.weights.shape != (n_groups,):
            raise ValueError(
                f"weights must have shape ({n_groups},) (one per group), got {self.weights.shape}."
            )
        return self.weights

    def thresholds(self, n_groups):
        """Per-group thresholds ``alpha * weights`` (inf for removed groups)."""
        return self.alpha * self.group_weights(n_groups)

    def subset(self, groups):
        """The same penalty restricted to the groups ``groups`` (indices)."""
        weights = None if self.weights is None else self.weights[groups]
        return L21(self.alpha, self.n_orient, weights)

    def value(self, B):
        """Penalty value at ``B`` (n_features, n_times)."""
        norms = group_norms(B, self.n_orient)
        thr = self.thresholds(norms.size)
        nonzero = norms > 0
        return float(np.sum(thr[nonzero] * norms[nonzero]))

    def dual_scaling(self, grad_norms):
        """Smallest factor s >= 1 such that ``grad / s`` satisfies the dual constraint.

        ``grad_norms[g]`` is ``||X_g^T Theta||_F``; the dual constraint of the L2,1 norm is
        ``||X_g^T Theta||_F <= alpha * weights[g]`` for every group.
        """
        thr = self.thresholds(grad_norms.size)
        finite = np.isfinite(thr)
        if not np.any(finite):
            return 1.0
        with np.errstate(divide="ignore", invalid="ignore"):
            ratios = np.where(thr[finite] > 0, grad_norms[finite] / thr[finite],
                              np.where(grad_norms[finite] > 0, np.inf, 0.0))
        return float(max(1.0, ratios.max(initial=0.0)))

    def subdiff_distance(self, B, grad):
        """Distance of ``-grad`` to the subdifferential, per group (the KKT violation).

        ``grad`` is the datafit gradient with respect to ``B`` (same shape). At an optimum every
        entry is 0: for a non-zero group ``grad_g = -alpha w_g B_g / ||B_g||``, for a zero group
        ``||grad_g|| <= alpha w_g``.
        """
        no = self.n_orient
        n_groups = B.shape[0] // no
        thr = self.thresholds(n_groups)
        Bg = B.reshape(n_groups, -1)
        gg = grad.reshape(n_groups, -1)
        norms = np.sqrt((Bg ** 2).sum(axis=1))
        dist = np.empty(n_groups)
        zero = norms == 0
        gnorm = np.sqrt((gg[zero] ** 2).sum(axis=1))
        with np.errstate(invalid="ignore"):
            dist[zero] = np.maximum(0.0, gnorm - thr[zero])
        nz = ~zero
        target = -thr[nz, None] * Bg[nz] / norms[nz, None]
        dist[nz] = np.sqrt(((gg[nz] - target) ** 2).sum(axis=1))
        return dist
