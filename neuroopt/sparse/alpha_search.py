"""Search of alpha minimising SURE or a held-out error: warm-started path, then hypergradients.

1. A coarse geometric grid from ``alpha_max`` down, solved with warm starts at a loose
   tolerance; each solution is polished on its support (:func:`criteria.polish`) and the
   criterion and its hypergradient (:mod:`~neuroopt.sparse.criteria`) are evaluated. The path
   stops at the first point above the best one whose hypergradient says the criterion still
   rises towards smaller alphas, else ``patience`` points after the criterion stopped
   decreasing: small alphas are the expensive ones (on MNE's sample data, 5 mm grid, the two
   smallest alphas of the path cost 40-50 % of the search).
2. Refinement around the best grid point, HOAG-style (Pedregosa 2016): in ``log(alpha)``, a
   safeguarded secant step on the hypergradient inside the bracket where it changes sign
   (bisection when the secant leaves it), each inner solve warm-started and at a tolerance
   divided by ``tol_decrease`` at every step. It stops when the decrease that the quadratic
   model of the bracket (secant of the hypergradient) predicts from the best point is below
   ``refine_rtol`` times the best value: a smaller gain is far below the statistical error
   of the criterion (SURE's standard deviation is at least ``sqrt(2 n T)`` noise variances
   for white noise: 90, 1.5 % of its minimum, for the multitask Lasso on MNE's sample Left
   Auditory data), and every step costs a solve.

The alpha returned is the best one tried (the criterion is piecewise smooth: it jumps where the
support changes, so the smallest value seen is kept rather than the last iterate).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone

from ..utils import check_option, check_positive, check_random_state, logger, validate_type
from ._base import check_gain, without_selection
from .criteria import held_out, noise_model_of, noise_rms, polish, split_epochs, sure
from .solvers import group_spectral_norms

CRITERIA = ("sure", "cv")


@dataclass
class AlphaSearchResult:
    """Output of :func:`search_alpha`.

    Attributes
    ----------
    alpha : float
        Alpha with the smallest criterion among those tried.
    alphas : ndarray
        Every alpha tried, in the order tried (grid first, then refinement).
    criterion_values : ndarray
        Criterion at each of ``alphas``.
    hypergradients : ndarray
        Derivative of the criterion in ``log(alpha)`` at each of ``alphas``.
    n_active : ndarray of int
        Active groups at each of ``alphas``.
    n_solves : int
        Number of solver calls (held-out: two per alpha).
    alpha_max : float
        Smallest alpha with an all-zero solution (on the data of the fit).
    criterion : str
        ``"sure"`` or ``"cv"``.
    grid_size : int
        Number of coarse-grid alphas evaluated (the first ``grid_size`` of ``alphas``; the path
        stops early once the criterion rises).
    noise_std : ndarray | None
        Noise standard deviation(s) SURE used (one per sensor group); unused by ``"cv"``.
    coef : ndarray, shape (n_times, n_features) | None
        ``"sure"``: the solver's solution at ``alpha`` (its ``coef_``, convex problem), to
        warm-start a final fit at that alpha; ``None`` for ``"cv"`` (fitted on halves).
    """

    alpha: float
    alphas: np.ndarray
    criterion_values: np.ndarray
    hypergradients: np.ndarray
    n_active: np.ndarray
    n_solves: int
    alpha_max: float
    criterion: str
    grid_size: int = 0
    noise_std: np.ndarray | None = field(default=None, repr=False)
    coef: np.ndarray | None = field(default=None, repr=False)


class _Evaluator:
    """Criterion at one alpha, with warm-started solver clones (one per data split)."""

    def __init__(self, estimator, X, Y, criterion, noise_std, scale, time_cov):
        from .concomitant import CLaR

        self.X, self.criterion, self.noise_std, self.scale = X, criterion, noise_std, scale
        self.time_cov = time_cov
        # CLaR: held-out only, each half fitted on its own epochs (see clar_held_out_folds)
        self.clar = isinstance(estimator, CLaR)
        if self.clar:
            self.folds = clar_held_out_folds(Y, criterion)
            self.model = None
        elif criterion == "sure":
            self.folds = [(Y, None)]
        else:
            Y_a, Y_b = split_epochs(Y)
            self.folds = [(Y_a, Y_b), (Y_b, Y_a)]
        if not self.clar:
            self.model = noise_model_of(estimator, self.folds[0][0].shape[0])
        self.n_orient = estimator.n_orient
        self.solvers = [without_selection(clone(estimator).set_params(warm_start=True))
                        for _ in self.folds]
        # as lasso_path: X validated once, its group norms and the last pass over X reused
        self.X = X = check_gain(X)
        norms = group_spectral_norms(X, self.solvers[0]._validate_common(X.shape[1]))
        self.caches = [{"spectral_norms": norms} for _ in self.folds]
        self.n_solves = 0

    def __call__(self, alpha, tol):
        value = grad = 0.0
        n_active = 0
        for est, cache, (Y_fit, Y_test) in zip(self.solvers, self.caches, self.folds):
            alpha_fit = alpha * self.scale
            est.set_params(alpha=float(alpha_fit), tol=tol)
            est._fit(self.X, Y_fit, path_cache=cache)
            self.n_solves += 1
            if self.clar:  # no fixed-point derivative: the value only (grid search)
                resid = Y_test - self.X @ est.coef_.T
                value += float(np.sum(resid ** 2)) / len(self.folds)
                grad = np.nan
                n_active = max(n_active, int(est.active_set_.sum()))
                continue
            B = polish(self.X, Y_fit, est.coef_.T, alpha_fit, self.n_orient, self.model)
            if Y_test is None:
                c = sure(self.X, Y_fit, B, alpha_fit, self.n_orient, self.model, self.noise_std,
                         self.time_cov)
            else:
                c = held_out(self.X, Y_fit, Y_test, B, alpha_fit, self.n_orient, self.model)
            value += c.value / len(self.folds)
            grad += c.grad_log_alpha / len(self.folds)
            n_active = max(n_active, c.n_active)
        return value, grad, n_active


def clar_held_out_folds(Y_epochs, criterion):
    """Held-out folds of CLaR: ``[(even epochs, mean of odd), (odd epochs, mean of even)]``.

    CLaR estimates its noise covariance from the repetitions, so each half is fitted on its own
    epochs (not on their average) and scored on the other half's average. There is no SURE for
    CLaR: its degrees of freedom need the derivative of the noise update
    ``S = ClSqrt(residual covariance)``, a matrix square root of a function of the residual
    (the Jacobian of the fixed point is no longer a Kronecker term plus a low-rank correction,
    as in :mod:`~neuroopt.sparse.criteria`), which is not implemented; neither is the
    hypergradient of the held-out error, so CLaR's ``"cv"`` is a grid search without the
    refinement. Raises a ValueError naming ``criterion`` for ``"sure"`` and ``Y`` for fewer
    than 4 epochs (each half needs 2 to estimate a covariance).
    """
    if criterion == "sure":
        raise ValueError(
            "alpha='sure': CLaR has no SURE (its degrees of freedom need the derivative of the "
            "matrix square root of the residual covariance, not implemented); use alpha='cv' "
            "(held-out halves of the epochs, grid search) or 'auto', or choose alpha with SGCL.")
    Y_epochs = np.asarray(Y_epochs, dtype=float)
    if Y_epochs.ndim != 3 or Y_epochs.shape[0] < 4:
        raise ValueError(
            f"alpha='cv' for CLaR fits each half of the epochs on its own repetitions: Y must "
            f"have shape (n_epochs, n_sensors, n_times) with n_epochs >= 4, got shape "
            f"{Y_epochs.shape}; pass more epochs or use alpha='auto'.")
    even, odd = Y_epochs[0::2], Y_epochs[1::2]
    return [(even, odd.mean(axis=0)), (odd, even.mean(axis=0))]


def search_alpha(estimator, X, Y, *, criterion="sure", noise_std=1.0, n_alphas=10,
                 alpha_min_ratio=0.01, patience=2, n_refine=6, tol_grid=1e-4, tol=1e-6,
                 tol_decrease=3.0, cv_alpha_scale=None, time_cov=None, refine_rtol=1e-4):
    """Alpha of ``estimator`` minimising SURE or the held-out error (see the module docstring).

    Parameters
    ----------
    estimator : MultiTaskLasso | MultiTaskSqrtLasso | SGCL | CLaR
        Unfitted estimator (``n_reweighting=1``) whose other parameters are used; cloned.
        CLaR: ``"cv"`` only, without hypergradient refinement (:func:`clar_held_out_folds`).
    X : ndarray, shape (n_sensors, n_features)
        Gain.
    Y : ndarray
        ``(n_sensors, n_times)`` for ``"sure"``; the epochs ``(n_epochs, n_sensors, n_times)``
        for ``"cv"``.
    criterion : ``"sure"`` | ``"cv"``
        SURE (:func:`~neuroopt.sparse.criteria.sure`) or the held-out error: the average of the
        even epochs is fitted and the average of the odd ones predicted, and the other way
        round (:func:`~neuroopt.sparse.criteria.split_epochs`).
    noise_std : float | ndarray
        Noise std of ``Y`` for SURE (one value, or one per sensor group of SGCL).
    n_alphas, alpha_min_ratio : int, float
        Coarse grid: ``n_alphas`` values from ``alpha_max`` to ``alpha_min_ratio * alpha_max``.
    patience : int
        Grid points evaluated after the criterion stopped decreasing, unless the hypergradient
        at a point above the best one is negative (the criterion still rises towards smaller
        alphas), which stops the path there.
    n_refine : int
        Maximum hypergradient refinement steps.
    refine_rtol : float
        The refinement stops when the decrease predicted from the best point by the quadratic
        model of the bracket is below ``refine_rtol`` times the best value (0: run
        ``n_refine`` steps unless the bracket closes).
    tol_grid, tol : float
        Solver tolerance on the grid, and the smallest one of the refinement.
    tol_decrease : float
        Factor dividing the tolerance at each refinement step.
    time_cov : ndarray, shape (n_times, n_times) | None
        Temporal correlation of the noise for SURE (see :func:`~neuroopt.sparse.criteria.sure`).
    cv_alpha_scale : float | None
        ``"cv"`` fits averages of half the epochs, whose noise std is ``sqrt(2)`` times the
        full average's: the alpha of each half-fit is ``cv_alpha_scale`` times the alpha
        reported. ``None``: ``sqrt(2)`` for the multitask Lasso (alpha proportional to the
        noise), 1 for the concomitant estimators (alpha pivotal).

    Returns
    -------
    AlphaSearchResult
    """
    from .multitask import MultiTaskLasso

    check_option("criterion", criterion, CRITERIA)
    if cv_alpha_scale is None:
        cv_alpha_scale = np.sqrt(2.0) if type(estimator) is MultiTaskLasso else 1.0
    scale = cv_alpha_scale if criterion == "cv" else 1.0
    evaluate = _Evaluator(estimator, X, Y, criterion, noise_std, scale, time_cov)
    alpha_max = float(np.mean([evaluate.solvers[0].alpha_max(X, Yf) for Yf, _ in evaluate.folds]))
    alpha_max /= scale
    tried, values, grads, actives = [], [], [], []
    best_coef = {}

    def record(alpha, tol_now):
        value, grad, n_active = evaluate(alpha, tol_now)
        if criterion == "sure" and (not values or value < min(values)):
            best_coef["coef"] = evaluate.solvers[0].coef_  # a new array at every fit
        tried.append(alpha), values.append(value), grads.append(grad), actives.append(n_active)
        logger.info(f"alpha {alpha:.4g} ({alpha / alpha_max:.3f} alpha_max): {criterion} "
                    f"{value:.6g}, d/dlog(alpha) {grad:.3g}, {n_active} active")
        return value, grad

    grid = alpha_max * np.geomspace(1.0, alpha_min_ratio, int(n_alphas))
    best, since_best = np.inf, 0
    for alpha in grid:
        value, grad = record(float(alpha), tol_grid)
        if value < best:
            best, since_best = value, 0
        else:
            since_best += 1
            if since_best > patience or grad < 0:
                break
    grid_size = len(tried)
    _refine(record, tried, values, grads, n_refine, tol_grid, tol, tol_decrease, refine_rtol)
    i = int(np.argmin(values))
    return AlphaSearchResult(alpha=float(tried[i]), alphas=np.array(tried),
                             criterion_values=np.array(values), hypergradients=np.array(grads),
                             n_active=np.array(actives), n_solves=evaluate.n_solves,
                             alpha_max=alpha_max, criterion=criterion, grid_size=grid_size,
                             noise_std=np.atleast_1d(noise_std),
                             coef=best_coef.get("coef"))


def _predicted_decrease(g_best, lo, hi, g_lo, g_hi):
    """Decrease from the best point to the minimum of the bracket's quadratic model.

    The model's curvature is the secant of the hypergradient over the bracket; ``inf`` when
    it is not positive (no model: keep refining).
    """
    curvature = (g_hi - g_lo) / (hi - lo)
    return g_best ** 2 / (2 * curvature) if curvature > 0 else np.inf


def _refine(record, tried, values, grads, n_refine, tol_grid, tol, tol_decrease, rtol=0.0):
    """Safeguarded secant steps on the hypergradient in log(alpha) around the best grid point."""
    order = np.argsort(tried)
    la = np.log(np.array(tried)[order])
    g = np.array(grads)[order]
    v = np.array(values)[order]
    i = int(np.argmin(v))
    # bracket: the neighbour on the descent side of the best point
    if g[i] > 0 and i > 0:
        lo, hi, g_lo, g_hi = la[i - 1], la[i], g[i - 1], g[i]
    elif g[i] < 0 and i + 1 < la.size:
        lo, hi, g_lo, g_hi = la[i], la[i + 1], g[i], g[i + 1]
    else:
        return
    best_value, best_grad = v[i], g[i]
    tol_now = tol_grid
    for _ in range(int(n_refine)):
        if (_predicted_decrease(best_grad, lo, hi, g_lo, g_hi)
                < rtol * abs(best_value)):
            break
        if g_lo < 0 < g_hi:
            step = lo - g_lo * (hi - lo) / (g_hi - g_lo)
        else:
            step = np.nan
        if not (lo + 0.05 * (hi - lo) < step < hi - 0.05 * (hi - lo)):
            step = 0.5 * (lo + hi)
        tol_now = max(tol, tol_now / tol_decrease)
        value, grad = record(float(np.exp(step)), tol_now)
        if value < best_value:
            best_value, best_grad = value, grad
        if grad > 0:
            hi, g_hi = step, grad
        else:
            lo, g_lo = step, grad
        if hi - lo < 1e-3:
            break


def quantile_universal_alpha(estimator, gain, data_shape, *, noise_std=1.0, time_colour=None,
                             level=0.95, n_draws=30, random_state=0):
    """Alpha that keeps pure noise out of the model with probability ``level``.

    The quantile universal threshold (Giacobino et al. 2017, Electron. J. Statist. 11:4701,
    arXiv:1511.05433): ``alpha_max`` of the estimator is computed on ``n_draws`` simulations of
    Gaussian noise of the data's shape (white, or coloured in time by ``time_colour``) through
    the same gain, and its ``level`` quantile is returned. For the concomitant estimators
    (square-root Lasso, SGCL, CLaR) ``alpha_max`` of pure noise does not depend on the noise
    level (the choice is pivotal) and ``noise_std`` is irrelevant; for the multitask Lasso it
    scales with ``noise_std``, which whitening makes known (``1 / sqrt(nave)``).

    Parameters
    ----------
    estimator : neuroopt.sparse estimator
        Estimator; only its ``alpha_max`` is used.
    gain : ndarray, shape (n_sensors, n_features)
        Whitened, weighted gain.
    data_shape : tuple of int
        ``(n_sensors, n_times)``, or ``(n_epochs, n_sensors, n_times)`` for CLaR.
    noise_std : float
        Noise standard deviation of the simulated data.
    time_colour : ndarray, shape (n_times, n_times) | None
        Matrix ``L`` applied on the right of white noise (``E = Z L``) to give it a temporal
        covariance ``L^T L``; ``None``: noise white in time. Scale ``L`` so that the mean of
        the diagonal of ``L^T L`` is 1 (``noise_std`` then stays the per-sample std).
    level : float
        Probability, in (0, 1), that noise alone gives no active source.
    n_draws : int
        Number of noise simulations.
    random_state : int | numpy.random.Generator | None
        Seed of the simulations.

    Returns
    -------
    alpha : float
        The ``level`` quantile of ``alpha_max`` under noise.
    """
    check_positive(noise_std, "noise_std")
    level = check_positive(level, "level")
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level}; e.g. 0.95.")
    values = [estimator.alpha_max(gain, noise_std * noise)
              for noise in _noise_draws(data_shape, time_colour, n_draws, random_state, min_draws=2)]
    return float(np.quantile(values, level))


def _noise_draws(data_shape, time_colour, n_draws, random_state, *, min_draws=1):
    """Unit-variance noise white over the rows and coloured in time by ``time_colour``."""
    validate_type(n_draws, numbers.Integral, "n_draws")
    if n_draws < min_draws:
        raise ValueError(f"n_draws must be >= {min_draws}, got {n_draws}.")
    rng = check_random_state(random_state)
    for _ in range(n_draws):
        noise = rng.standard_normal(data_shape)
        yield noise if time_colour is None else noise @ time_colour


def null_noise_rms_ratio(data_shape, *, time_colour=None, n_draws=30, random_state=0):
    """What :func:`~neuroopt.sparse.criteria.noise_rms` reports on pure noise, over its RMS.

    ``noise_rms`` removes the strongest spatial components of the data, and on pure noise
    those carry more than their share of its power: for the noise that
    :func:`quantile_universal_alpha` simulates (white over the rows, coloured in time by
    ``time_colour``) the ratio is below 1 (0.85 for the 303 x 121 whitened sample Left
    Auditory, with its time correlation) and varies little between draws. A noise level
    compared with ``noise_rms`` must be multiplied by this ratio, or noise alone reads as
    signal.

    Parameters
    ----------
    data_shape : tuple of int
        ``(n_sensors, n_times)``.
    time_colour : ndarray, shape (n_times, n_times) | None
        As in :func:`quantile_universal_alpha`.
    n_draws : int
        Number of noise simulations.
    random_state : int | numpy.random.Generator | None
        Seed of the simulations.

    Returns
    -------
    ratio : float
        Mean of ``noise_rms(E) / rms(E)`` over the draws ``E``.
    """
    ratios = [noise_rms(noise) / np.sqrt(np.mean(noise ** 2))
              for noise in _noise_draws(data_shape, time_colour, n_draws, random_state)]
    return float(np.mean(ratios))


def time_colour_matrix(time_corr):
    """The symmetric square root ``L`` of a temporal correlation: ``E = Z L`` (``Z`` white) has
    the temporal covariance ``L^T L = time_corr`` (the ``time_colour`` of
    :func:`quantile_universal_alpha`; negative eigenvalues of an estimate are set to 0)."""
    evals, evecs = np.linalg.eigh(time_corr)
    return (evecs * np.sqrt(np.clip(evals, 0, None))) @ evecs.T


def subspace_noise_std(Y, groups=None, *, time_colour=None, random_state=0):
    """Noise standard deviation of spatially whitened data, per sensor group, from the data alone.

    For each group of rows, :func:`~neuroopt.sparse.criteria.noise_rms` of its rows (the RMS
    left once its strongest spatial components are projected out) divided by what
    ``noise_rms`` reads on simulated noise of the same shape (:func:`null_noise_rms_ratio`,
    white over the rows, with the temporal correlation of the data's noise subspace,
    :func:`~neuroopt.sparse.criteria.noise_time_correlation`). It needs no covariance scale
    (pivotal), and, unlike the noise level a concomitant estimator fits, it does not depend on
    alpha: the fitted level is the RMS of the residual, which holds the part of the signal that
    the L2,1 penalty shrank away (on MNE's sample Left Auditory, whitened, 5 mm grid, at the
    pivotal ``alpha="auto"``: 0.70 for the square-root Lasso, against 0.61 here and the
    covariance's prediction 0.577).

    Parameters
    ----------
    Y : ndarray, shape (n_sensors, n_times)
        Spatially whitened data.
    groups : array-like, shape (n_sensors,) | None
        Group label of each row (e.g. SGCL's ``sensor_groups``); ``None``: one group.
    time_colour : ndarray, shape (n_times, n_times) | None
        The colour of the simulated noise, :func:`time_colour_matrix` of
        ``noise_time_correlation(Y)`` (computed when ``None``; pass it when already known).
    random_state : int | numpy.random.Generator | None
        Seed of the simulations of :func:`null_noise_rms_ratio`.

    Returns
    -------
    noise_std : ndarray, shape (n_groups,)
        Noise std of each group, in the order of the sorted unique labels (as SGCL's
        ``sigmas_``).
    """
    from .criteria import noise_time_correlation

    Y = np.asarray(Y, dtype=float)
    if Y.ndim != 2:
        raise ValueError(f"Y must be 2D (n_sensors, n_times), got shape {Y.shape}.")
    if groups is None:
        index = np.zeros(Y.shape[0], dtype=np.intp)
    else:
        groups = np.asarray(groups)
        if groups.shape != (Y.shape[0],):
            raise ValueError(f"groups must have one label per row of Y, shape ({Y.shape[0]},), "
                             f"got {groups.shape}.")
        index = np.unique(groups, return_inverse=True)[1]
    colour = time_colour_matrix(noise_time_correlation(Y)) if time_colour is None else time_colour
    stds = []
    for k in range(index.max() + 1):
        rows = Y[index == k]
        stds.append(noise_rms(rows) / null_noise_rms_ratio(rows.shape, time_colour=colour,
                                                           random_state=random_state))
    return np.array(stds)


@dataclass
class PivotalAlphaResult:
    """Output of :func:`bias_corrected_pivotal_alpha`.

    Attributes
    ----------
    alpha : float
        The alpha chosen.
    threshold : float
        The quantile universal threshold of the corrected statistic (``alpha`` when the fitted
        noise level is not above ``noise_std``).
    noise_std : float
        Noise level of the data from their noise subspace (:func:`subspace_noise_std`, one
        group).
    sigma : float
        Pooled noise level the estimator fitted at ``alpha`` (RMS over the rows).
    n_fits : int
        Fits of the estimator made to solve for ``alpha``.
    estimator : estimator
        The estimator fitted at ``alpha`` (without post-selection), e.g. to warm-start a
        final fit or to read its noise levels.
    """

    alpha: float
    threshold: float
    noise_std: float
    sigma: float
    n_fits: int
    estimator: object = field(repr=False)


def pooled_noise_level(estimator):
    """RMS over the rows of the noise levels fitted by a square-root Lasso or an SGCL.

    Parameters
    ----------
    estimator : MultiTaskSqrtLasso | SGCL
        Fitted estimator.

    Returns
    -------
    sigma : float
        ``sqrt(mean over the rows of the row's group level squared)``.
    """
    levels = np.atleast_1d(estimator._noise_levels())[estimator._row_index]
    return float(np.sqrt(np.mean(levels ** 2)))


def bias_corrected_pivotal_alpha(estimator, gain, Y, *, time_colour=None, level=0.95, n_draws=30,
                                 random_state=0, rtol=1e-3, max_fits=8):
    """Pivotal alpha of a square-root Lasso / SGCL whose MxNE alpha is the threshold's.

    The square-root Lasso at ``alpha`` has the solution of the multitask Lasso (datafit
    ``||R||^2 / (2 n)``) at ``alpha * T * sigma``, with ``sigma = ||R||_F / sqrt(n T)`` its
    fitted noise level (same stationarity condition, ``X^T R / n``). Its quantile universal
    threshold (QUT) is calibrated on pure noise, where ``sigma`` is the noise's RMS: there it
    is the multitask Lasso's QUT for that noise level. With signal, the residual also holds
    the part of the signal that the L2,1 penalty shrank away, so ``sigma`` is biased up and the
    effective MxNE alpha with it (MNE's sample Left Auditory, 5 mm grid: ``sigma`` 0.73
    against a noise level of 0.61, MxNE alpha 0.64 of its ``alpha_max`` against 0.51 for the
    multitask Lasso's own QUT). This function chooses ``alpha`` so that the effective MxNE
    alpha is the threshold at the data's noise level ``s`` (:func:`subspace_noise_std`,
    pivotal), i.e. it solves ``alpha * sigma(alpha) = t * s`` (``alpha <= t``), safeguarded
    secant steps in ``log(alpha)``, each fit warm-started. For SGCL, ``sigma`` is the RMS of
    its noise levels over the rows (one scalar equation: the groups' mean bias). It is not
    ``sparse_inverse``'s ``alpha="auto"``: on the default demo SGCL then misses a condition
    (README, "The pivotal alpha in MxNE units").

    The threshold ``t`` is the QUT of the whole procedure, not of ``alpha_max`` alone: on pure
    noise ``E`` (no source at ``alpha``) the fitted level is ``RMS(E)``, and the rule gives
    ``alpha = t * min(1, s(E) / RMS(E))``, so noise alone gives no source if and only if
    ``alpha_max(E) / min(1, s(E) / RMS(E)) <= t``. ``t`` is the ``level`` quantile of that
    statistic over ``n_draws`` simulations of the data's shape (white over the rows, coloured
    in time by ``time_colour``), and pure noise gives sources with probability ``1 - level``
    (Giacobino et al. 2017's argument, applied to the estimate of the noise as well).

    Parameters
    ----------
    estimator : MultiTaskSqrtLasso | SGCL
        Estimator whose other parameters are used; cloned, fitted without post-selection.
    gain : ndarray, shape (n_sensors, n_features)
        Whitened, weighted gain.
    Y : ndarray, shape (n_sensors, n_times)
        Whitened data.
    time_colour : ndarray, shape (n_times, n_times) | None
        Colour in time of the simulated noise (:func:`time_colour_matrix`); ``None``: white.
    level : float
        Probability, in (0, 1), that noise alone gives no active source.
    n_draws : int
        Number of noise simulations.
    random_state : int | numpy.random.Generator | None
        Seed of the simulations.
    rtol : float
        Stop when ``alpha * sigma(alpha)`` is within ``rtol`` (relative) of ``t * s``.
    max_fits : int
        Maximum number of fits.

    Returns
    -------
    PivotalAlphaResult
    """
    from .concomitant import _SensorGroupBase

    if not isinstance(estimator, _SensorGroupBase):
        raise TypeError(f"estimator must be a MultiTaskSqrtLasso or an SGCL, got "
                        f"{type(estimator).__name__}; the multitask Lasso's alpha='auto' is "
                        "quantile_universal_alpha with the known noise level.")
    level = check_positive(level, "level")
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level}; e.g. 0.95.")
    Y = np.asarray(Y, dtype=float)
    stats, rms_ratios = [], []
    for noise in _noise_draws(Y.shape, time_colour, n_draws, random_state, min_draws=2):
        stats.append(estimator.alpha_max(gain, noise))
        rms_ratios.append(noise_rms(noise) / np.sqrt(np.mean(noise ** 2)))
    null_ratio = float(np.mean(rms_ratios))
    shrink = np.minimum(1.0, np.array(rms_ratios) / null_ratio)
    threshold = float(np.quantile(np.array(stats) / shrink, level))
    noise_std = noise_rms(Y) / null_ratio
    target = np.log(threshold * noise_std)
    est = without_selection(clone(estimator).set_params(warm_start=True, n_reweighting=1,
                                                        verbose=None))
    tried, n_fits = {}, [0]  # log(alpha) -> log(alpha sigma(alpha)) - target

    def gap(log_alpha):
        est.set_params(alpha=float(np.exp(log_alpha))).fit(gain, Y)
        n_fits[0] += 1
        tried[log_alpha] = float(log_alpha + np.log(pooled_noise_level(est)) - target)
        return tried[log_alpha]

    hi = np.log(threshold)
    g_hi = gap(hi)
    if g_hi > 0:  # the fitted level is above the noise's: lower alpha
        lo = hi - g_hi  # one step of alpha <- t s / sigma(alpha): at or below the root
        g_lo = gap(lo)
        side = 0
        while g_lo < -rtol and n_fits[0] < max_fits:
            # regula falsi, Illinois variant (halve the weight of a side kept twice)
            step = lo - g_lo * (hi - lo) / (g_hi - g_lo)
            g = gap(step)
            if abs(g) <= rtol:
                break
            if g > 0:
                hi, g_hi = step, g
                g_lo = g_lo / 2 if side == 1 else g_lo
                side = 1
            else:
                lo, g_lo = step, g
                g_hi = g_hi / 2 if side == -1 else g_hi
                side = -1
        best = min(tried, key=lambda k: abs(tried[k]))
        if not np.isclose(np.log(est.alpha), best):
            gap(best)  # refit at the best alpha tried (the last fit was not it)
    alpha, sigma, n_fits = float(est.alpha), pooled_noise_level(est), n_fits[0]
    logger.info(f"pivotal alpha: threshold {threshold:.4g}, noise level {noise_std:.3g}, "
                f"fitted level {sigma:.3g} at alpha {alpha:.4g} ({n_fits} fits)")
    return PivotalAlphaResult(alpha=alpha, threshold=threshold, noise_std=float(noise_std),
                              sigma=sigma, n_fits=n_fits, estimator=est)
