"""Shrinkage LDA fitted at many time points at once.

The estimate is the one of ``sklearn.discriminant_analysis.LinearDiscriminantAnalysis(
solver="lsqr", shrinkage="auto")``: per class, Ledoit-Wolf shrinkage of the standardised class
covariance, rescaled and weighted by the class prior. Each shrunk class covariance is a diagonal
plus a rank-``n_k`` term, so the pooled covariance is ``D + Xc' L Xc`` (``Xc``: class-centred
training data, ``L``: per-sample weights). With fewer training samples than channels it is
inverted with the Woodbury identity on an ``n x n`` system; otherwise with a ``p x p`` solve. All
time points go through batched BLAS/LAPACK calls instead of one estimator fit per time point.
"""

from __future__ import annotations

import numpy as np

_EPS = np.finfo(np.float64).eps


def _ledoit_wolf_standardized(class_data):
    """Shrinkage and mean variance of standardised data, shape (n_times, n_k, p) each time.

    Returns shrinkage (n_times,), mu (n_times,), scale (n_times, p) as sklearn's ``_cov`` with
    ``shrinkage="auto"`` computes them (StandardScaler, then ``ledoit_wolf``).
    """
    n_times, n_k, n_feat = class_data.shape
    scale = np.sqrt(np.mean(class_data**2, axis=1))
    scale[scale < 10 * _EPS] = 1.0  # StandardScaler leaves constant features unscaled
    z = class_data / scale[:, None, :]
    if n_feat == 1:
        return np.zeros(n_times), np.mean(z**2, axis=(1, 2)), scale
    gram = np.matmul(z, z.transpose(0, 2, 1))
    row_norm2 = np.einsum("tii->ti", gram)
    trace = row_norm2.sum(axis=1) / n_k
    mu = trace / n_feat
    delta_ = np.sum(gram**2, axis=(1, 2)) / n_k**2
    beta_ = np.sum(row_norm2**2, axis=1)
    beta = (beta_ / n_k - delta_) / (n_feat * n_k)
    delta = (delta_ - 2.0 * mu * trace + n_feat * mu**2) / n_feat
    beta = np.minimum(beta, delta)
    with np.errstate(invalid="ignore", divide="ignore"):
        shrinkage = np.where(beta == 0, 0.0, beta / delta)
    return shrinkage, mu, scale


def fit_shrinkage_lda(data, y, n_classes):
    """Fit shrinkage LDA at every time point.

    Parameters
    ----------
    data : ndarray, shape (n_times, n_samples, n_features)
        Training data, time first.
    y : ndarray of int, shape (n_samples,)
        Class index ``0 .. n_classes - 1`` of each sample (all classes present).
    n_classes : int
        Number of classes.

    Returns
    -------
    coef : ndarray, shape (n_times, n_features, n_classes)
        ``covariance^-1 @ class_means.T`` (sklearn's ``coef_`` transposed, before the binary
        difference).
    intercept : ndarray, shape (n_times, n_classes)
    """
    n_times, n_samples, n_feat = data.shape
    counts = np.bincount(y, minlength=n_classes).astype(np.float64)
    if np.any(counts < 2):
        raise ValueError(
            f"Every class needs at least 2 training samples per fold, got counts {counts.astype(int)}."
        )
    priors = counts / n_samples
    indicator = np.zeros((n_classes, n_samples))
    indicator[y, np.arange(n_samples)] = 1.0 / counts[y]
    means = np.matmul(indicator, data)  # (n_times, n_classes, n_feat)
    centered = data - means[:, y, :]
    diag = np.zeros((n_times, n_feat))
    row_weight = np.zeros((n_times, n_samples))
    for cls in range(n_classes):
        members = y == cls
        shrinkage, mu, scale = _ledoit_wolf_standardized(centered[:, members, :])
        diag += (priors[cls] * shrinkage * mu)[:, None] * scale**2
        row_weight[:, members] = (priors[cls] * (1.0 - shrinkage) / counts[cls])[:, None]
    rhs = means.transpose(0, 2, 1)  # (n_times, n_feat, n_classes)
    use_woodbury = n_samples < n_feat and np.all(diag > 0)
    if use_woodbury:
        coef = _solve_woodbury(diag, centered, row_weight, rhs)
    else:
        cov = np.matmul(centered.transpose(0, 2, 1) * row_weight[:, None, :], centered)
        cov[:, np.arange(n_feat), np.arange(n_feat)] += diag
        coef = np.linalg.solve(cov, rhs)
    intercept = -0.5 * np.einsum("tfk,tkf->tk", coef, means) + np.log(priors)
    return coef, intercept


def _solve_woodbury(diag, centered, row_weight, rhs):
    """Solve ``(diag(d) + X' L X) c = b`` via an ``n x n`` system per time point."""
    diag_inv = 1.0 / diag
    factor = centered * np.sqrt(row_weight)[:, :, None]  # L^1/2 X
    scaled = factor * diag_inv[:, None, :]  # L^1/2 X D^-1
    inner = np.matmul(scaled, factor.transpose(0, 2, 1))
    idx = np.arange(inner.shape[1])
    inner[:, idx, idx] += 1.0
    first = rhs * diag_inv[:, :, None]
    proj = np.linalg.solve(inner, np.matmul(factor, first))
    return first - np.matmul(scaled.transpose(0, 2, 1), proj)


def decision_values(coef, intercept, data):
    """Class scores ``data @ coef + intercept`` at matching time points.

    Parameters
    ----------
    coef : ndarray, shape (n_times, n_features, n_classes)
    intercept : ndarray, shape (n_times, n_classes)
    data : ndarray, shape (n_times, n_samples, n_features)

    Returns
    -------
    scores : ndarray, shape (n_times, n_samples, n_classes)
    """
    return np.matmul(data, coef) + intercept[:, None, :]
