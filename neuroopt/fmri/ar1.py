"""AR(1) coefficient of GLM residuals, corrected for the bias of the residual projection.

The lag-1 autocorrelation of least-squares residuals ``r = R y`` (``R`` projects on the
orthogonal of the design: drifts, run constants, confounds, task regressors) is biased towards
negative values, because ``R`` removes part of the noise's slow fluctuations and adds a negative
correlation of its own. With 2 runs of 200 scans, cosine drifts and 12 task regressors, AR(1)
noise of coefficient 0.3 gives a mean raw estimate of 0.22, and white noise -0.06. An
under-estimated coefficient under-whitens: the variance of the contrasts is too small and the null
z maps too wide (sd 1.07 instead of 1 on that simulation).

As in Worsley et al. (2002), the bias is corrected with the design alone. With noise ``e`` of
covariance ``V(rho)`` (``V_ij = rho^|i-j|`` within a run, independent runs), the raw estimate
``r^T L r / r^T r`` (``L`` the symmetric lag-1 matrix with 1/2 on its first off-diagonals within
each run) has numerator and denominator of expectations ``tr(L R V R)`` and ``tr(R V)``. Their
ratio ``g(rho)`` is a ratio of two polynomials in ``rho`` whose coefficients are the sums of the
diagonals of ``R L R`` and ``R`` within each run. The corrected coefficient is ``g^-1`` of the
raw one (one interpolation per voxel; ``g`` is computed once per design).

References
----------
Worsley, K. J., Liao, C. H., Aston, J., Petre, V., Duncan, G. H., Morales, F., & Evans, A. C.
(2002). A general statistical analysis for fMRI data. NeuroImage, 15(1), 1-15 (section "Bias
reduction" of the autocorrelation estimate).
"""

from __future__ import annotations

import numpy as np

from ._r1glm import lagged_sum

#: coefficients at which the bias map is tabulated (the corrected values are clipped to it)
RHO_GRID = np.linspace(-0.99, 0.99, 199)


def _orthonormal_columns(matrix, rtol=1e-10):
    """Orthonormal basis of the column space (eigenvalues of the Gram below rtol x max dropped)."""
    if matrix.shape[1] == 0:
        return matrix
    vals, vecs = np.linalg.eigh(matrix.T @ matrix)
    keep = vals > max(vals.max(), 0.0) * rtol
    return matrix @ (vecs[:, keep] / np.sqrt(vals[keep]))


def ar1_bias_map(nuisance, design, run_starts):
    """Expected raw AR(1) estimate ``g(rho)`` of a design's residuals, tabulated on :data:`RHO_GRID`.

    Parameters
    ----------
    nuisance : list of ndarray, (n_scans_r, n_nuisance_r)
        Orthonormal nuisance basis of each run (drifts, constant, confounds), as
        :func:`neuroopt.fmri.design.drift_basis` returns.
    design : ndarray, (n_scans, n_regressors)
        Task regressors of all runs stacked along scans, orthogonal to the nuisance basis of
        their run.
    run_starts : sequence of int
        First scan of each run, then ``n_scans``.

    Returns
    -------
    raw : ndarray, (n_grid,)
        Expected raw estimate at each coefficient of :data:`RHO_GRID` (increasing).
    """
    run_starts = np.asarray(run_starts, dtype=np.int64)
    n_scans = int(run_starts[-1])
    if design.shape[0] != n_scans or len(nuisance) != len(run_starts) - 1:
        raise ValueError(f"design has {design.shape[0]} scans and {len(nuisance)} nuisance "
                         f"block(s); run_starts describes {len(run_starts) - 1} run(s) of "
                         f"{n_scans} scans in total.")
    blocks = np.zeros((n_scans, sum(q.shape[1] for q in nuisance)))
    col = 0
    for q, start, stop in zip(nuisance, run_starts[:-1], run_starts[1:]):
        blocks[start:stop, col:col + q.shape[1]] = q
        col += q.shape[1]
    basis = np.concatenate([blocks, _orthonormal_columns(design)], axis=1)  # R = I - A A^T
    lag_basis = 0.5 * lagged_sum(basis, run_starts)  # L A
    inner = basis.T @ lag_basis  # A^T L A
    longest = int(np.diff(run_starts).max())
    num = np.zeros(longest)  # sums of the k-th diagonals of the runs' blocks of R L R
    den = np.zeros(longest)  # ... and of R
    for start, stop in zip(run_starts[:-1], run_starts[1:]):
        a, la = basis[start:stop], lag_basis[start:stop]
        n = stop - start
        offset = np.abs(np.subtract.outer(np.arange(n), np.arange(n))).ravel()
        r_block = np.eye(n) - a @ a.T
        lag = 0.5 * (np.eye(n, k=1) + np.eye(n, k=-1))
        m_block = lag - a @ la.T - la @ a.T + a @ inner @ a.T
        den[:n] += np.bincount(offset, weights=r_block.ravel(), minlength=n)
        num[:n] += np.bincount(offset, weights=m_block.ravel(), minlength=n)
    polyval = np.polynomial.polynomial.polyval
    return polyval(RHO_GRID, num) / polyval(RHO_GRID, den)


def correct_ar1(raw, bias_map):
    """Bias-corrected AR(1) coefficients from raw residual estimates.

    Parameters
    ----------
    raw : ndarray
        Raw lag-1 autocorrelations of the residuals (``r^T L r / r^T r``).
    bias_map : ndarray, (n_grid,)
        :func:`ar1_bias_map` of the design the residuals come from.

    Returns
    -------
    rho : ndarray
        Coefficients whose expected raw estimate is ``raw``, within ``[-0.99, 0.99]``.
    """
    # g is increasing; np.maximum.accumulate guards np.interp against rounding at the ends
    return np.interp(np.asarray(raw, dtype=float), np.maximum.accumulate(bias_map), RHO_GRID)
