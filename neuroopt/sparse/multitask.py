"""Multitask (group) Lasso, MxNE's L2,1 problem, and its warm-started regularization path."""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..utils import check_positive, validate_type, verbose
from ._base import BaseMultiTaskSparse, check_data_2d, check_gain
from .datafits import Quadratic
from .penalties import group_norms
from .solvers import group_columns


class MultiTaskLasso(BaseMultiTaskSparse):
    """Multitask Lasso with groups of ``n_orient`` features (MxNE / L2,1 inverse).

    Minimises ``||Y - X W^T||_F^2 / (2 n_sensors) + alpha sum_g ||W_g||_F`` where ``W``
    (``coef_``, shape (n_times, n_features)) has groups of ``n_orient`` consecutive columns.
    Same scaling as scikit-learn's ``MultiTaskLasso(fit_intercept=False)``.

    Parameters
    ----------
    alpha : float | ``"auto"`` | ``"sure"`` | ``"cv"``
        Regularization (>= 0). ``alpha >= alpha_max(X, Y)`` gives an all-zero solution, where
        ``alpha_max = max_g ||X_g^T Y||_F / n_sensors``. The strings choose it in ``fit`` (the
        convention of every estimator of :mod:`neuroopt.sparse`): ``"auto"``, the quantile
        universal threshold (the 95 % quantile of ``alpha_max`` over 30 simulations of white
        noise of std ``noise_std``, seed 0:
        :func:`~neuroopt.sparse.alpha_search.quantile_universal_alpha`);
        ``"sure"``, the minimiser of Stein's unbiased risk estimate with noise std
        ``noise_std``; ``"cv"``, the minimiser of the held-out error of half the epochs (``Y``
        of shape (n_epochs, n_sensors, n_times)); see
        :func:`~neuroopt.sparse.alpha_search.search_alpha`.
    noise_std : float
        Noise standard deviation of each entry of ``Y`` (1 for whitened single trials,
        ``1 / sqrt(nave)`` for an average), used by ``alpha="auto"`` and ``"sure"``.
    n_orient : int
        Features per group (1: fixed orientation, 3: free orientation).
    tol : float
        Stop when the duality gap is below ``tol`` times the objective at zero.
    max_iter : int
        Maximum number of outer working-set iterations.
    warm_start : bool
        Start from the previous ``coef_`` (for regularization paths).
    n_reweighting : int
        Number of iterative-reweighting steps (irMxNE); 1 means the convex problem only.
    reweighting : ``"log"`` | ``"l05"`` | ``"mne"``
        Concave penalty majorised by the reweighting (see ``_base.reweighting_weights``;
        ``"mne"``: MNE's irMxNE weights, its ``mixed_norm(n_mxne_iter=...)``).
    debias : bool
        Rescale each active source by the factor ``>= 1`` that best fits the data, as MNE's
        ``mixed_norm(debias=True)`` (``dual_gap_`` refers to the penalised solution).
    prune_level : float | None
        After the fit, drop the active sources that a least-squares refit does not find
        significant at this family-wise level (backward elimination with noise std
        ``noise_std``, :func:`~neuroopt.sparse.selection.eliminate_sources`) and refit at the
        same alpha on the others; ``None``: no elimination. It removes the sources that only
        absorb the amplitude the L2,1 penalty takes from the true ones (see
        ``benchmarks/bench_alpha.py``).
    relocate : bool
        After the fit (and the elimination), move each active source to the neighbouring
        source (by gain correlation) where the least-squares fit of all active sources is best
        (:func:`~neuroopt.sparse.selection.relocate_sources`), eliminate again with
        ``prune_level``, and refit at the same alpha.
    n_threads : int
        BLAS threads used during the fit (1 is fastest on small shared machines).
    verbose : bool | str | int | None
        Log level for this fit.

    Attributes
    ----------
    coef_ : ndarray, shape (n_times, n_features)
    alpha_ : float
        The alpha of the fit (chosen when ``alpha`` is a string).
    alphas_ : ndarray
        With ``alpha="sure"`` / ``"cv"``: every alpha tried by the search, decreasing
        (as :class:`sklearn.linear_model.LassoCV`'s ``alphas_``).
    criterion_path_ : ndarray
        The criterion at each of ``alphas_`` (``LassoLarsIC``'s ``criterion_``).
    n_solves_ : int
        Solver calls of the search.
    alpha_search_ : AlphaSearchResult
        The whole search (order tried, hypergradients, active groups).
    active_set_ : ndarray of bool, shape (n_groups,)
    dual_gap_ : float
        Certified duality gap of the last (reweighted) problem, absolute.
    objective_at_zero_ : float
        Objective at zero; convergence means ``dual_gap_ <= tol * objective_at_zero_``.
    n_iter_ : int
        Outer (working-set) iterations, summed over reweighting steps.
    n_epochs_ : int
        Coordinate-descent epochs on the working sets.
    n_gradient_passes_ : int
        Number of ``X^T Theta`` passes over the features not yet removed by gap-safe screening
        (the first is over all features, later ones are often much smaller): the cost unit of
        the benchmark, counted as full passes.
    n_gram_passes_ : int
        Number of ``X^T Theta`` evaluations served without reading ``X``, from ``X^T Y`` and
        cached Gram columns of the few non-zero features (see ``solvers.GradientCache``).
    solve_time_ : float
        Solver seconds (excludes numba compilation, see ``solvers.warmup``).
    n_pruned_ : int
        Active sources removed by ``prune_level`` (0 without it).
    n_relocated_ : int
        Active sources moved by ``relocate`` (0 without it).
    """

    def __init__(self, alpha="auto", *, noise_std=1.0, n_orient=1, tol=1e-6, max_iter=100,
                 warm_start=False, n_reweighting=1, reweighting="log", debias=False,
                 prune_level=None, relocate=False, n_threads=1, verbose=None):
        self.alpha = alpha
        self.prune_level = prune_level
        self.relocate = relocate
        self.noise_std = noise_std
        self.n_orient = n_orient
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.n_reweighting = n_reweighting
        self.reweighting = reweighting
        self.debias = debias
        self.n_threads = n_threads
        self.verbose = verbose

    def alpha_max(self, X, Y):
        """Smallest alpha with an all-zero solution: ``max_g ||X_g^T Y||_F / n_sensors``."""
        Y = check_data_2d(Y)
        X = check_gain(X, Y.shape[0])
        n_orient = self._validate_common(X.shape[1])
        return float(group_norms(X.T @ Y, n_orient).max() / X.shape[0])

    def _prepare_fit(self, X, Y, alpha):
        Y, Y_epochs = self._epochs_input(Y, alpha)
        X, Y, n_orient = self._check_gain_and_data(X, Y, getattr(self, "_gain_checked", False))
        return X, Y, Y_epochs, n_orient, Quadratic()

    def _qut_noise_std(self):
        return check_positive(self.noise_std, "noise_std")


