"""Comparing data RDMs with model RDMs: Kendall tau-a, Spearman rho-a, whitened unbiased cosine.

Pearson correlation and Kendall tau-b are deliberately not offered: correlating correlation-
like quantities is unreliable, and tau-b rewards models that predict ties (Nili et al. 2014;
Diedrichsen et al. 2021). The whitened unbiased cosine is the recommended default for
crossnobis RDMs, whose zero is meaningful.
"""

from __future__ import annotations

import numpy as np
from scipy import linalg
from scipy.stats import rankdata

from ..utils import check_finite, check_option

COMPARE_METHODS = ("cosine_whitened", "tau_a", "rho_a", "cosine")


def _as_rows(rdms, name):
    rdms = np.asarray(rdms, dtype=np.float64)
    if rdms.ndim == 1:
        rdms = rdms[None]
    if rdms.ndim != 2:
        raise ValueError(f"{name} must have shape (n_rdms, n_pairs) or (n_pairs,), got {rdms.shape}.")
    check_finite(rdms, name)
    return rdms


def _n_conditions(n_pairs):
    n_cond = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n_cond * (n_cond - 1) // 2 != n_pairs:
        raise ValueError(f"RDM vectors of length {n_pairs} do not match any number of conditions.")
    return n_cond


def tau_a(data_rdms, model_rdms):
    """Kendall's tau-a: (concordant - discordant pairs) / all pairs; ties count zero.

    Parameters
    ----------
    data_rdms : ndarray, shape (n_data, n_pairs) | (n_pairs,)
        Data RDM vectors.
    model_rdms : ndarray, shape (n_models, n_pairs) | (n_pairs,)
        Model RDM vectors, same pair order.

    Returns
    -------
    ndarray, shape (n_data, n_models)
    """
    data, models = _as_rows(data_rdms, "data_rdms"), _as_rows(model_rdms, "model_rdms")
    _check_same_pairs(data, models)
    n_pairs = data.shape[1]
    total = np.zeros((data.shape[0], models.shape[0]))
    for first in range(n_pairs - 1):
        data_sign = np.sign(data[:, first, None] - data[:, first + 1:])
        model_sign = np.sign(models[:, first, None] - models[:, first + 1:])
        total += data_sign @ model_sign.T
    return total / (n_pairs * (n_pairs - 1) / 2)


def rho_a(data_rdms, model_rdms):
    """Spearman's rho-a: ``12 * sum(r_x r_y) / (n^3 - n)`` of centred ranks (ties averaged).

    Parameters
    ----------
    data_rdms : ndarray, shape (n_data, n_pairs) | (n_pairs,)
        Data RDM vectors.
    model_rdms : ndarray, shape (n_models, n_pairs) | (n_pairs,)
        Model RDM vectors, same pair order.

    Returns
    -------
    ndarray, shape (n_data, n_models)
    """
    data, models = _as_rows(data_rdms, "data_rdms"), _as_rows(model_rdms, "model_rdms")
    _check_same_pairs(data, models)
    n_pairs = data.shape[1]
    data_ranks = rankdata(data, axis=1)
    model_ranks = rankdata(models, axis=1)
    data_ranks -= data_ranks.mean(axis=1, keepdims=True)
    model_ranks -= model_ranks.mean(axis=1, keepdims=True)
    return 12.0 * (data_ranks @ model_ranks.T) / (n_pairs**3 - n_pairs)


def rdm_covariance(n_conditions):
    """Covariance structure ``V = (C C') o (C C')`` of crossnobis estimates under i.i.d. noise.

    ``C`` is the pairwise-contrast matrix (one row per pair, +1 / -1 on the two conditions);
    ``o`` is the element-wise product (Diedrichsen et al. 2021).
    """
    rows, cols = np.triu_indices(n_conditions, k=1)
    contrast = np.zeros((rows.size, n_conditions))
    contrast[np.arange(rows.size), rows] = 1.0
    contrast[np.arange(rows.size), cols] = -1.0
    xi = contrast @ contrast.T
    return xi * xi


