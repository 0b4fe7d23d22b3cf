"""Numba block coordinate descent on a working set, in Gram form.

On the working set the datafit with fixed noise is ``B^T G B / 2 - <H, B>`` (plus a constant),
with ``G = X_ws^T M X_ws`` and ``H = X_ws^T M Y``. The kernel keeps ``Q = G B`` up to date, so a
block update costs ``n_ws * n_orient * n_times`` and never touches the sensors.
"""

from __future__ import annotations

import numpy as np
from numba import njit


@njit(cache=True, nogil=True)
def bcd_gram_epochs(G, H, B, Q, lipschitz, thresholds, n_orient, n_epochs):
    """Run ``n_epochs`` cyclic proximal block updates in place; return the last max change.

    Parameters
    ----------
    G : ndarray, shape (m, m)
        Gram matrix of the working set under the datafit metric.
    H : ndarray, shape (m, n_times)
        ``X_ws^T M Y``.
    B, Q : ndarray, shape (m, n_times)
        Coefficients and ``G @ B``, both updated in place.
    lipschitz : ndarray, shape (m // n_orient,)
        Largest eigenvalue of each diagonal block of ``G``.
    thresholds : ndarray, shape (m // n_orient,)
        Penalty weight of each group (``alpha * w_g``; ``inf`` keeps the group at zero).
    """
    m, n_times = B.shape
    n_groups = m // n_orient
    z = np.empty((n_orient, n_times))
    delta = np.empty((n_orient, n_times))
    max_change = 0.0
    for _ in range(n_epochs):
        max_change = 0.0
        for g in range(n_groups):
            L = lipschitz[g]
            if L <= 0.0:
                continue
            s = g * n_orient
            sq = 0.0
            for o in range(n_orient):
                for t in range(n_times):
                    v = B[s + o, t] - (Q[s + o, t] - H[s + o, t]) / L
                    z[o, t] = v
                    sq += v * v
            norm = np.sqrt(sq)
            thr = thresholds[g] / L
            shrink = 0.0
            if norm > thr:
                shrink = 1.0 - thr / norm
            changed = False
            for o in range(n_orient):
                for t in range(n_times):
                    new = shrink * z[o, t]
                    d = new - B[s + o, t]
                    delta[o, t] = d
                    if d != 0.0:
                        changed = True
                        if abs(d) > max_change:
                            max_change = abs(d)
                    B[s + o, t] = new
            if not changed:
                continue
            for j in range(m):
                for o in range(n_orient):
                    gjo = G[s + o, j]
                    if gjo != 0.0:
                        for t in range(n_times):
                            Q[j, t] += gjo * delta[o, t]
    return max_change
