"""Warm starts along a regularization path: the record of a pass over ``X`` and the working set
it predicts for the next alpha.

Each outer iteration of the working-set solver evaluates ``X_g^T Theta(R)`` for the groups not
screened; its last evaluation at one alpha is handed to the solve at the next alpha of a path
(:class:`PassRecord`). The dual optimum ``Theta*(alpha)`` is piecewise smooth in ``alpha`` (piecewise
linear for the Lasso), so the correlations at the next alpha are predicted by extrapolating those
of the last two alphas linearly (:func:`predicted_norms`: the predictor step of path following).
The groups predicted to violate their dual constraint are put in the first working set; the pass
that follows checks every group, so a wrong prediction costs one more working set, never a wrong
answer. On the free-orientation MxNE problem of the sample data the sequential strong rule
(Tibshirani et al. 2012, ``||X_g^T Theta|| >= 2 alpha_new - alpha_old``) keeps 2 000-4 900 of
11 430 groups (the depth-weighted gain of neighbouring sources is strongly correlated), far too
many for a working set, while the extrapolated correlations single out the few groups that enter.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .gram import group_columns


@dataclass
class PassRecord:
    """One evaluation of ``X_g^T Theta(R)`` by the working-set solver.

    Attributes
    ----------
    residual : ndarray, shape (n_sensors, n_times)
        The residual ``R`` whose dual direction was evaluated.
    cols : ndarray | None
        Columns with ``residual = Y - X[:, cols] B_cols`` (None if unknown).
    B_cols : ndarray | None
        Those columns' coefficients.
    groups : ndarray of int
        The groups evaluated (sorted).
    norms : ndarray, shape (groups.size,)
        ``||X_g^T Theta(R)||_F`` of each (rounded up when from the gradient cache).
    correlations : ndarray, shape (groups.size * n_orient, n_times) | None
        ``X_g^T Theta(R)`` itself, stacked, when it was computed (for :func:`predicted_norms`).
    alpha : float
        The penalty's ``alpha`` at the evaluation.
    weights : ndarray | None
        The penalty's group weights (``None``: all ones).
    """

    residual: np.ndarray
    cols: np.ndarray | None
    B_cols: np.ndarray | None
    groups: np.ndarray
    norms: np.ndarray
    correlations: np.ndarray | None = None
    alpha: float = np.nan
    weights: np.ndarray | None = None

    def restricted(self, groups, n_orient):
        """The same record on ``groups``, a subset of :attr:`groups`."""
        if groups.size == self.groups.size:
            return self
        pos = np.searchsorted(self.groups, groups)
        corr = None
        if self.correlations is not None:
            corr = self.correlations[group_columns(pos, n_orient)]
        return PassRecord(self.residual, self.cols, self.B_cols, groups, self.norms[pos], corr,
                          self.alpha, self.weights)


def _same_weights(a, b):
    if a is None or b is None:
        return a is None and b is None
    return a.shape == b.shape and np.array_equal(a, b)


def predicted_norms(last, previous, penalty, groups, current):
    """Norms of ``X_g^T Theta*`` at the penalty's alpha, extrapolated from the last two path points.

    Parameters
    ----------
    last, previous : PassRecord | None
        The last pass at the previous alpha of the path and the one at the alpha before it.
    penalty : L21
        The new penalty (its ``alpha`` and ``weights``).
    groups : ndarray of int
        The groups to predict (sorted).
    current : ndarray, shape (groups.size,)
        Their current norms, kept where no prediction is possible.

    Returns
    -------
    norms : ndarray, shape (groups.size,) | None
        For each group held by both passes: the norm of ``C_last + s (C_last - C_previous)``
        with ``s = (alpha - alpha_last) / (alpha_last - alpha_previous)`` (``C``: the stacked
        ``X_g^T Theta``); ``current`` for the others. None when no extrapolation applies: a
        record without its correlations, the alphas not decreasing, or the weights changed
        (reweighting).
    """
    alpha, weights = getattr(penalty, "alpha", np.nan), getattr(penalty, "weights", None)
    if last is None or previous is None or last.correlations is None \
            or previous.correlations is None:
        return None
    if not (previous.alpha > last.alpha > alpha) or not (
            _same_weights(last.weights, weights) and _same_weights(previous.weights, weights)):
        return None
    n_orient = penalty.n_orient
    in_last = np.isin(groups, last.groups)
    in_both = in_last.copy()
    in_both[in_last] = np.isin(groups[in_last], previous.groups)
    if not np.any(in_both):
        return None
    common = groups[in_both]

    def rows(record):  # the rows of ``common`` in the record (no copy when it is all of them)
        if record.groups.size == common.size:
            return record.correlations
        pos = np.searchsorted(record.groups, common)
        return record.correlations[group_columns(pos, n_orient)]

    # ||(1 + s) a - s b||^2 from the group sums of a.a, a.b and b.b: no (groups, times) temporary
    step = (alpha - last.alpha) / (last.alpha - previous.alpha)
    a, b = rows(last), rows(previous)
    n_common = common.size

    def group_dot(u, v):
        return np.einsum("ij,ij->i", u, v).reshape(n_common, n_orient).sum(axis=1)

    sq = ((1.0 + step) ** 2 * group_dot(a, a) - 2.0 * step * (1.0 + step) * group_dot(a, b)
          + step ** 2 * group_dot(b, b))
    out = np.array(current, dtype=float)
    out[in_both] = np.sqrt(np.maximum(sq, 0.0))
    return out
