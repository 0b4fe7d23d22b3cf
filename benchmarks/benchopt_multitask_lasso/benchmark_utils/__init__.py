"""Helpers shared by the datasets and solvers of this benchmark.

``mxne_problem`` (the real sample MxNE problem, prepared as ``mne.inverse_sparse.mixed_norm``
does) lives in ``benchmarks/sample_mxne.py`` so that ``bench_sparse.py`` builds the same one.
"""

import sys
from pathlib import Path

import numpy as np

_BENCHMARKS = str(Path(__file__).resolve().parents[2])
if _BENCHMARKS not in sys.path:
    sys.path.insert(0, _BENCHMARKS)

from benchopt.stopping_criterion import SufficientProgressCriterion  # noqa: E402
from sample_mxne import mxne_problem, sample_data_dir  # noqa: E402
from threadpoolctl import threadpool_limits  # noqa: E402

# One BLAS thread for every solver, as in neuroopt's own benchmarks (OpenBLAS with 2 threads is
# several times slower on these small products on a 2-core machine, and it would blur the ratios).
threadpool_limits(1)


def progress_criterion():
    """Stopping rule of every solver's curve: stop after 8 tolerances without progress.

    benchopt's default (3) stops a solver whose result is already below the next tolerances (the
    same solution returned 3 times) before the curve reaches 1e-6; 8 lets the tolerance fall a
    decade further for every solver alike.
    """
    return SufficientProgressCriterion(patience=8, strategy="tolerance")


def group_norms(B, n_orient):
    """Frobenius norm of each block of ``n_orient`` rows of ``B`` (n_features, n_times)."""
    return np.sqrt((B.reshape(B.shape[0] // n_orient, -1) ** 2).sum(axis=1))


def mtl_primal(X, Y, B, alpha, n_orient):
    """``||Y - X B||^2 / (2 n) + alpha sum_g ||B_g||_F`` (scikit-learn / neuroopt scaling)."""
    R = Y - X @ B
    return float(np.vdot(R, R)) / (2 * X.shape[0]) + alpha * float(group_norms(B, n_orient).sum())


def mtl_duality_gap(X, Y, B, alpha, n_orient):
    """Duality gap at ``B`` from the dual point ``R / n`` rescaled into the dual feasible set.

    Dual: ``D(Theta) = ||Y||^2 / (2 n) - n / 2 ||Theta - Y / n||^2`` subject to
    ``||X_g^T Theta|| <= alpha`` for every group; written here with numpy only, so that every
    solver is certified by the same code.
    """
    n = X.shape[0]
    R = Y - X @ B
    scale = max(1.0, float(group_norms(X.T @ R, n_orient).max()) / (n * alpha))
    theta = R / (n * scale)
    dual = float(np.vdot(Y, Y)) / (2 * n) - n / 2 * float(np.sum((theta - Y / n) ** 2))
    return mtl_primal(X, Y, B, alpha, n_orient) - dual


def alpha_max(X, Y, n_orient):
    """Smallest alpha with an all-zero solution: ``max_g ||X_g^T Y||_F / n``."""
    return float(group_norms(X.T @ Y, n_orient).max()) / X.shape[0]


__all__ = ["alpha_max", "group_norms", "progress_criterion", "mtl_duality_gap", "mtl_primal", "mxne_problem",
           "sample_data_dir"]
