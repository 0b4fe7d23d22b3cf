"""Noise covariance and precision from residuals, for noise-normalised RSA distances.

The estimators follow the conventions of rsatoolbox's ``cov_from_residuals`` /
``prec_from_residuals`` (same degrees of freedom, same Ledoit-Wolf and Schaefer-Strimmer
shrinkage), so that distances computed here are on rsatoolbox's scale. Two things differ:

* only the scalar sums the shrinkage intensity needs are computed, so the cost is one Gram matrix
  (``X.T @ X`` or ``X @ X.T``) instead of one outer product per residual row;
* when there are fewer residual rows than channels (fMRI ROIs with thousands of voxels), the
  shrunk covariance is a diagonal plus a rank-``n`` term and its inverse is applied with the
  Woodbury identity (:class:`LowRankPrecision`); the ``n_channels x n_channels`` matrix is never
  formed.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from scipy import linalg

from ..utils import check_finite, check_option, logger

NOISE_METHODS = ("diag", "full", "shrinkage_eye", "shrinkage_diag")

# rows of residuals per block when streaming time-resolved residuals through the Gram matrix
_BLOCK_ROWS = 16384


class LowRankPrecision:
    """Inverse of ``diag(d) + c * X.T @ X`` applied with the Woodbury identity.

    Parameters
    ----------
    diag : ndarray, shape (n_channels,)
        Diagonal part ``d`` of the covariance (strictly positive).
    factor : ndarray, shape (n_rows, n_channels)
        Low-rank factor ``X`` of the covariance.
    scale : float
        Weight ``c >= 0`` of the low-rank part.

    Notes
    -----
    ``inv(D + c X'X) = D^-1 - D^-1 X' (I/c + X D^-1 X')^-1 X D^-1``: applying it costs
    ``O(n_rows * n_channels)`` per vector after an ``n_rows x n_rows`` Cholesky factorisation.
    """

    def __init__(self, diag, factor, scale):
        self.diag = np.asarray(diag, dtype=np.float64)
        self.factor = np.asarray(factor, dtype=np.float64)
        self.scale = float(scale)
        if np.any(self.diag <= 0):
            raise ValueError(
                "The diagonal part of the noise covariance has zero entries (channels without "
                "residual variance); drop those channels or use noise='shrinkage_eye'."
            )
        self._diag_inv = 1.0 / self.diag
        self._scaled_factor = self.factor * self._diag_inv  # X D^-1
        if self.scale > 0:
            inner = self.factor @ self._scaled_factor.T
            inner[np.diag_indices_from(inner)] += 1.0 / self.scale
            self._inner_cho = linalg.cho_factor(inner, lower=True)
        else:
            self._inner_cho = None

    @property
    def shape(self):
        """Shape of the (never formed) precision matrix."""
        return (self.diag.size, self.diag.size)

    def right_multiply(self, patterns):
        """Return ``patterns @ P`` for patterns of shape (..., n_channels)."""
        patterns = np.asarray(patterns, dtype=np.float64)
        out = patterns * self._diag_inv
        if self._inner_cho is not None:
            flat = patterns.reshape(-1, self.diag.size)
            proj = linalg.cho_solve(self._inner_cho, self._scaled_factor @ flat.T)
            out -= (proj.T @ self._scaled_factor).reshape(patterns.shape)
        return out

    def toarray(self):
        """Dense ``(n_channels, n_channels)`` precision (for tests and small problems only)."""
        return self.right_multiply(np.eye(self.diag.size))


def apply_precision(patterns, precision):
    """Return ``patterns @ precision`` for a dense precision, a :class:`LowRankPrecision` or None.

    Parameters
    ----------
    patterns : ndarray, shape (..., n_channels)
        Row patterns.
    precision : None | ndarray, shape (n_channels, n_channels) | LowRankPrecision
        ``None`` means the identity (Euclidean distances).

    Returns
    -------
    ndarray, shape (..., n_channels)
    """
    if precision is None:
        return patterns
    if isinstance(precision, LowRankPrecision):
        return precision.right_multiply(patterns)
    return patterns @ precision


def cell_residuals(data, cell_index):
    """Residuals of each epoch/trial around the mean of its (run, condition) cell.

    Parameters
    ----------
    data : ndarray, shape (n_epochs, n_channels[, n_times])
        Single-epoch (or single-trial beta) patterns.
    cell_index : ndarray of int, shape (n_epochs,)
        Cell (e.g. run x condition) of each epoch, coded ``0 .. n_cells - 1``.

    Returns
    -------
    residuals : ndarray, same shape as ``data``
    dof : int
        Degrees of freedom per time point, ``n_epochs - n_cells``.
    """
    data = np.asarray(data, dtype=np.float64)
    n_cells = int(cell_index.max()) + 1
    counts = np.bincount(cell_index, minlength=n_cells).astype(np.float64)
    indicator = np.zeros((n_cells, data.shape[0]))
    indicator[cell_index, np.arange(data.shape[0])] = 1.0
    flat = data.reshape(data.shape[0], -1)
    cell_means = (indicator @ flat) / counts[:, None]
    residuals = (flat - cell_means[cell_index]).reshape(data.shape)
    return residuals, data.shape[0] - n_cells


def _row_blocks(residuals):
    """Yield 2D row blocks of residuals; 3D input is pooled over its last (time) axis."""
    if residuals.ndim == 2:
        for start in range(0, residuals.shape[0], _BLOCK_ROWS):
            yield residuals[start:start + _BLOCK_ROWS]
        return
    n_epochs, n_channels, n_times = residuals.shape
    step = max(1, _BLOCK_ROWS // max(n_epochs, 1))
    for start in range(0, n_times, step):
        block = residuals[:, :, start:start + step]
        yield np.ascontiguousarray(block.transpose(2, 0, 1)).reshape(-1, n_channels)


def _check_residuals(residuals):
    residuals = np.asarray(residuals, dtype=np.float64)
    if residuals.ndim not in (2, 3):
        raise ValueError(
            "residuals must have shape (n_residuals, n_channels) or (n_epochs, n_channels, "
            f"n_times), got an array of shape {residuals.shape}."
        )
    check_finite(residuals, "residuals")
    n_rows = residuals.shape[0] * (residuals.shape[2] if residuals.ndim == 3 else 1)
    if n_rows < 2:
        raise ValueError(f"residuals must have at least 2 rows to estimate a covariance, got {n_rows}.")
    return residuals, n_rows


def _dense_moments(residuals, n_rows):
    """Gram ``X'X`` of the column-centred residual rows, and the column means."""
    n_channels = residuals.shape[1]
    col_mean = np.zeros(n_channels)
    gram = np.zeros((n_channels, n_channels))
    for block in _row_blocks(residuals):
        col_mean += block.sum(axis=0)
        gram += block.T @ block
    col_mean /= n_rows
    scale = np.sqrt(np.maximum(np.diag(gram), 0.0) / n_rows)
    if np.all(np.abs(col_mean) <= 1e-6 * scale):
        # (nearly) centred already, e.g. residuals around cell means: exact rank-1 correction
        gram -= n_rows * np.outer(col_mean, col_mean)
    else:  # large offsets: a second, centred pass avoids cancellation
        gram[:] = 0.0
        for block in _row_blocks(residuals):
            block = block - col_mean
            gram += block.T @ block
    return gram, col_mean


@njit(cache=True)
def _row_norm_sums_kernel(block, col_mean, weights):
    squares_of_sums = 0.0
    sums_of_squares = 0.0
    for k in range(block.shape[0]):
        row_sum = 0.0
        for i in range(block.shape[1]):
            diff = block[k, i] - col_mean[i]
            value = diff * diff * weights[i]
            row_sum += value
            sums_of_squares += value * value
        squares_of_sums += row_sum * row_sum
    return squares_of_sums, sums_of_squares


def _weighted_row_norm_sums(residuals, col_mean, weights):
    """Return ``sum_k (sum_i w_i x_ki^2)^2`` and ``sum_k sum_i w_i^2 x_ki^4`` of centered rows.

    One fused pass per block (numba): these sums replace the ``n_channels x n_channels`` matrix
    of squared outer products that the shrinkage formulas are usually written with.
    """
    squares_of_sums = 0.0
    sums_of_squares = 0.0
    for block in _row_blocks(residuals):
        sq_sums, sum_sq = _row_norm_sums_kernel(np.ascontiguousarray(block), col_mean, weights)
        squares_of_sums += sq_sums
        sums_of_squares += sum_sq
    return squares_of_sums, sums_of_squares


def _shrinkage_diag_lambda(fro_std, trace_std_sq, row_sq_sum, row_fourth_sum, n_rows, dof):
    """Schaefer-Strimmer intensity from the scalar sums of the standardised residuals.

    ``fro_std`` is ``||Z'Z||_F^2`` with ``Z = X / std`` (std with ``dof``), ``trace_std_sq`` is
    ``sum_i (Z'Z)_ii^2``, ``row_sq_sum`` is ``sum_k (sum_i z_ki^2)^2`` and ``row_fourth_sum`` is
    ``sum_k sum_i z_ki^4``.
    """
    off_corr_sq = (fro_std - trace_std_sq) / (n_rows - 1) ** 2
    off_fourth = (row_sq_sum - row_fourth_sum) / (n_rows - 1)
    var_hat_sum = n_rows / dof**2 * (off_fourth - off_corr_sq)
    if off_corr_sq <= 0:
        return 1.0
    return float(min(max(var_hat_sum / off_corr_sq, 0.0), 1.0))


def _ledoit_wolf_terms(fro_gram, trace_gram, row_norm4_sum, n_rows, n_channels):
    """Ledoit-Wolf (2004) shrinkage towards ``m * I``: return (weight of m*I, weight of S, m)."""
    mean_var = trace_gram / (n_rows * n_channels)
    d2 = fro_gram / n_rows**2 - mean_var**2 * n_channels
    b2 = (row_norm4_sum / n_rows - fro_gram / n_rows**2) / n_rows
    b2 = min(d2, b2)
    if d2 <= 0:
        return 1.0, 0.0, mean_var
    return b2 / d2, (d2 - b2) / d2, mean_var


def cov_from_residuals(residuals, dof=None, method="shrinkage_diag"):
    """Noise covariance (dense) from residuals, on rsatoolbox's conventions.

    Parameters
    ----------
    residuals : ndarray, shape (n_residuals, n_channels) | (n_epochs, n_channels, n_times)
        Residuals; a 3D array is pooled over time (rows = epochs x time points). Column means
        are removed before estimation, as rsatoolbox does.
    dof : int | None
        Degrees of freedom; ``None`` uses ``n_rows - 1``.
    method : "diag" | "full" | "shrinkage_eye" | "shrinkage_diag"
        ``"shrinkage_eye"``: Ledoit-Wolf shrinkage towards a multiple of the identity;
        ``"shrinkage_diag"``: Schaefer-Strimmer shrinkage of the correlations towards zero.

    Returns
    -------
    cov : ndarray, shape (n_channels, n_channels)
    """
    check_option("method", method, NOISE_METHODS)
    residuals, n_rows = _check_residuals(residuals)
    return _cov_from_checked(residuals, n_rows, dof, method)


def _cov_from_checked(residuals, n_rows, dof, method):
    dof = n_rows - 1 if dof is None else int(dof)
    if dof < 1:
        raise ValueError(f"dof must be >= 1, got {dof}; there are too few residuals.")
    n_channels = residuals.shape[1]
    gram, col_mean = _dense_moments(residuals, n_rows)
    if method == "diag":
        return np.diag(np.diag(gram) / dof)
    if method == "full":
        return gram / dof
    if method == "shrinkage_eye":
        row_norm4, _ = _weighted_row_norm_sums(residuals, col_mean, np.ones(n_channels))
        w_eye, w_sample, mean_var = _ledoit_wolf_terms(
            float(np.sum(gram**2)), float(np.trace(gram)), row_norm4, n_rows, n_channels
        )
        cov = gram * (w_sample / n_rows)
        cov[np.diag_indices(n_channels)] += w_eye * mean_var
        return cov * (n_rows / dof)
    variances = np.diag(gram) / dof
    _check_variances(variances)
    inv_std = 1.0 / np.sqrt(variances)
    fro_std = float(np.sum((gram * inv_std[:, None] * inv_std[None, :]) ** 2))
    trace_std_sq = float(np.sum((np.diag(gram) / variances) ** 2))
    row_sq, row_fourth = _weighted_row_norm_sums(residuals, col_mean, 1.0 / variances)
    lam = _shrinkage_diag_lambda(fro_std, trace_std_sq, row_sq, row_fourth, n_rows, dof)
    logger.info(f"shrinkage_diag noise covariance: shrinkage {lam:.4f}")
    cov = gram * ((1.0 - lam) / dof)
    cov[np.diag_indices(n_channels)] = variances
    return cov


def _check_variances(variances):
    bad = np.flatnonzero(variances <= 0)
    if bad.size:
        raise ValueError(
            f"{bad.size} channel(s) have zero residual variance (first index {bad[0]}); drop "
            "flat channels/voxels before computing noise-normalised distances."
        )


def _low_rank_precision(residuals, dof, method):
    """Woodbury precision for ``n_rows < n_channels`` (never forms the channel covariance)."""
    x = np.concatenate(list(_row_blocks(residuals)), axis=0)
    x = x - x.mean(axis=0)
    n_rows, n_channels = x.shape
    row_gram = x @ x.T
    col_sq = np.einsum("ij,ij->j", x, x)
    if method == "diag":
        _check_variances(col_sq / dof)
        return LowRankPrecision(col_sq / dof, x[:0], 0.0)
    if method == "shrinkage_eye":
        row_norm2 = np.diag(row_gram)
        w_eye, w_sample, mean_var = _ledoit_wolf_terms(
            float(np.sum(row_gram**2)), float(np.trace(row_gram)), float(row_norm2 @ row_norm2),
            n_rows, n_channels,
        )
        diag = np.full(n_channels, w_eye * mean_var * n_rows / dof)
        if w_eye <= 0:
            raise ValueError(_SINGULAR_MESSAGE.format(n_rows=n_rows, n_channels=n_channels))
        return LowRankPrecision(diag, x, w_sample / dof)
    variances = col_sq / dof
    _check_variances(variances)
    z = x / np.sqrt(variances)
    z_gram = z @ z.T
    z_row2 = np.diag(z_gram)
    lam = _shrinkage_diag_lambda(
        float(np.sum(z_gram**2)), n_channels * float(dof) ** 2, float(z_row2 @ z_row2),
        float(np.sum(z**4)), n_rows, dof,
    )
    logger.info(f"shrinkage_diag noise covariance (Woodbury): shrinkage {lam:.4f}")
    if lam <= 0:
        raise ValueError(_SINGULAR_MESSAGE.format(n_rows=n_rows, n_channels=n_channels))
    return LowRankPrecision(lam * variances, x, (1.0 - lam) / dof)


_SINGULAR_MESSAGE = (
    "The estimated noise covariance is singular: {n_rows} residual rows for {n_channels} "
    "channels and an estimated shrinkage of 0. Provide more residuals or use noise='diag'."
)


def prec_from_residuals(residuals, dof=None, method="shrinkage_diag", low_rank="auto"):
    """Noise precision (inverse covariance) from residuals, on rsatoolbox's conventions.

    Parameters
    ----------
    residuals : ndarray, shape (n_residuals, n_channels) | (n_epochs, n_channels, n_times)
        Residuals; a 3D array is pooled over time.
    dof : int | None
        Degrees of freedom; ``None`` uses ``n_rows - 1``.
    method : "diag" | "full" | "shrinkage_eye" | "shrinkage_diag"
        Covariance estimator, see :func:`cov_from_residuals`.
    low_rank : "auto" | bool
        Return a :class:`LowRankPrecision` (Woodbury) instead of a dense matrix. ``"auto"`` does
        so when there are fewer residual rows than channels (not available for ``"full"``, which
        is singular then).

    Returns
    -------
    precision : ndarray, shape (n_channels, n_channels) | LowRankPrecision
    """
    check_option("method", method, NOISE_METHODS)
    check_option("low_rank", low_rank, ("auto", True, False))
    residuals, n_rows = _check_residuals(residuals)
    return _prec_from_checked(residuals, n_rows, dof, method, low_rank)


def _prec_from_checked(residuals, n_rows, dof, method, low_rank="auto"):
    """:func:`prec_from_residuals` for residuals already validated (float64, finite)."""
    n_channels = residuals.shape[1]
    if low_rank == "auto":
        low_rank = n_rows < n_channels and method != "full"
    if low_rank:
        if method == "full":
            raise ValueError("low_rank=True is not available for method='full'; use a shrinkage method.")
        dof = n_rows - 1 if dof is None else int(dof)
        if dof < 1:
            raise ValueError(f"dof must be >= 1, got {dof}; there are too few residuals.")
        return _low_rank_precision(residuals, dof, method)
    if method == "full" and n_rows <= n_channels:
        raise ValueError(_SINGULAR_MESSAGE.format(n_rows=n_rows, n_channels=n_channels))
    cov = _cov_from_checked(residuals, n_rows, dof, method)
    if method == "diag":
        return np.diag(1.0 / np.diag(cov))
    return linalg.inv(cov, overwrite_a=True, check_finite=False)