def _support_csc(coef, active_set, n_orient):
    """``coef`` (n_times, n_features) as a CSC array, built from its support (no dense scan)."""
    n_times, n_features = coef.shape
    support = group_columns(np.flatnonzero(active_set), n_orient)
    counts = np.zeros(n_features, dtype=np.int64)
    counts[support] = n_times
    indptr = np.concatenate([[0], np.cumsum(counts)])
    indices = np.tile(np.arange(n_times), support.size)
    data = np.asarray(coef[:, support], order="F").ravel(order="F")
    out = sparse.csc_array((data, indices, indptr), shape=coef.shape)
    out.eliminate_zeros()
    return out


def _lazy_zeros(shape):
    """Float zeros in anonymous memory that the OS zeroes one small page at a time, when written.

    ``np.zeros`` asks for transparent huge pages on large arrays (``madvise``), and the kernel
    then zeroes (and may first compact) 2 MB for any write: filling a few rows of every page of
    the dense path costs 0.1-1.5 s of CPU instead of 0.03 s here.
    """
    import mmap

    n_bytes = int(np.prod(shape)) * np.dtype(float).itemsize
    if n_bytes == 0:
        return np.zeros(shape)
    return np.frombuffer(mmap.mmap(-1, n_bytes), dtype=float).reshape(shape)


