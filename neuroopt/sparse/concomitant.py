"""Concomitant multitask estimators: noise level(s) estimated jointly with the sources.

``MultiTaskSqrtLasso`` (one noise level), ``SGCL`` (one per sensor group) and ``CLaR`` (a full
noise covariance from repetitions). Their alpha is pivotal: it does not scale with the noise, and
``alpha_max`` is about ``max_g ||X_g^T Y||_F / (sqrt(n_sensors n_times) ||Y||_F)`` (exact formula
in each ``alpha_max``). The default ``alpha="auto"`` is the quantile universal threshold (pivotal:
the 95 % quantile of ``alpha_max`` over simulations of white noise); ``"sure"`` and ``"cv"``
search it (see :class:`~neuroopt.sparse.MultiTaskLasso` for the convention; CLaR: ``"cv"``
only, a grid search, see :func:`~neuroopt.sparse.alpha_search.clar_held_out_folds`).
"""

from __future__ import annotations

import numpy as np

from ..utils import check_positive
from ._base import (
    BaseMultiTaskSparse,
    check_data_2d,
    check_dense_real,
    check_gain,
    without_selection,
)
from .datafits import CovarianceConcomitant, SensorGroupConcomitant
from .penalties import group_norms

_PRUNE_LEVEL_DOC = """prune_level : float | None
        After the fit, drop the active sources that a least-squares refit does not find
        significant at this family-wise level (backward elimination,
        :func:`~neuroopt.sparse.selection.eliminate_sources`, at the noise levels of
        ``prune_noise_std``) and refit at the same alpha on the others; ``None``: no
        elimination. Attribute ``n_pruned_``: the number removed.
    relocate : bool
        After the fit (and the elimination), move each active source to the neighbouring
        source (by gain correlation) where the least-squares fit of all active sources is best
        (:func:`~neuroopt.sparse.selection.relocate_sources`), eliminate again with
        ``prune_level``, and refit at the same alpha. Attribute ``n_relocated_``: the number
        moved.
    prune_noise_std : None | ``"subspace"`` | float | array-like, shape (n_groups,)
        Noise std of the whitened data used by the elimination (and to weight the rows of
        the relocation): ``None`` (default), the fitted noise level(s); ``"subspace"``, the
        level of each sensor group estimated from the data's noise subspace
        (:func:`~neuroopt.sparse.alpha_search.subspace_noise_std`, pivotal: no noise scale
        needed); a number, or one per sensor group (in the order of the sorted labels), given.
        The fitted level is biased up by the shrinkage: the residual at the chosen alpha
        holds the part of the signal that the L2,1 penalty shrank away (on MNE's sample Left
        Auditory, 5 mm grid, 0.70 against 0.61 from the noise subspace), and the elimination
        at that level removed true sources; ``"subspace"`` is not ``sparse_inverse``'s
        default yet, as the 10 mm grid then misses with SGCL (README, "Why the square-root
        Lasso misses")."""

_COMMON_DOC = """
    n_orient : int
        Features per group (1: fixed orientation, 3: free orientation).
    tol : float
        Stop when the duality gap is below ``tol`` times the objective at zero.
    max_iter : int
        Maximum number of outer working-set iterations.
    warm_start : bool
        Start from the previous ``coef_``.
    n_reweighting : int
        Iterative-reweighting steps (1: convex problem only).
    reweighting : ``"log"`` | ``"l05"`` | ``"mne"``
        Concave penalty majorised by the reweighting (``"mne"``: MNE's irMxNE weights).
    debias : bool
        Rescale each active source by the factor ``>= 1`` that best fits the data in the
        fitted noise metric (MNE's debiasing; see ``BaseMultiTaskSparse._debias``).
    n_threads : int
        BLAS threads used during the fit.
    verbose : bool | str | int | None
        Log level for this fit.
"""


