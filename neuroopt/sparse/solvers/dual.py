"""Dual points and duality gaps, with dual extrapolation (Massias et al. 2018, celer).

A feasible dual point is built from a residual ``R``: the datafit gives the direction
``Theta(R)`` (e.g. ``R / n`` for least squares) and the penalty the smallest rescaling that makes
``X^T Theta`` satisfy the dual constraint. Residuals of a converging coordinate descent follow a
vector autoregression, so an extrapolation of the last few residuals is a much better dual point
than the last residual itself; the solver keeps whichever dual value is best.
"""

from __future__ import annotations

from collections import deque

import numpy as np

from ..penalties import group_norms


class AndersonExtrapolator:
    """Keep the last ``K + 1`` iterates of a converging sequence and extrapolate their limit.

    Anderson-type affine weights computed from the differences of the stored iterates. The
    working-set solver stores coefficient iterates, takes the weights with :meth:`coefficients`
    and applies them (:meth:`combine`) to the coefficients and to their residuals alike.

    Parameters
    ----------
    K : int
        Number of iterate differences used (celer uses 5).
    """

    def __init__(self, K=5):
        self.K = int(K)
        self.buffer = deque(maxlen=self.K + 1)

    def clear(self):
        """Forget stored iterates (the problem changed)."""
        self.buffer.clear()

    def push(self, iterate):
        """Store an iterate (copied)."""
        self.buffer.append(np.array(iterate, copy=True))

    def coefficients(self):
        """Affine weights (summing to 1) of the stored iterates 1..K, or ``None``.

        ``None`` when fewer than ``K + 1`` iterates are stored or the system is singular.
        """
        if len(self.buffer) < self.K + 1:
            return None
        last = [r.ravel() for r in self.buffer]
        U = np.stack([last[k + 1] - last[k] for k in range(self.K)])
        UUt = U @ U.T
        try:
            z = np.linalg.solve(UUt, np.ones(self.K))
        except np.linalg.LinAlgError:
            return None
        if not np.all(np.isfinite(z)) or z.sum() == 0:
            return None
        return z / z.sum()

    def combine(self, c, items=None):
        """``sum_k c[k] items[k + 1]`` over the stored iterates (or over ``items``)."""
        items = self.buffer if items is None else items
        acc = np.zeros_like(items[-1])
        for k in range(self.K):
            acc += c[k] * items[k + 1]
        return acc


def dual_from_residual(X, R, datafit, penalty, XtTheta=None):
    """Dual value and ``X^T Theta`` (before rescaling) at the dual point built from ``R``.

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Design restricted to the features the dual constraint is checked on.
    R : ndarray, shape (n_sensors, n_times)
        Residual.
    XtTheta : ndarray | None
        Precomputed ``X.T @ datafit.dual_direction(R)`` (saves a pass over ``X``).

    Returns
    -------
    dual : float
        Dual objective at the feasible (rescaled) point.
    XtTheta : ndarray, shape (n_features, n_times)
        ``X^T Theta(R)`` before rescaling.
    scale : float
        Rescaling factor (>= 1) applied to ``Theta(R)``.
    """
    if XtTheta is None:
        XtTheta = X.T @ datafit.dual_direction(R)
    norms = group_norms(XtTheta, penalty.n_orient)
    scale = penalty.dual_scaling(norms)
    return datafit.dual_value(R, scale), XtTheta, scale