@verbose
def lasso_path(X, Y, *, eps=1e-3, n_alphas=100, alphas=None, estimator=None,
               return_n_iter=False, return_extras=False, verbose=None):
    """Warm-started regularization path of a multitask estimator (sklearn's ``lasso_path`` API).

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Gain.
    Y : ndarray
        Data, as the estimator's ``fit`` takes it.
    eps : float
        Length of the path: ``alpha_min / alpha_max = eps``.
    n_alphas : int
        Number of alphas along the path, geometrically spaced (when ``alphas`` is None).
    alphas : array-like | None
        Regularization values (solved in decreasing order); ``None``: ``n_alphas`` values
        from ``alpha_max`` to ``eps * alpha_max``.
    estimator : estimator | None
        Estimator of :mod:`neuroopt.sparse` whose parameters (``n_orient``, ``tol``, noise
        model...) are used; default ``MultiTaskLasso()``. It is cloned, not modified.
    return_n_iter : bool
        Also return the number of outer solver iterations at each alpha.
    return_extras : bool
        Also return a dict with ``"coefs_sparse"`` (the solutions as a list of
        ``scipy.sparse.csc_array`` (n_times, n_features), which a long free-orientation path
        needs instead of the dense stack) and ``"n_gradient_passes"`` (passes over ``X``
        at each alpha).
    verbose : bool | str | int | None
        Log level.

    Returns
    -------
    alphas : ndarray, shape (n_alphas,)
        Decreasing alphas.
    coefs : ndarray, shape (n_times, n_features, n_alphas)
        Solutions (``coef_`` at each alpha), as sklearn's multi-output ``lasso_path``.
    dual_gaps : ndarray, shape (n_alphas,)
    n_iters : ndarray of int, shape (n_alphas,)
        Only with ``return_n_iter``.
    extras : dict
        Only with ``return_extras`` (see above).
    """
    from sklearn.base import clone

    from .solvers import group_spectral_norms

    est = MultiTaskLasso() if estimator is None else clone(estimator)
    validate_type(est, BaseMultiTaskSparse, "estimator")
    if alphas is None:
        check_positive(eps, "eps")
        amax = est.alpha_max(X, Y)
        alphas = amax * np.geomspace(1.0, eps, int(n_alphas))
    alphas = np.sort(np.asarray(alphas, dtype=float).ravel())[::-1]
    if alphas.size == 0 or np.any(alphas < 0) or not np.all(np.isfinite(alphas)):
        raise ValueError(f"alphas must be a non-empty array of finite values >= 0, got {alphas}.")
    est.set_params(warm_start=True)
    X_checked = check_gain(X)
    cache = {"spectral_norms": group_spectral_norms(X_checked, est._validate_common(X.shape[1]))}
    sparse_coefs, gaps, passes, n_iters = [], [], [], []
    for alpha in alphas:
        est.set_params(alpha=float(alpha))
        est._fit(X_checked, Y, path_cache=cache)
        sparse_coefs.append(_support_csc(est.coef_, est.active_set_, est.n_orient))
        gaps.append(est.dual_gap_)
        passes.append(est.n_gradient_passes_)
        n_iters.append(est.n_iter_)
    # written on the supports only, into memory laid out (alpha, feature, time) so that each
    # active feature is one contiguous run, and zeroed by the OS page by page on first write
    # (the dense 20-point free-orientation path of the sample gain is 660 MB, of which the
    # supports touch a few MB); returned as the (n_times, n_features, n_alphas) view
    stack = _lazy_zeros((alphas.size, sparse_coefs[0].shape[1], sparse_coefs[0].shape[0]))
    for k, coef in enumerate(sparse_coefs):
        coo = coef.tocoo()
        stack[k, coo.col, coo.row] = coo.data
    coefs = stack.transpose(2, 1, 0)
    out = [alphas, coefs, np.array(gaps)]
    if return_n_iter:
        out.append(np.array(n_iters))
    if return_extras:
        out.append({"coefs_sparse": sparse_coefs, "n_gradient_passes": np.array(passes)})
    return tuple(out)