def check_epochs_vary(within_trace, total_power, n_epochs, name="Y"):
    """Raise when repetitions have (numerically) zero between-epoch variance.

    CLaR estimates the noise covariance from the differences between repetitions; identical
    epochs (e.g. copies of an average) leave it nothing to estimate and the solver would run
    until ``max_iter`` at the noise floor.

    Parameters
    ----------
    within_trace : float
        ``sum_l ||Y^l - Ybar||_F^2``.
    total_power : float
        ``sum_l ||Y^l||_F^2``.
    n_epochs : int
        Number of repetitions.
    name : str
        Name of the argument holding the epochs, for the message.
    """
    if within_trace <= 1e-20 * total_power:
        raise ValueError(
            f"{name}: the {n_epochs} epochs are identical (between-epoch variance "
            f"{within_trace:.3g}, data power {total_power:.3g}), and CLaR estimates the noise "
            "covariance from their differences. Pass the single trials (not copies of their "
            "average), or fit the average with SGCL / MultiTaskSqrtLasso."
        )


class _ConcomitantBase(BaseMultiTaskSparse):
    def _alpha_max_from_datafit(self, X, Y_mean, datafit, n_orient):
        datafit.initialize(Y_mean)
        return float(group_norms(X.T @ datafit.dual_direction(Y_mean), n_orient).max())


class _SensorGroupBase(_ConcomitantBase):
    """SGCL and its one-group case, the square-root Lasso (``_sensor_group_labels``)."""

    def _sensor_group_labels(self):
        return None

    def _prepare(self, X, Y):
        X, Y, n_orient = self._check_gain_and_data(X, Y, getattr(self, "_gain_checked", False))
        sigma_min = check_positive(self.sigma_min, "sigma_min")
        groups = self._sensor_group_labels()
        if groups is None:
            labels, index = np.zeros(1), np.zeros(Y.shape[0], dtype=np.intp)
        else:
            groups = np.asarray(groups)
            if groups.shape != (Y.shape[0],):
                raise ValueError(
                    f"sensor_groups must have one label per sensor, shape ({Y.shape[0]},), got "
                    f"{groups.shape}."
                )
            labels, index = np.unique(groups, return_inverse=True)
        self._labels, self._row_index = labels, index
        return X, Y, n_orient, SensorGroupConcomitant(index.astype(np.intp), sigma_min)

    def _prepare_fit(self, X, Y, alpha):
        Y, Y_epochs = self._epochs_input(Y, alpha)
        X, Y, n_orient, datafit = self._prepare(X, Y)
        return X, Y, Y_epochs, n_orient, datafit

    def _sure_noise_std(self, X, Y):
        """Noise levels fitted at the pivotal ``alpha="auto"``, fixed along the SURE search.

        The concomitant estimate at the alpha of the search itself cannot be used: its
        residual norm equals ``sqrt(n T) sigma`` exactly, and SURE would reduce to
        ``2 sigma^2 dof``, minimal at ``alpha_max``.
        """
        from sklearn.base import clone

        ref = without_selection(clone(self).set_params(alpha="auto", warm_start=False,
                                                       n_reweighting=1, verbose=None))
        ref._fit(X, Y)
        return np.atleast_1d(ref._noise_levels())

    def alpha_max(self, X, Y):
        """Smallest alpha with an all-zero solution (see the class docstring)."""
        X, Y, n_orient, datafit = self._prepare(X, Y)
        return self._alpha_max_from_datafit(X, Y, datafit, n_orient)

    def _row_noise_std(self, Y):
        """The noise level (``prune_noise_std``) of each row's sensor group."""
        given = self.prune_noise_std
        n_groups = len(self._labels)
        if given is None:
            return np.atleast_1d(self._noise_levels())[self._row_index]
        if isinstance(given, str):
            if given != "subspace":
                raise ValueError(f"prune_noise_std must be None, 'subspace', a number or one per "
                                 f"sensor group, got {given!r}.")
            from .alpha_search import subspace_noise_std

            return subspace_noise_std(Y, self._row_index)[self._row_index]
        stds = np.asarray(given, dtype=float).reshape(-1)
        if stds.size == 1:
            stds = np.repeat(stds, n_groups)
        if stds.shape != (n_groups,) or not np.all(np.isfinite(stds) & (stds > 0)):
            raise ValueError(f"prune_noise_std must be positive, one number or one per sensor "
                             f"group ({n_groups}, in the order of the sorted labels), got "
                             f"{given!r}; or None (the fitted levels) / 'subspace'.")
        return stds[self._row_index]


