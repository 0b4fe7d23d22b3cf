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
            # one sweep over Q for the whole block (Q is the largest array the kernel streams)
            if n_orient == 1:
                for j in range(m):
                    gj = G[s, j]
                    if gj != 0.0:
                        for t in range(n_times):
                            Q[j, t] += gj * delta[0, t]
            elif n_orient == 3:
                for j in range(m):
                    g0 = G[s, j]
                    g1 = G[s + 1, j]
                    g2 = G[s + 2, j]
                    for t in range(n_times):
                        Q[j, t] += g0 * delta[0, t] + g1 * delta[1, t] + g2 * delta[2, t]
            else:
                for j in range(m):
                    for o in range(n_orient):
                        gjo = G[s + o, j]
                        if gjo != 0.0:
                            for t in range(n_times):
                                Q[j, t] += gjo * delta[o, t]
    return max_change


@njit(cache=True, nogil=True)
def _sym3_max_eig(a00, a11, a22, a01, a02, a12):
    # trigonometric solution of the characteristic cubic of a symmetric 3x3 matrix
    off = a01 * a01 + a02 * a02 + a12 * a12
    q = (a00 + a11 + a22) / 3.0
    d0, d1, d2 = a00 - q, a11 - q, a22 - q
    p2 = d0 * d0 + d1 * d1 + d2 * d2 + 2.0 * off
    if p2 <= 0.0:
        return q
    p = np.sqrt(p2 / 6.0)
    b00, b11, b22 = d0 / p, d1 / p, d2 / p
    b01, b02, b12 = a01 / p, a02 / p, a12 / p
    det = (b00 * (b11 * b22 - b12 * b12) - b01 * (b01 * b22 - b12 * b02)
           + b02 * (b01 * b12 - b11 * b02))
    r = min(1.0, max(-1.0, det / 2.0))
    return q + 2.0 * p * np.cos(np.arccos(r) / 3.0)


@njit(cache=True, nogil=True)
def column_triplet_max_eig(X):
    """Largest eigenvalue of ``X_g^T X_g`` for each block of 3 consecutive columns of ``X``."""
    n, p = X.shape
    n_groups = p // 3
    acc = np.zeros((n_groups, 6))
    for i in range(n):
        for g in range(n_groups):
            x0 = X[i, 3 * g]
            x1 = X[i, 3 * g + 1]
            x2 = X[i, 3 * g + 2]
            acc[g, 0] += x0 * x0
            acc[g, 1] += x1 * x1
            acc[g, 2] += x2 * x2
            acc[g, 3] += x0 * x1
            acc[g, 4] += x0 * x2
            acc[g, 5] += x1 * x2
    out = np.empty(n_groups)
    for g in range(n_groups):
        out[g] = _sym3_max_eig(acc[g, 0], acc[g, 1], acc[g, 2], acc[g, 3], acc[g, 4], acc[g, 5])
    return out


@njit(cache=True, nogil=True)
def gram_triplet_max_eig(G):
    """Largest eigenvalue of each 3x3 diagonal block of the symmetric matrix ``G``."""
    n_groups = G.shape[0] // 3
    out = np.empty(n_groups)
    for g in range(n_groups):
        s = 3 * g
        out[g] = _sym3_max_eig(G[s, s], G[s + 1, s + 1], G[s + 2, s + 2], G[s, s + 1],
                               G[s, s + 2], G[s + 1, s + 2])
    return out