def _inverse_covariance(covariance):
    """Inverse of the (small, well-conditioned) RDM covariance, applied by matrix products."""
    cho = linalg.cho_factor(covariance)
    return linalg.cho_solve(cho, np.eye(covariance.shape[0]))


def cosine_whitened(data_rdms, model_rdms, covariance=None):
    """Whitened unbiased RDM cosine ``x' V^-1 y / sqrt(x' V^-1 x * y' V^-1 y)``.

    Uses :func:`rdm_covariance` (or ``covariance``); equals rsatoolbox's
    ``compare(method="cosine_cov")``.

    Parameters
    ----------
    data_rdms : ndarray, shape (n_data, n_pairs) | (n_pairs,)
        Data RDM vectors.
    model_rdms : ndarray, shape (n_models, n_pairs) | (n_pairs,)
        Model RDM vectors, same pair order.
    covariance : ndarray, shape (n_pairs, n_pairs) | None
        RDM covariance (default :func:`rdm_covariance` of the number of conditions).

    Returns
    -------
    ndarray, shape (n_data, n_models)
    """
    data, models = _as_rows(data_rdms, "data_rdms"), _as_rows(model_rdms, "model_rdms")
    _check_same_pairs(data, models)
    if covariance is None:
        covariance = rdm_covariance(_n_conditions(data.shape[1]))
    inv_cov = _inverse_covariance(covariance)
    data_w, models_w = data @ inv_cov, models @ inv_cov
    return _cosine_from(data, data_w, models, models_w)


def cosine(data_rdms, model_rdms):
    """Plain (unwhitened) cosine similarity of RDM vectors."""
    data, models = _as_rows(data_rdms, "data_rdms"), _as_rows(model_rdms, "model_rdms")
    _check_same_pairs(data, models)
    return _cosine_from(data, data, models, models)


def _cosine_from(data, data_w, models, models_w):
    num = data @ models_w.T
    data_norm = np.sqrt(np.einsum("ij,ij->i", data, data_w))
    model_norm = np.sqrt(np.einsum("ij,ij->i", models, models_w))
    if np.any(model_norm == 0):
        raise ValueError("A model RDM is all zeros; its cosine with data RDMs is undefined.")
    with np.errstate(invalid="ignore", divide="ignore"):
        out = num / data_norm[:, None] / model_norm[None, :]
    return np.where(data_norm[:, None] > 0, out, 0.0)


def _check_same_pairs(data, models):
    if data.shape[1] != models.shape[1]:
        raise ValueError(
            f"data RDMs have {data.shape[1]} pairs but model RDMs have {models.shape[1]}; they must "
            "describe the same conditions in the same (sorted) order."
        )


_FUNCS = {"cosine_whitened": cosine_whitened, "tau_a": tau_a, "rho_a": rho_a, "cosine": cosine}


def compare_rdms(data_rdms, model_rdms, method="cosine_whitened", covariance=None):
    """Similarity of each data RDM with each model RDM.

    Parameters
    ----------
    data_rdms : ndarray, shape (..., n_pairs)
        Data RDM vectors; leading axes (e.g. subjects x time points) are kept.
    model_rdms : ndarray, shape (n_models, n_pairs) | (n_pairs,)
        Model RDM vectors, same pair order.
    method : "cosine_whitened" | "tau_a" | "rho_a" | "cosine"
        Whitened unbiased cosine (rsatoolbox's ``cosine_cov``), Kendall's tau-a, Spearman's rho-a or the plain cosine.
    covariance : ndarray, shape (n_pairs, n_pairs) | None
        RDM covariance for the whitened cosine (see :func:`compare_paired`).

    Returns
    -------
    ndarray, shape (..., n_models)
    """
    check_option("method", method, COMPARE_METHODS)
    data = np.asarray(data_rdms, dtype=np.float64)
    models = _as_rows(model_rdms, "model_rdms")
    lead = data.shape[:-1]
    flat = data.reshape(-1, data.shape[-1])
    if method == "cosine_whitened":
        result = cosine_whitened(flat, models, covariance)
    else:
        result = _FUNCS[method](flat, models)
    return result.reshape(lead + (models.shape[0],))


