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


@njit(cache=True)
def _combine_terms(gram_terms, b_terms, yy_terms, weights, v, gram, b):
    """``gram = sum_t weights[t] gram_terms[t]``, same for ``b`` (column ``v``); returns yy."""
    n_terms, p, _ = gram_terms.shape
    yy = 0.0
    for i in range(p):
        b[i] = 0.0
        for j in range(p):
            gram[i, j] = 0.0
    for t in range(n_terms):
        weight = weights[t]
        if weight == 0.0:
            continue
        yy += weight * yy_terms[t, v]
        for i in range(p):
            b[i] += weight * b_terms[t, i, v]
            for j in range(p):
                gram[i, j] += weight * gram_terms[t, i, j]
    return yy


# reassociation lets LLVM vectorise the small dot products (no NaN/inf assumptions)
@njit(cache=True, fastmath={"reassoc", "contract", "nsz"})
def _als_voxel(gram, b, yy, w, beta, nb, tol, max_iter, penalty, lam, a_beta, r_beta, a_w, r_w,
               w_new):
    """Alternating least squares of one voxel, ``w`` (unit norm) and ``beta`` updated in place.

    Returns the final loss ``yy - 2 b^T c + c^T G c`` plus the shrinkage term, and the number
    of (beta, w) iterations.
    """
    nc = beta.shape[0]
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
    return loss, n_it


@njit(cache=True)
def _start_direction(w_init, v, w):
    """Copy column ``v`` of ``w_init`` into ``w`` with unit norm (first basis vector if zero)."""
    nb = w.shape[0]
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


