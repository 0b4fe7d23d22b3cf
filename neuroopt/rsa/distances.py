"""RSA dissimilarities: crossnobis, Mahalanobis, Euclidean and correlation distances.

All distances are computed for every time point at once from one Gram matrix per time point of
(noise-whitened) run-by-condition means, ``G_t = F_t P F_t'``; the leave-one-run-out crossnobis
estimate is a fixed linear combination of the entries of ``G_t``, so no per-fold or per-time copy
of the data is made. Scale and pair order follow rsatoolbox (``calc_rdm`` / ``calc_rdm_movie``):
squared distances divided by the number of channels, pairs in upper-triangle order of the sorted
unique condition labels.
"""

from __future__ import annotations

import numpy as np

from ..utils import check_finite, logger, verbose
from ._design import check_data, make_design
from .noise import NOISE_METHODS, LowRankPrecision, _prec_from_checked, apply_precision, prec_from_residuals


def _time_major(data):
    """A C-contiguous copy of data as (n_times, n_epochs, n_channels): rows of channels for BLAS.

    Always a copy (never a view, even with one time point): it may be overwritten by residuals.
    """
    return np.array(data.transpose(2, 0, 1), order="C", copy=True)


def _cell_means(data_t, design):
    """Mean of each (run, condition) cell, shape (n_times, n_runs * n_conditions, n_channels).

    Also returns the cell index of each epoch.
    """
    n_epochs = data_t.shape[1]
    n_cells = design.n_runs * design.n_conditions
    cell = design.run_index * design.n_conditions + design.condition_index
    counts = np.bincount(cell, minlength=n_cells).astype(np.float64)
    indicator = np.zeros((n_cells, n_epochs))
    indicator[cell, np.arange(n_epochs)] = 1.0 / counts[cell]
    return np.matmul(indicator, data_t), cell


