"""Helpers of the concomitant benchmark: the SGCL objective, its duality gap and alpha_max in numpy.

The real sample problem comes from ``benchmarks/sample_mxne.py`` (shared with ``bench_sparse.py``
and the multitask Lasso benchmark) and the composed skglm anchor from ``bench_sparse.py``.
"""

import sys
from pathlib import Path

import numpy as np

_BENCHMARKS = str(Path(__file__).resolve().parents[2])
if _BENCHMARKS not in sys.path:
    sys.path.insert(0, _BENCHMARKS)

from sample_mxne import mxne_problem  # noqa: E402

# one BLAS thread for every solver (see benchopt_multitask_lasso/benchmark_utils)
from threadpoolctl import threadpool_limits  # noqa: E402

threadpool_limits(1)


def _huber(t, sigma_min):
    return np.where(t >= sigma_min, t, t ** 2 / (2 * sigma_min) + sigma_min / 2)


def group_norms(B, n_orient=1):
    return np.sqrt((B.reshape(B.shape[0] // n_orient, -1) ** 2).sum(axis=1))


def _group_sq(R, group_index):
    return np.bincount(group_index, weights=(R ** 2).sum(axis=1))


def sgcl_primal(X, Y, B, alpha, group_index, sigma_min):
    """SGCL objective with the noise levels minimised in closed form.

    ``sum_k n_k / n * h(||R_k|| / sqrt(n_k T)) + alpha sum_j ||B_j||`` where ``h`` is the
    Huber-like smoothing of the identity below ``sigma_min`` (Massias et al. 2018).
    """
    n, T = Y.shape
    R = Y - X @ B
    sizes = np.bincount(group_index)
    t = np.sqrt(_group_sq(R, group_index) / (sizes * T))
    return float(np.sum(sizes / n * _huber(t, sigma_min))) + alpha * float(group_norms(B).sum())


def _dual_direction(R, group_index, sigma_min):
    n, T = R.shape
    sizes = np.bincount(group_index)
    sigmas = np.maximum(sigma_min, np.sqrt(_group_sq(R, group_index) / (sizes * T)))
    return R / (n * T * sigmas[group_index])[:, None]


def sgcl_alpha_max(X, Y, group_index, sigma_min):
    """Smallest alpha with an all-zero solution."""
    return float(group_norms(X.T @ _dual_direction(Y, group_index, sigma_min)).max())


def sgcl_duality_gap(X, Y, B, alpha, group_index, sigma_min):
    """Gap at the dual point ``R_k / (n T sigma_k)`` rescaled into ``||X_j^T Theta|| <= alpha``.

    Dual: ``<Theta, Y> + sigma_min / 2 - sigma_min n T ||Theta||^2 / 2``.
    """
    n, T = Y.shape
    theta = _dual_direction(Y - X @ B, group_index, sigma_min)
    theta /= max(1.0, float(group_norms(X.T @ theta).max()) / alpha)
    dual = float(np.vdot(theta, Y)) + sigma_min / 2 - sigma_min * n * T * float(np.vdot(theta, theta)) / 2
    return sgcl_primal(X, Y, B, alpha, group_index, sigma_min) - dual


__all__ = ["mxne_problem", "sgcl_alpha_max", "sgcl_duality_gap", "sgcl_primal"]
