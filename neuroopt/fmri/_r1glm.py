"""Batched rank-1 GLM solver (arrays in, arrays out).

For one voxel with drift-free data ``y`` and task design ``Z`` (condition-major columns, see
:mod:`neuroopt.fmri.design`), the rank-1 GLM minimises::

    f(w, beta) = ||y - Z vec(w beta^T)||^2 = yy - 2 b^T c + c^T G c,   c = vec(w beta^T)

with ``G = Z^T Z`` and ``b = Z^T y``. Only ``G`` (shared by all voxels, or a combination of a few
shared matrices with per-voxel weights for AR(1) prewhitening) and ``b`` are needed, so the
per-voxel work is on tiny (n_basis x n_conditions) systems: alternating least squares, each half
step a small SPD solve, with the exact loss ``yy - r^T beta`` after each beta step.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

_BLOCK = 256  # voxels per parallel work item: buffers are allocated once per block


@njit(cache=True)
def _spd_solve(a, rhs, out, n):
    """Solve ``a x = rhs`` for a small SPD ``a`` (n x n, overwritten by its Cholesky factor).

    A relative ridge of 1e-12 x mean diagonal keeps the factorisation defined for the
    rank-deficient systems of empty voxels. Returns False if ``a`` has no positive diagonal.
    """
    scale = 0.0
    for i in range(n):
        scale += a[i, i]
    scale /= n
    if not scale > 0.0:
        for i in range(n):
            out[i] = 0.0
        return False
    ridge = 1e-12 * scale
    for j in range(n):
        s = a[j, j] + ridge
        for k in range(j):
            s -= a[j, k] * a[j, k]
        if s <= ridge * 1e-3:
            s = ridge
        d = np.sqrt(s)
        a[j, j] = d
        for i in range(j + 1, n):
            s = a[i, j]
            for k in range(j):
                s -= a[i, k] * a[j, k]
            a[i, j] = s / d
    for i in range(n):  # forward: L z = rhs
        s = rhs[i]
        for k in range(i):
            s -= a[i, k] * out[k]
        out[i] = s / a[i, i]
    for i in range(n - 1, -1, -1):  # backward: L^T x = z
        s = out[i]
        for k in range(i + 1, n):
            s -= a[k, i] * out[k]
        out[i] = s / a[i, i]
    return True


@njit(cache=True, parallel=True)
def rank1_als(gram_terms, term_weights, b_terms, yy_terms, n_basis, w_init, hrf_matrix,
              tol, max_iter, penalty, shrinkage):
    """Rank-1 GLM for many voxels by alternating least squares.

    Parameters
    ----------
    gram_terms : ndarray, (n_terms, p, p)
        Voxel ``v`` uses ``G_v = sum_t term_weights[t, v] * gram_terms[t]``.
    term_weights : ndarray, (n_terms, n_voxels)
    b_terms : ndarray, (n_terms, p, n_voxels)
        ``b_v = sum_t term_weights[t, v] * b_terms[t, :, v]``.
    yy_terms : ndarray, (n_terms, n_voxels)
        Same combination gives ``||y_v||^2``.
    n_basis : int
        ``p = n_basis * n_conditions`` with condition-major columns.
    w_init : ndarray, (n_basis, n_voxels)
        Initial HRF coefficients (need not be normalised).
    hrf_matrix : ndarray, (n_times, n_basis)
        Orthonormal basis on the reporting grid, used to fix the sign (positive peak).
    tol : float
        Stop when the loss decreases by less than ``tol * ||y_v||^2`` in one iteration.
    max_iter : int
        Maximum number of (beta, w) iterations; with 1, only beta is fitted for the given w.
    penalty : ndarray, (n_basis, n_basis)
        PSD matrix ``P`` of the HRF shrinkage term ``shrinkage[v] * ||beta||^2 * w^T P w``
        (invariant to the rescaling ``w -> s w, beta -> beta / s``); e.g. the projector on the
        non-canonical directions, so the term is a Gaussian prior on the derivative coefficients
        ``w_j beta_k`` of the (basis x condition) matrix.
    shrinkage : ndarray, (n_voxels,)
        Weight of the shrinkage term per voxel (0: plain rank-1 least squares).

    Returns
    -------
    w : ndarray, (n_basis, n_voxels)
        Unit-norm HRF coefficients with a positive peak.
    beta : ndarray, (n_conditions, n_voxels)
    loss : ndarray, (n_voxels,)
        Final ``||y - Z vec(w beta^T)||^2`` in the weighted metric, plus the shrinkage term.
    n_iter : ndarray of int, (n_voxels,)
    """
    n_terms, p, _ = gram_terms.shape
    n_voxels = b_terms.shape[2]
    nb = n_basis
    nc = p // nb
    n_times = hrf_matrix.shape[0]
    w_out = np.zeros((nb, n_voxels))
    beta_out = np.zeros((nc, n_voxels))
    loss_out = np.zeros(n_voxels)
    iter_out = np.zeros(n_voxels, dtype=np.int64)
    n_blocks = (n_voxels + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        buffer = np.empty((p, p))
        b = np.empty(p)
        a_beta = np.empty((nc, nc))
        r_beta = np.empty(nc)
        beta = np.empty(nc)
        a_w = np.empty((nb, nb))
        r_w = np.empty(nb)
        w = np.empty(nb)
        w_new = np.empty(nb)
        start = block * _BLOCK
        stop = min(start + _BLOCK, n_voxels)
        for v in range(start, stop):
            # combine the shared Gram terms with this voxel's weights (one term: no copy)
            yy = 0.0
            for i in range(p):
                b[i] = 0.0
            for t in range(n_terms):
                weight = term_weights[t, v]
                yy += weight * yy_terms[t, v]
                for i in range(p):
                    b[i] += weight * b_terms[t, i, v]
            if n_terms == 1 and term_weights[0, v] == 1.0:
                gram = gram_terms[0]
            else:
                gram = buffer
                for i in range(p):
                    for j in range(p):
                        gram[i, j] = 0.0
                for t in range(n_terms):
                    weight = term_weights[t, v]
                    for i in range(p):
                        for j in range(p):
                            gram[i, j] += weight * gram_terms[t, i, j]
            norm = 0.0
            for j in range(nb):
                w[j] = w_init[j, v]
                norm += w[j] * w[j]
            norm = np.sqrt(norm)
            if norm > 0.0:
                for j in range(nb):
                    w[j] /= norm
            else:
                w[0] = 1.0
            loss_prev = np.inf
            loss = yy
            n_it = 0
            for it in range(max_iter):
                n_it = it + 1
                # beta step: A[k, l] = w^T G[k, l] w, r[k] = w^T b[k]
                for k in range(nc):
                    s = 0.0
                    for j in range(nb):
                        s += w[j] * b[k * nb + j]
                    r_beta[k] = s
                    for l in range(k, nc):
                        s = 0.0
                        for j in range(nb):
                            row = k * nb + j
                            inner = 0.0
                            for i in range(nb):
                                inner += gram[row, l * nb + i] * w[i]
                            s += w[j] * inner
                        a_beta[k, l] = s
                        a_beta[l, k] = s
                lam = shrinkage[v]
                if lam > 0.0:
                    wpw = 0.0
                    for j in range(nb):
                        for i in range(nb):
                            wpw += w[j] * penalty[j, i] * w[i]
                    for k in range(nc):
                        a_beta[k, k] += lam * wpw
                _spd_solve(a_beta, r_beta, beta, nc)
                loss = yy
                for k in range(nc):
                    loss -= r_beta[k] * beta[k]
                if loss_prev - loss <= tol * yy or it + 1 == max_iter:
                    break
                loss_prev = loss
                # w step: A[j, i] = sum_kl beta_k beta_l G[k j, l i], r[j] = sum_k beta_k b[k j]
                for j in range(nb):
                    s = 0.0
                    for k in range(nc):
                        s += beta[k] * b[k * nb + j]
                    r_w[j] = s
                    for i in range(nb):
                        a_w[j, i] = 0.0
                for k in range(nc):
                    for l in range(nc):
                        bkl = beta[k] * beta[l]
                        if bkl == 0.0:
                            continue
                        for j in range(nb):
                            for i in range(j, nb):
                                a_w[j, i] += bkl * gram[k * nb + j, l * nb + i]
                for j in range(nb):
                    for i in range(j):
                        a_w[j, i] = a_w[i, j]
                if lam > 0.0:
                    bb = 0.0
                    for k in range(nc):
                        bb += beta[k] * beta[k]
                    for j in range(nb):
                        for i in range(nb):
                            a_w[j, i] += lam * bb * penalty[j, i]
                if not _spd_solve(a_w, r_w, w_new, nb):
                    break  # all betas are zero (empty or constant voxel): keep w
                norm = 0.0
                for j in range(nb):
                    norm += w_new[j] * w_new[j]
                norm = np.sqrt(norm)
                if not norm > 0.0:
                    break
                for j in range(nb):
                    w[j] = w_new[j] / norm
            # sign convention: the largest-magnitude HRF value is positive
            best = 0.0
            for t in range(n_times):
                h = 0.0
                for j in range(nb):
                    h += hrf_matrix[t, j] * w[j]
                if abs(h) > abs(best):
                    best = h
            sign = -1.0 if best < 0.0 else 1.0
            for j in range(nb):
                w_out[j, v] = sign * w[j]
            for k in range(nc):
                beta_out[k, v] = sign * beta[k]
            loss_out[v] = loss
            iter_out[v] = n_it
    return w_out, beta_out, loss_out, iter_out


@njit(cache=True, parallel=True)
def hrf_peak_fwhm(w, hrf_matrix, times):
    """Time to peak and full width at half maximum of ``h = hrf_matrix @ w`` for each voxel.

    The peak time is refined by a parabola through the three samples around the maximum; the
    half-maximum crossings by linear interpolation. Voxels whose HRF is all zero get NaN.

    Returns
    -------
    peak_time, fwhm : ndarray, (n_voxels,)
    """
    nb, n_voxels = w.shape
    n_times = times.shape[0]
    dt = times[1] - times[0]
    peak_out = np.full(n_voxels, np.nan)
    fwhm_out = np.full(n_voxels, np.nan)
    for v in prange(n_voxels):
        h = np.empty(n_times)
        i_max = 0
        for t in range(n_times):
            s = 0.0
            for j in range(nb):
                s += hrf_matrix[t, j] * w[j, v]
            h[t] = s
            if s > h[i_max]:
                i_max = t
        h_max = h[i_max]
        if not h_max > 0.0:
            continue
        peak = times[i_max]
        if 0 < i_max < n_times - 1:
            denom = h[i_max - 1] - 2.0 * h_max + h[i_max + 1]
            if denom < 0.0:
                peak += 0.5 * dt * (h[i_max - 1] - h[i_max + 1]) / denom
        peak_out[v] = peak
        half = 0.5 * h_max
        left = times[0]
        for t in range(i_max, 0, -1):
            if h[t - 1] < half:
                left = times[t - 1] + dt * (half - h[t - 1]) / (h[t] - h[t - 1])
                break
        right = times[n_times - 1]
        for t in range(i_max, n_times - 1):
            if h[t + 1] < half:
                right = times[t] + dt * (h[t] - half) / (h[t] - h[t + 1])
                break
        fwhm_out[v] = right - left
    return peak_out, fwhm_out


@njit(cache=True, parallel=True)
def lag1_autocorrelation(residuals, run_starts):
    """Lag-1 autocorrelation of each column of ``residuals``, pooled over runs.

    ``run_starts`` holds the first row of each run and ends with ``n_scans``; lags never cross a
    run boundary. Returns values clipped to [-0.99, 0.99] (0 for all-zero columns).
    """
    n_scans, n_voxels = residuals.shape
    rho = np.zeros(n_voxels)
    for v in prange(n_voxels):
        num = 0.0
        den = 0.0
        for r in range(run_starts.shape[0] - 1):
            for t in range(run_starts[r], run_starts[r + 1]):
                den += residuals[t, v] * residuals[t, v]
                if t > run_starts[r]:
                    num += residuals[t, v] * residuals[t - 1, v]
        if den > 0.0:
            rho[v] = min(max(num / den, -0.99), 0.99)
    return rho


def ar1_products(left, right, run_starts, ar1):
    """Terms of ``left^T W^T W right`` for an AR(1) whitening ``W`` applied within each run.

    With ``W y = (sqrt(1 - rho^2) y_0, y_1 - rho y_0, y_2 - rho y_1, ...)`` per run, the product is
    exactly ``S0 - rho S1 + rho^2 S2`` with ``S0 = left^T right``, ``S1`` the sum of the two lag-1
    cross products and ``S2 = S0 -`` (first and last scan of each run). So per-voxel whitened Gram
    matrices are three shared matrices combined with per-voxel weights ``(1, -rho, rho^2)``.

    Parameters
    ----------
    left : ndarray, (n_scans, p)
    right : ndarray, (n_scans, q)
    run_starts : sequence of int
        First scan of each run, then ``n_scans``.
    ar1 : bool
        If False, return only ``S0``.

    Returns
    -------
    terms : ndarray, (1 or 3, p, q)
    """
    s0 = left.T @ right
    if not ar1:
        return s0[None]
    s1 = np.zeros_like(s0)
    edges = np.zeros_like(s0)
    for start, stop in zip(run_starts[:-1], run_starts[1:]):
        s1 += left[start + 1:stop].T @ right[start:stop - 1]
        s1 += left[start:stop - 1].T @ right[start + 1:stop]
        edges += np.outer(left[start], right[start]) + np.outer(left[stop - 1], right[stop - 1])
    return np.stack([s0, s1, s0 - edges])


def ar1_column_products(data, run_starts, ar1):
    """Same as :func:`ar1_products` for ``data^T data`` restricted to its diagonal (per column)."""
    s0 = np.einsum("ij,ij->j", data, data)
    if not ar1:
        return s0[None]
    s1 = np.zeros_like(s0)
    edges = np.zeros_like(s0)
    for start, stop in zip(run_starts[:-1], run_starts[1:]):
        s1 += 2.0 * np.einsum("ij,ij->j", data[start + 1:stop], data[start:stop - 1])
        edges += data[start] ** 2 + data[stop - 1] ** 2
    return np.stack([s0, s1, s0 - edges])


def ar1_weights(rho):
    """Per-voxel weights ``(1, -rho, rho^2)`` of the terms of :func:`ar1_products`."""
    return np.stack([np.ones_like(rho), -rho, rho ** 2])