def _subtract_cell_means(data_t, means, cell):
    """In place: ``data_t`` becomes the residuals around the cell means (time chunks bound memory)."""
    step = max(1, 4_000_000 // max(data_t.shape[1] * data_t.shape[2], 1))
    for start in range(0, data_t.shape[0], step):
        stop = start + step
        data_t[start:stop] -= means[start:stop][:, cell, :]
    return data_t


def _resolve_precision(noise, data_t, design, residuals, dof, means=None, cell=None):
    """Turn the ``noise`` argument into None, a dense precision or a LowRankPrecision.

    With a string ``noise`` and no ``residuals``, ``data_t`` (time-major, our own copy) is
    overwritten by the cell residuals.
    """
    n_times, n_epochs, n_channels = data_t.shape
    if noise is None or isinstance(noise, LowRankPrecision):
        if isinstance(noise, LowRankPrecision) and noise.shape[0] != n_channels:
            raise ValueError(f"noise has {noise.shape[0]} channels but data has {n_channels}.")
        return noise
    if isinstance(noise, str):
        if noise not in NOISE_METHODS:
            raise ValueError(
                f"Invalid value for the 'noise' parameter: {noise!r}. Allowed values are None, a "
                f"precision array of shape ({n_channels}, {n_channels}) or one of {NOISE_METHODS}."
            )
        if residuals is not None:
            if np.asarray(residuals).shape[1] != n_channels:
                raise ValueError(
                    f"residuals have {np.asarray(residuals).shape[1]} channels but data has "
                    f"{n_channels}."
                )
            return prec_from_residuals(residuals, dof=dof, method=noise)
        dof_per_time = n_epochs - design.n_runs * design.n_conditions
        if dof_per_time < 1:
            raise ValueError(
                "Cannot estimate the noise from the data: every (run, condition) cell has a "
                "single epoch, so there are no residuals. Pass residuals= (e.g. GLM "
                "residuals) or a precision matrix as noise."
            )
        if means is None:
            means, cell = _cell_means(data_t, design)
        flat = _subtract_cell_means(data_t, means, cell).reshape(-1, n_channels)
        dof = dof_per_time * n_times if dof is None else dof
        return _prec_from_checked(flat, flat.shape[0], dof, noise)
    precision = np.asarray(noise, dtype=np.float64)
    if precision.shape != (n_channels, n_channels):
        raise ValueError(
            f"noise must be None, one of {NOISE_METHODS} or a precision matrix of shape "
            f"({n_channels}, {n_channels}), got an array of shape {precision.shape}."
        )
    check_finite(precision, "noise")
    return precision


def _gram(cell_means, precision):
    """Batched ``F_t P F_t'`` over time, shape (n_times, n_cells, n_cells)."""
    whitened = apply_precision(cell_means, precision)
    return np.matmul(whitened, cell_means.transpose(0, 2, 1))


def _pair_index(n_conditions):
    return np.triu_indices(n_conditions, k=1)


def _crossnobis_from_gram(gram, design):
    """Leave-one-run-out crossnobis from the Gram of cell means (rsatoolbox's fold convention).

    For held-out run ``f`` the training pattern of condition ``c`` is the mean of all its epochs
    in the other runs, i.e. a count-weighted combination of the other runs' cell means.
    """
    n_runs, n_cond = design.n_runs, design.n_conditions
    counts = design.cell_counts()
    totals = counts.sum(axis=0)
    rows, cols = _pair_index(n_cond)
    dist = np.zeros((gram.shape[0], rows.size))
    eye = np.eye(n_cond)
    for fold in range(n_runs):
        train_weights = counts / (totals - counts[fold])  # (n_runs, n_cond)
        train_weights[fold] = 0.0
        # (n_cond, n_runs * n_cond): row c combines the cells of condition c in the training runs
        mixing = (train_weights[:, :, None] * eye[None, :, :]).transpose(1, 0, 2).reshape(n_cond, -1)
        test = slice(fold * n_cond, (fold + 1) * n_cond)
        kernel = np.einsum("ck,tkd->tcd", mixing, gram[:, :, test])
        diag = np.einsum("tcc->tc", kernel)
        dist += diag[:, rows] + diag[:, cols] - kernel[:, rows, cols] - kernel[:, cols, rows]
    return dist / n_runs


@verbose
def crossnobis(data, conditions, runs, noise=None, *, residuals=None, dof=None, verbose=None):
    """Leave-one-run-out crossnobis dissimilarities (unbiased squared Mahalanobis distances).

    Parameters
    ----------
    data : ndarray, shape (n_epochs, n_channels[, n_times])
        Single-epoch (M/EEG) or single-trial beta (fMRI) patterns.
    conditions : array-like, shape (n_epochs,)
        Condition label of each epoch. RDM rows/columns are the sorted unique labels.
    runs : array-like, shape (n_epochs,)
        Run (independent partition) of each epoch; at least two runs, every condition in every run.
    noise : None | ndarray, shape (n_channels, n_channels) | LowRankPrecision | str
        Noise precision. ``None``: identity (cross-validated Euclidean). A string
        (``"diag"``, ``"full"``, ``"shrinkage_eye"``, ``"shrinkage_diag"``) estimates it with
        :func:`neuroopt.rsa.noise.prec_from_residuals` from ``residuals``, by default the
        residuals of each epoch around its (run, condition) mean, pooled over time points
        (``dof = (n_epochs - n_runs * n_conditions) * n_times``). With fewer residual rows than
        channels, the shrinkage precision is applied with the Woodbury identity.
    residuals : ndarray, shape (n_residuals, n_channels) | (n_epochs, n_channels, n_times) | None
        Residuals to estimate the noise from (e.g. GLM residuals), when ``noise`` is a string.
    dof : int | None
        Degrees of freedom of ``residuals`` (default as described under ``noise``, or
        ``n_residuals - 1`` for user residuals as in rsatoolbox).
    verbose : bool | str | int | None
        Log level for this call (MNE style).

    Returns
    -------
    dissimilarities : ndarray, shape (n_times, n_pairs) | (n_pairs,)
        Pairs in upper-triangle order of the sorted unique conditions; 1D when ``data`` is 2D.
        Same scale as rsatoolbox's ``calc_rdm_movie(method="crossnobis", cv_descriptor=runs)``
        with the same precision.
    """
    data, was_2d = check_data(data)
    design = make_design(conditions, runs, data.shape[0], require_runs=True)
    logger.info(
        f"crossnobis: {design.n_conditions} conditions, {design.n_runs} runs, "
        f"{data.shape[1]} channels, {data.shape[2]} time point(s)"
    )
    data_t = _time_major(data)
    means, cell = _cell_means(data_t, design)
    precision = _resolve_precision(noise, data_t, design, residuals, dof, means, cell)
    gram = _gram(means, precision)
    dist = _crossnobis_from_gram(gram, design) / data.shape[1]
    return dist[0] if was_2d else dist


def _condition_means(data_t, design):
    one_run = make_design(design.conditions[design.condition_index], None, data_t.shape[1], False)
    return _cell_means(data_t, one_run)[0]


@verbose
def mahalanobis(data, conditions, noise=None, *, runs=None, residuals=None, dof=None, verbose=None):
    """Squared Mahalanobis distances between condition means (biased; see :func:`crossnobis`).

    Parameters are as in :func:`crossnobis`; ``runs`` only defines the cells whose residuals
    estimate the noise when ``noise`` is a string. ``noise=None`` gives squared Euclidean
    distances. Distances are divided by the number of channels (rsatoolbox's scale).

    Parameters
    ----------
    data : ndarray, shape (n_observations, n_channels[, n_times])
        Patterns, one row per observation.
    conditions : array-like, shape (n_observations,)
        Condition of each row; RDMs follow :func:`condition_order`.
    noise : str | ndarray | None
        Noise covariance or precision (as in :func:`crossnobis`); None: Euclidean.
    runs : array-like | None
        Run of each row: the cells whose residuals estimate the noise.
    residuals : ndarray | None
        Residuals to estimate the noise from (as in :func:`crossnobis`).
    dof : int | None
        Degrees of freedom of the residuals (as in :func:`crossnobis`).
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    dissimilarities : ndarray, shape (n_times, n_pairs) | (n_pairs,)
    """
    data, was_2d = check_data(data)
    design = make_design(conditions, runs, data.shape[0], require_runs=False)
    data_t = _time_major(data)
    means = _condition_means(data_t, design)  # before data_t may become residuals
    precision = _resolve_precision(noise, data_t, design, residuals, dof)
    gram = _gram(means, precision)
    diag = np.einsum("tcc->tc", gram)
    rows, cols = _pair_index(design.n_conditions)
    dist = (diag[:, rows] + diag[:, cols] - 2 * gram[:, rows, cols]) / data.shape[1]
    return dist[0] if was_2d else dist


def euclidean(data, conditions):
    """Squared Euclidean distances between condition means divided by ``n_channels``.

    Parameters
    ----------
    data : ndarray, shape (n_observations, n_channels[, n_times])
        Patterns (trials or condition estimates), one row per observation.
    conditions : array-like, shape (n_observations,)
        Condition of each row; RDMs follow :func:`condition_order`.

    Returns
    -------
    dissimilarities : ndarray, shape (n_times, n_pairs) | (n_pairs,)
    """
    return mahalanobis(data, conditions, noise=None)


def correlation(data, conditions):
    """Correlation distance ``1 - r`` between condition means (patterns centered over channels).

    Parameters
    ----------
    data : ndarray, shape (n_observations, n_channels[, n_times])
        Patterns (trials or condition estimates), one row per observation.
    conditions : array-like, shape (n_observations,)
        Condition of each row; RDMs follow :func:`condition_order`.

    Returns
    -------
    dissimilarities : ndarray, shape (n_times, n_pairs) | (n_pairs,)
    """
    data, was_2d = check_data(data)
    design = make_design(conditions, None, data.shape[0], require_runs=False)
    means = _condition_means(_time_major(data), design)
    means = means - means.mean(axis=2, keepdims=True)
    norms = np.linalg.norm(means, axis=2, keepdims=True)
    if np.any(norms == 0):
        raise ValueError("A condition mean pattern is constant over channels; its correlation is undefined.")
    means = means / norms
    corr = np.matmul(means, means.transpose(0, 2, 1))
    rows, cols = _pair_index(design.n_conditions)
    dist = 1.0 - corr[:, rows, cols]
    return dist[0] if was_2d else dist


def condition_order(conditions):
    """Sorted unique condition labels: the row/column order of every RDM computed here.

    Parameters
    ----------
    conditions : array-like, shape (n_observations,)
        Condition label of each observation.

    Returns
    -------
    order : ndarray
        The sorted unique labels.
    """
    return np.unique(np.asarray(conditions))