class SGCL(_SensorGroupBase):
    """Smoothed generalized concomitant multitask Lasso, one noise level per sensor group.

    Minimises over ``W`` and ``sigma_k >= sigma_min``::

        sum_k ||Y_k - X_k W^T||_F^2 / (2 n T sigma_k) + n_k sigma_k / (2 n) + alpha ||W||_2,1

    with ``Y_k``, ``X_k`` the ``n_k`` rows of sensor group ``k`` (e.g. magnetometers,
    gradiometers, EEG), ``n`` sensors and ``T`` times (Massias et al. 2018). Duality gap from the
    conjugate of the smoothed datafit (see :class:`~neuroopt.sparse.datafits.SensorGroupConcomitant`).
    ``alpha_max = max_g ||X_g^T Theta_0||_F`` with ``Theta_0`` rows of group k equal to
    ``Y_k / (n T max(sigma_min, ||Y_k|| / sqrt(n_k T)))``.

    Parameters
    ----------
    alpha : float | ``"auto"`` | ``"sure"`` | ``"cv"``
        Regularization (pivotal), or how ``fit`` chooses it (as :class:`MultiTaskLasso`;
        ``"sure"`` uses the noise levels fitted at ``"auto"``).
    sensor_groups : array-like, shape (n_sensors,) | None
        Group label of each sensor; ``None``: one group (the square-root Lasso).
    sigma_min : float
        Lower bound of the noise levels (smoothing); must be > 0. A noise level at this floor
        means the fit interpolates that group's data (e.g. more features than sensors at a
        small alpha): the solver then stops early with a ``ConvergenceWarning`` and sets
        ``noise_at_floor_`` (see ``solve_working_set``'s ``floor_patience``).
    %(prune_level)s
    %(common)s
    Attributes
    ----------
    coef_ : ndarray, shape (n_times, n_features)
    sigmas_ : ndarray, shape (n_groups,)
        Fitted noise standard deviation of each sensor group, in the order of ``sensor_groups_``.
    sensor_groups_ : ndarray
        Sorted unique group labels.
    noise_at_floor_ : bool
        True when a noise level ended at ``sigma_min`` (interpolation; see ``sigma_min``).
    dual_gap_, n_iter_, n_gradient_passes_, active_set_ : see :class:`MultiTaskLasso`.
    """

    def __init__(self, alpha="auto", *, sensor_groups=None, sigma_min=1e-6, n_orient=1, tol=1e-6,
                 max_iter=100, warm_start=False, n_reweighting=1, reweighting="log",
                 debias=False, prune_level=None, relocate=False, prune_noise_std=None, n_threads=1,
                 verbose=None):
        self.alpha = alpha
        self.prune_level = prune_level
        self.relocate = relocate
        self.prune_noise_std = prune_noise_std
        self.sensor_groups = sensor_groups
        self.sigma_min = sigma_min
        self.n_orient = n_orient
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.n_reweighting = n_reweighting
        self.reweighting = reweighting
        self.debias = debias
        self.n_threads = n_threads
        self.verbose = verbose

    def _sensor_group_labels(self):
        return self.sensor_groups

    def _finish_fit(self):
        self.sensor_groups_ = self._labels

    def _noise_levels(self):
        return self.sigmas_