def compare_paired(first, second, method="cosine_whitened", covariance=None):
    """Row-wise similarity of two stacks of RDM vectors (e.g. each subject vs a pooled RDM).

    Parameters
    ----------
    first, second : ndarray, shape (..., n_pairs)
        RDM vectors compared position by position.
    method : "cosine_whitened" | "tau_a" | "rho_a" | "cosine"
        Comparison method (see :func:`compare_rdms`).
    covariance : ndarray, shape (n_pairs, n_pairs) | None
        RDM covariance for the whitened cosine (default :func:`rdm_covariance`; a bootstrap
        over conditions passes the covariance of its resampled pairs).

    Returns
    -------
    ndarray, shape (...)
    """
    check_option("method", method, COMPARE_METHODS)
    first = np.asarray(first, dtype=np.float64)
    second = np.broadcast_to(np.asarray(second, dtype=np.float64), first.shape)
    lead, n_pairs = first.shape[:-1], first.shape[-1]
    x, y = first.reshape(-1, n_pairs), second.reshape(-1, n_pairs)
    if method == "tau_a":
        total = np.zeros(x.shape[0])
        for a in range(n_pairs - 1):
            x_sign = np.sign(x[:, a, None] - x[:, a + 1:])
            total += np.sum(x_sign * np.sign(y[:, a, None] - y[:, a + 1:]), axis=1)
        out = total / (n_pairs * (n_pairs - 1) / 2)
    elif method == "rho_a":
        rx, ry = rankdata(x, axis=1), rankdata(y, axis=1)
        rx -= rx.mean(axis=1, keepdims=True)
        ry -= ry.mean(axis=1, keepdims=True)
        out = 12.0 * np.sum(rx * ry, axis=1) / (n_pairs**3 - n_pairs)
    else:
        if method == "cosine":
            xw, yw = x, y
        else:
            cov = rdm_covariance(_n_conditions(n_pairs)) if covariance is None else covariance
            inv_cov = _inverse_covariance(cov)
            xw, yw = x @ inv_cov, y @ inv_cov
        nx = np.sqrt(np.einsum("ij,ij->i", x, xw))
        ny = np.sqrt(np.einsum("ij,ij->i", y, yw))
        with np.errstate(invalid="ignore", divide="ignore"):
            out = np.where((nx > 0) & (ny > 0), np.einsum("ij,ij->i", x, yw) / (nx * ny), 0.0)
    return out.reshape(lead)


def pool_rdms(rdms, method="cosine_whitened", covariance=None):
    """Average RDMs over the first axis in the space the comparison method is invariant in.

    Rank methods average ranks; cosines average vectors scaled to unit (whitened) norm. Used
    for noise ceilings.

    Parameters
    ----------
    rdms : ndarray, shape (n_rdms, ..., n_pairs)
        RDM vectors to average over the first axis.
    method : str
        Comparison method the pooled RDM is meant for (see :func:`compare_rdms`).
    covariance : ndarray | None
        As in :func:`compare_paired`.

    Returns
    -------
    ndarray, shape (..., n_pairs)
    """
    return _normalize_for_pooling(rdms, method, covariance).mean(axis=0)


def _normalize_for_pooling(rdms, method, covariance=None):
    check_option("method", method, COMPARE_METHODS)
    rdms = np.asarray(rdms, dtype=np.float64)
    if method in ("tau_a", "rho_a"):
        return rankdata(rdms, axis=-1)
    flat = rdms.reshape(-1, rdms.shape[-1])
    if method == "cosine":
        norms = np.linalg.norm(flat, axis=1)
    else:
        cov = rdm_covariance(_n_conditions(flat.shape[1])) if covariance is None else covariance
        norms = np.sqrt(np.einsum("ij,ij->i", flat, flat @ _inverse_covariance(cov)))
    return (flat / np.where(norms > 0, norms, 1.0)[:, None]).reshape(rdms.shape)