@njit(cache=True)
def _store_signed(w, beta, hrf_matrix, v, w_out, beta_out):
    """Store ``w``, ``beta`` with the sign convention: the largest-magnitude HRF value is > 0."""
    nb = w.shape[0]
    best = 0.0
    for t in range(hrf_matrix.shape[0]):
        h = 0.0
        for j in range(nb):
            h += hrf_matrix[t, j] * w[j]
        if abs(h) > abs(best):
            best = h
    sign = -1.0 if best < 0.0 else 1.0
    for j in range(nb):
        w_out[j, v] = sign * w[j]
    for k in range(beta.shape[0]):
        beta_out[k, v] = sign * beta[k]


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
    w_out = np.zeros((nb, n_voxels))
    beta_out = np.zeros((nc, n_voxels))
    loss_out = np.zeros(n_voxels)
    iter_out = np.zeros(n_voxels, dtype=np.int64)
    n_blocks = (n_voxels + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        buffer = np.empty((p, p))
        b = np.empty(p)
        weights = np.empty(n_terms)
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
            if n_terms == 1 and term_weights[0, v] == 1.0:
                # one shared Gram matrix (OLS): no per-voxel copy
                gram = gram_terms[0]
                yy = yy_terms[0, v]
                for i in range(p):
                    b[i] = b_terms[0, i, v]
            else:
                gram = buffer
                for t in range(n_terms):
                    weights[t] = term_weights[t, v]
                yy = _combine_terms(gram_terms, b_terms, yy_terms, weights, v, buffer, b)
            _start_direction(w_init, v, w)
            loss, n_it = _als_voxel(gram, b, yy, w, beta, nb, tol, max_iter, penalty,
                                    shrinkage[v], a_beta, r_beta, a_w, r_w, w_new)
            _store_signed(w, beta, hrf_matrix, v, w_out, beta_out)
            loss_out[v] = loss
            iter_out[v] = n_it
    return w_out, beta_out, loss_out, iter_out


@njit(cache=True, parallel=True)
def leading_hrf_direction(coef, n_basis, start, n_power=30):
    """Leading right singular vector of each voxel's (condition x basis) coefficient matrix.

    Power iteration on ``C^T C`` from ``start`` (e.g. the canonical HRF coefficients), used to
    initialise the alternating least squares with the rank-1 SVD of the unconstrained GLM.

    Parameters
    ----------
    coef : ndarray, (n_conditions * n_basis, n_voxels)
        Unconstrained GLM coefficients, condition-major.
    n_basis : int
    start : ndarray, (n_basis,)
    n_power : int
        Maximum number of power iterations (stops earlier once the direction is stable).

    Returns
    -------
    w : ndarray, (n_basis, n_voxels)
        Unit-norm directions (zero for an all-zero coefficient matrix).
    """
    p, n_voxels = coef.shape
    nb = n_basis
    nc = p // nb
    out = np.zeros((nb, n_voxels))
    n_blocks = (n_voxels + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        w = np.empty(nb)
        u = np.empty(nc)
        w_new = np.empty(nb)
        for v in range(block * _BLOCK, min((block + 1) * _BLOCK, n_voxels)):
            for j in range(nb):
                w[j] = start[j]
            norm = 0.0
            for it in range(n_power):
                for k in range(nc):
                    s = 0.0
                    for j in range(nb):
                        s += coef[k * nb + j, v] * w[j]
                    u[k] = s
                norm = 0.0
                for j in range(nb):
                    s = 0.0
                    for k in range(nc):
                        s += coef[k * nb + j, v] * u[k]
                    w_new[j] = s
                    norm += s * s
                norm = np.sqrt(norm)
                if not norm > 0.0:
                    break
                change = 0.0
                for j in range(nb):
                    value = w_new[j] / norm
                    change += (value - w[j]) * (value - w[j])
                    w[j] = value
                if change < 1e-20:
                    break
            if norm > 0.0:
                for j in range(nb):
                    out[j, v] = w[j]
    return out


@njit(cache=True, parallel=True)
def hrf_peak_fwhm(w, hrf_matrix, times):
    """Time to peak and full width at half maximum of ``h = hrf_matrix @ w`` for each voxel.

    The peak time is refined by a parabola through the three samples around the maximum; the
    half-maximum crossings by linear interpolation. Voxels whose HRF is all zero get NaN.

    Returns
    -------
    peak_time, fwhm : ndarray, (n_voxels,)
    """
    n_voxels = w.shape[1]
    n_times = times.shape[0]
    peak_out = np.full(n_voxels, np.nan)
    fwhm_out = np.full(n_voxels, np.nan)
    n_blocks = (n_voxels + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        h = np.empty(n_times)
        for v in range(block * _BLOCK, min((block + 1) * _BLOCK, n_voxels)):
            _peak_fwhm_voxel(w, hrf_matrix, times, v, h, peak_out, fwhm_out)
    return peak_out, fwhm_out


@njit(cache=True)
def _peak_fwhm_voxel(w, hrf_matrix, times, v, h, peak_out, fwhm_out):
    """Peak time and FWHM of voxel ``v`` (see :func:`hrf_peak_fwhm`), ``h`` is a buffer."""
    nb = w.shape[0]
    n_times = times.shape[0]
    dt = times[1] - times[0]
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
        return
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


def lagged_sum(array, run_starts):
    """``out[t] = array[t - 1] + array[t + 1]`` within each run (missing neighbours count 0).

    ``lagged_sum(left)^T right`` is the sum of the two lag-1 cross products of ``left`` and
    ``right``, so the lagged terms cost one matrix product.
    """
    out = np.zeros_like(array)
    for start, stop in zip(run_starts[:-1], run_starts[1:]):
        out[start:stop - 1] += array[start + 1:stop]
        out[start + 1:stop] += array[start:stop - 1]
    return out


def _edge_rows(run_starts):
    starts = np.asarray(run_starts[:-1])
    return np.concatenate([starts, np.asarray(run_starts[1:]) - 1])


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
    if not ar1:
        return (left.T @ right)[None]
    p = left.shape[1]
    # one product for S0 and S1: [left, lagged left]^T right
    both = np.concatenate([left, lagged_sum(left, run_starts)], axis=1).T @ right
    edges = _edge_rows(run_starts)
    out = np.empty((3, p, right.shape[1]))
    out[0] = both[:p]
    out[1] = both[p:]
    np.subtract(both[:p], left[edges].T @ right[edges], out=out[2])
    return out


@njit(cache=True, parallel=True)
def _column_lag_products(data, run_starts):
    n_scans, n_columns = data.shape
    out = np.zeros((3, n_columns))
    n_blocks = (n_columns + _BLOCK - 1) // _BLOCK
    for block in prange(n_blocks):
        first = block * _BLOCK
        last = min(first + _BLOCK, n_columns)
        for r in range(run_starts.shape[0] - 1):
            start, stop = run_starts[r], run_starts[r + 1]
            for t in range(start, stop):
                for v in range(first, last):
                    x = data[t, v]
                    out[0, v] += x * x
                    if t > start:
                        out[1, v] += 2.0 * x * data[t - 1, v]
            for v in range(first, last):
                out[2, v] += data[start, v] ** 2 + data[stop - 1, v] ** 2
        for v in range(first, last):
            out[2, v] = out[0, v] - out[2, v]
    return out


def ar1_column_products(data, run_starts, ar1):
    """Same as :func:`ar1_products` for ``data^T data`` restricted to its diagonal (per column)."""
    if not ar1:
        return np.einsum("ij,ij->j", data, data)[None]
    return _column_lag_products(np.ascontiguousarray(data),
                                np.asarray(run_starts, dtype=np.int64))


def ar1_weights(rho):
    """Per-voxel weights ``(1, -rho, rho^2)`` of the terms of :func:`ar1_products`."""
    return np.stack([np.ones_like(rho), -rho, rho ** 2])


def rank1_precision(gram, w, beta):
    """Gauss-Newton information of the rank-1 fit in the (shape ratios, betas) parametrisation.

    With ``w' = w / w[0] = (1, a)`` and ``beta' = w[0] beta`` the model is
    ``Z vec(w' beta'^T)``; its Jacobian with respect to ``(a, beta')`` gives ``J^T J`` from the
    Gram matrix alone. ``sigma^2 inv(J^T J)`` approximates the covariance of the estimates.

    Parameters
    ----------
    gram : ndarray, (p, p)
    w : ndarray, (n_basis, n_voxels)
        HRF coefficients with a non-zero first (canonical) entry.
    beta : ndarray, (n_conditions, n_voxels)

    Returns
    -------
    info : ndarray, (n_voxels, n_basis - 1 + n_conditions, n_basis - 1 + n_conditions)
    """
    nb = w.shape[0]
    nc = beta.shape[0]
    g4 = gram.reshape(nc, nb, nc, nb)
    w_ratio = w / w[0]
    beta_scaled = beta * w[0]
    g_w = np.einsum("kjli,iv->kjlv", g4, w_ratio, optimize=True)  # G_kl w'
    info_bb = np.einsum("jv,kjlv->vkl", w_ratio, g_w, optimize=True)
    info_ab = np.einsum("kv,kjlv->vjl", beta_scaled, g_w, optimize=True)[:, 1:]
    info_aa = np.einsum("kv,lv,kjli->vji", beta_scaled, beta_scaled, g4, optimize=True)[:, 1:, 1:]
    return np.concatenate([np.concatenate([info_aa, info_ab], axis=2),
                           np.concatenate([info_ab.transpose(0, 2, 1), info_bb], axis=2)],
                          axis=1)


@njit(cache=True)
def _invert_spd(a, out):
    """Inverse of a small SPD matrix by Gauss-Jordan elimination (no pivoting needed)."""
    d = a.shape[0]
    work = a.copy()
    for i in range(d):
        for j in range(d):
            out[i, j] = 1.0 if i == j else 0.0
    for k in range(d):
        pivot = work[k, k]
        for j in range(d):
            work[k, j] /= pivot
            out[k, j] /= pivot
        for i in range(d):
            if i != k:
                factor = work[i, k]
                for j in range(d):
                    work[i, j] -= factor * work[k, j]
                    out[i, j] -= factor * out[k, j]


@njit(cache=True)
def _em_step(estimates, noise_prec, mean, cov):
    """One EM step of :func:`normal_means_em`: the new mean and covariance."""
    n, d = estimates.shape
    prior_prec = np.empty((d, d))
    _invert_spd(cov, prior_prec)
    prior_shift = prior_prec @ mean
    post_prec = np.empty((d, d))
    post_cov = np.empty((d, d))
    rhs = np.empty(d)
    post_means = np.empty((n, d))
    cov_sum = np.zeros((d, d))
    for v in range(n):
        for i in range(d):
            s = prior_shift[i]
            for j in range(d):
                post_prec[i, j] = prior_prec[i, j] + noise_prec[v, i, j]
                s += noise_prec[v, i, j] * estimates[v, j]
            rhs[i] = s
        _invert_spd(post_prec, post_cov)
        for i in range(d):
            s = 0.0
            for j in range(d):
                s += post_cov[i, j] * rhs[j]
                cov_sum[i, j] += post_cov[i, j]
            post_means[v, i] = s
    new_mean = np.zeros(d)
    for v in range(n):
        for i in range(d):
            new_mean[i] += post_means[v, i] / n
    new_cov = cov_sum / n
    for v in range(n):
        for i in range(d):
            for j in range(d):
                new_cov[i, j] += (post_means[v, i] - new_mean[i]) * (
                    post_means[v, j] - new_mean[j]) / n
    return new_mean, new_cov


def normal_means_em(estimates, noise_cov, n_iter=500, tol=1e-6):
    """Population mean and covariance of noisy vectors (normal-normal model, EM).

    ``estimates[v] ~ N(theta_v, noise_cov[v])`` with ``theta_v ~ N(mean, cov)``: the marginal
    likelihood is maximised over ``(mean, cov)`` by expectation-maximisation (the random-effects
    model of meta-analysis, in several dimensions).

    Parameters
    ----------
    estimates : ndarray, (n, d)
    noise_cov : ndarray, (n, d, d)
        SPD noise covariance of each estimate.
    n_iter : int
        Maximum number of EM iterations.
    tol : float
        Stop when the mean and covariance change by less than ``tol`` (relative).

    Returns
    -------
    mean : ndarray, (d,)
    cov : ndarray, (d, d)
    """
    estimates = np.ascontiguousarray(estimates, dtype=np.float64)
    n, d = estimates.shape
    noise_prec = np.ascontiguousarray(np.linalg.inv(noise_cov))
    cov = np.atleast_2d(np.cov(estimates.T)) + 1e-12 * np.eye(d)
    weights = np.linalg.inv(noise_cov + cov[None])
    mean = np.linalg.solve(weights.sum(0), np.einsum("nij,nj->i", weights, estimates))
    for _ in range(n_iter):
        new_mean, new_cov = _em_step(estimates, noise_prec, mean, cov)
        scale = np.sqrt(np.trace(new_cov) / d)
        change = max(np.abs(new_cov - cov).max() / np.abs(new_cov).max(),
                     np.abs(new_mean - mean).max() / (np.abs(new_mean).max() + scale))
        mean, cov = new_mean, new_cov
        if change < tol:
            break
    return mean, cov