class MultiTaskSqrtLasso(_SensorGroupBase):
    """Smoothed concomitant multitask square-root Lasso (Ndiaye et al. 2017, Massias et al. 2020).

    Minimises ``||Y - X W^T||_F^2 / (2 n T sigma) + sigma / 2 + alpha ||W||_2,1`` over ``W`` and
    ``sigma >= sigma_min``; as ``sigma_min -> 0`` it is the multitask square-root Lasso
    ``||Y - X W^T||_F / sqrt(n T) + alpha ||W||_2,1``. ``alpha_max =
    max_g ||X_g^T Y||_F / (n T max(sigma_min, ||Y||_F / sqrt(n T)))``.

    Parameters
    ----------
    alpha : float | ``"auto"`` | ``"sure"`` | ``"cv"``
        Regularization (pivotal), or how ``fit`` chooses it (as :class:`MultiTaskLasso`;
        ``"sure"`` uses the noise levels fitted at ``"auto"``).
    sigma_min : float
        Lower bound of the noise level (smoothing), > 0. At this floor the fit interpolates
        the data; the solver stops early with a ``ConvergenceWarning`` and sets
        ``noise_at_floor_``.
    %(prune_level)s
    %(common)s
    Attributes
    ----------
    coef_ : ndarray, shape (n_times, n_features)
    sigma_ : float
        Fitted noise standard deviation.
    dual_gap_, n_iter_, n_gradient_passes_, active_set_ : see :class:`MultiTaskLasso`.
    """

    def __init__(self, alpha="auto", *, sigma_min=1e-6, n_orient=1, tol=1e-6, max_iter=100,
                 warm_start=False, n_reweighting=1, reweighting="log", debias=False,
                 prune_level=None, relocate=False, prune_noise_std=None, n_threads=1, verbose=None):
        self.alpha = alpha
        self.prune_level = prune_level
        self.relocate = relocate
        self.prune_noise_std = prune_noise_std
        self.sigma_min = sigma_min
        self.n_orient = n_orient
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.n_reweighting = n_reweighting
        self.reweighting = reweighting
        self.debias = debias
        self.n_threads = n_threads
        self.verbose = verbose

    def _finish_fit(self):
        self.sigma_ = float(self.sigmas_[0])
        del self.sigmas_

    def _noise_levels(self):
        return self.sigma_


class CLaR(_ConcomitantBase):
    """Concomitant Lasso with repetitions (CLaR, Bertrand et al. 2019).

    Minimises over ``W`` and a noise covariance ``S >= sigma_min Id``::

        sum_l ||Y^l - X W^T||^2_{S^-1} / (2 n T r) + tr(S) / (2 n) + alpha ||W||_2,1

    over the ``r`` repetitions (epochs) ``Y^l``, with ``||A||^2_{S^-1} = tr(A^T S^-1 A)``. The
    noise update is ``S = ClSqrt(residual covariance, sigma_min)`` (square root with
    eigenvalues clipped at ``sigma_min``). With 2D ``Y`` (``r = 1``) it is the smoothed
    multivariate square-root Lasso. ``alpha_max = max_g ||X_g^T S_0^-1 Ybar||_F / (n T)`` with
    ``S_0`` the noise update at ``W = 0``.

    Two properties to know before use. Without repetitions, if ``Y`` has full row rank and no
    eigenvalue is clipped, ``S_0^-1 Y`` is ``sqrt(T)`` times the polar factor ``U V^T`` of
    ``Y``, so every group has the same correlation ``||X_g||_2 / (n sqrt(T))`` at zero: the
    data do not rank the sources at ``alpha_max`` and the support grows fast below it (use
    repetitions, or a ``sigma_min`` near the noise level). And like every L2,1 estimator it
    favours the columns of largest norm: M/EEG gains need depth weighting (e.g. unit-norm
    columns) for deep sources to be found.

    Parameters
    ----------
    alpha : float | ``"auto"`` | ``"cv"``
        Regularization (pivotal), or how ``fit`` chooses it: ``"auto"``, ``"cv"`` (4 epochs or
        more; a grid search without hypergradient refinement) or a float. No ``"sure"``: its
        degrees of freedom would need the derivative of the matrix square root of the noise update.
    sigma_min : float
        Lower bound of the eigenvalues of ``S``, > 0. Must be well above zero when
        ``n_sensors > r * n_times`` (the residual covariance is then singular).
    %s
    Attributes
    ----------
    coef_ : ndarray, shape (n_times, n_features)
    noise_cov_ : ndarray, shape (n_sensors, n_sensors)
        Fitted ``S`` (a standard-deviation-like matrix, the square root of the covariance).
    dual_gap_, n_iter_, n_gradient_passes_, active_set_ : see :class:`MultiTaskLasso`.
    """

    def __init__(self, alpha="auto", *, sigma_min=1e-3, n_orient=1, tol=1e-6, max_iter=100,
                 warm_start=False, n_reweighting=1, reweighting="log", debias=False,
                 n_threads=1, verbose=None):
        self.alpha = alpha
        self.sigma_min = sigma_min
        self.n_orient = n_orient
        self.tol = tol
        self.max_iter = max_iter
        self.warm_start = warm_start
        self.n_reweighting = n_reweighting
        self.reweighting = reweighting
        self.debias = debias
        self.n_threads = n_threads
        self.verbose = verbose

    def _prepare(self, X, Y):
        Y_arr = np.asarray(check_dense_real(Y, "Y"), dtype=float)
        self._y_was_1d = Y_arr.ndim == 1
        if Y_arr.ndim == 3:
            if not np.all(np.isfinite(Y_arr)):
                check_data_2d(Y_arr.reshape(-1, Y_arr.shape[-1]))
            Y_mean = np.ascontiguousarray(Y_arr.mean(axis=0))
            # sum_l (Y^l - Ybar)(Y^l - Ybar)^T as one BLAS product (einsum does not use BLAS)
            centered = (Y_arr - Y_mean).transpose(1, 0, 2).reshape(Y_mean.shape[0], -1)
            within = centered @ centered.T
            n_epochs = Y_arr.shape[0]
        elif Y_arr.ndim in (1, 2):
            Y_mean = check_data_2d(Y_arr)
            within = np.zeros((Y_mean.shape[0], Y_mean.shape[0]))
            n_epochs = 1
        else:
            raise ValueError(
                "Y must have shape (n_epochs, n_sensors, n_times) or (n_sensors, n_times), got "
                f"{Y_arr.shape}."
            )
        X = check_gain(X, Y_mean.shape[0])
        if Y_arr.ndim == 3:
            check_epochs_vary(float(np.trace(within)), float(np.vdot(Y_arr, Y_arr)), n_epochs)
        n_orient = self._validate_common(X.shape[1])
        sigma_min = check_positive(self.sigma_min, "sigma_min")
        return X, Y_mean, n_orient, CovarianceConcomitant(sigma_min, within, n_epochs)

    def alpha_max(self, X, Y):
        """Smallest alpha with an all-zero solution (see the class docstring)."""
        X, Y_mean, n_orient, datafit = self._prepare(X, Y)
        return self._alpha_max_from_datafit(X, Y_mean, datafit, n_orient)

    def _prepare_fit(self, X, Y, alpha):
        if alpha == "sure":
            from .alpha_search import clar_held_out_folds

            clar_held_out_folds(Y, alpha)  # raises: CLaR has no SURE (see its docstring)
        X, Y_mean, n_orient, datafit = self._prepare(X, Y)
        Y_epochs = Y if isinstance(Y, np.ndarray) and Y.ndim == 3 else None
        return X, Y_mean, Y_epochs, n_orient, datafit

    def predict(self, X):
        """Predicted (mean) data ``X @ coef_.T``, shape (n_sensors, n_times)."""
        return super().predict(X)


SGCL.__doc__ = SGCL.__doc__ % dict(prune_level=_PRUNE_LEVEL_DOC, common=_COMMON_DOC)
MultiTaskSqrtLasso.__doc__ = MultiTaskSqrtLasso.__doc__ % dict(prune_level=_PRUNE_LEVEL_DOC, common=_COMMON_DOC)
CLaR.__doc__ = CLaR.__doc__ % _COMMON_DOC
