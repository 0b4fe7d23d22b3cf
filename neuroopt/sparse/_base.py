"""Shared fit logic of the multitask sparse estimators (validation, reweighting, debiasing)."""

from __future__ import annotations

import numbers

import numpy as np
from scipy import sparse
from sklearn.base import BaseEstimator, RegressorMixin
from sklearn.utils import check_array
from sklearn.utils.validation import check_is_fitted

from ..utils import (
    blas_threads,
    check_array_2d,
    check_option,
    check_positive,
    logger,
    set_log_level,
    validate_type,
)
from .penalties import L21, group_norms
from .solvers import group_columns, group_spectral_norms, solve_working_set

REWEIGHTINGS = ("log", "l05", "mne")
ALPHA_METHODS = ("auto", "sure", "cv")


def check_alpha(alpha):
    """``alpha`` as a float >= 0 or one of :data:`ALPHA_METHODS`; errors name the argument."""
    if isinstance(alpha, str):
        if alpha not in ALPHA_METHODS:
            raise ValueError(f"alpha must be a float >= 0 or one of {list(ALPHA_METHODS)} "
                             f"('auto': quantile universal threshold, 'sure': Stein's unbiased "
                             f"risk estimate, 'cv': held-out epochs), got {alpha!r}.")
        return alpha
    if isinstance(alpha, bool) or not isinstance(alpha, numbers.Real):
        raise TypeError(f"alpha must be a float >= 0 or one of {list(ALPHA_METHODS)}, got "
                        f"{alpha!r} of type {type(alpha).__name__}.")
    return check_positive(alpha, "alpha", strict=False)


def check_n_orient(n_orient, n_features):
    """Check that ``n_orient`` is a positive integer dividing ``n_features``."""
    validate_type(n_orient, numbers.Integral, "n_orient")
    if n_orient < 1:
        raise ValueError(f"n_orient must be >= 1 (1: fixed, 3: free orientation), got {n_orient}.")
    if n_features % n_orient:
        raise ValueError(
            f"n_orient={n_orient} does not divide n_features={n_features}: with free orientation "
            "the gain must have n_orient consecutive columns per source."
        )
    return int(n_orient)


def check_dense_real(array, name):
    """Reject None, sparse, complex, non-numeric and empty inputs with a message naming ``name``.

    The dtype is validated by scikit-learn's ``check_array(dtype="numeric")``: strings and bytes
    are rejected (not parsed as numbers), object arrays of numbers become float.
    """
    if array is None:
        raise ValueError(f"This estimator requires y to be passed, but the target y is None ({name}).")
    if sparse.issparse(array):
        raise TypeError(f"Sparse data was passed for {name}, but dense data is required: use "
                        f"{name}.toarray().")
    array = np.asarray(array)
    if np.iscomplexobj(array):
        raise ValueError(f"Complex data not supported: {name} has dtype {array.dtype}.")
    if array.size and array.dtype.kind not in "biuf":
        try:
            array = check_array(array, dtype="numeric", ensure_2d=False, allow_nd=True,
                                ensure_all_finite=False, input_name=name)
        except ValueError as err:
            raise ValueError(f"{name} has dtype {array.dtype}, which is not numeric: {err} "
                             f"(e.g. {name}.astype(float) if it holds numbers).") from err
    if array.size == 0:
        what = "feature(s)" if array.ndim == 2 and array.shape[0] > 0 else "sample(s)"
        raise ValueError(f"Found array with 0 {what} (shape={array.shape}) while a minimum of "
                         f"1 is required. ({name} is empty.)")
    return array


def to_2d(array, name):
    """A dense real 2D float array, with "Reshape your data" advice for 1D input."""
    array = check_dense_real(array, name)
    if array.ndim == 1:
        raise ValueError(f"Expected 2D array for {name}, got 1D array of shape {array.shape}. "
                         "Reshape your data using array.reshape(-1, 1) for a single feature or "
                         "array.reshape(1, -1) for a single sample.")
    return check_array_2d(array, name)


def check_gain(X, n_samples=None):
    """Validate the gain ``X`` (n_sensors, n_features): finite, 2D, not all zero."""
    X = to_2d(X, "X")
    if n_samples is not None and X.shape[0] != n_samples:
        raise ValueError(
            f"X has {X.shape[0]} rows (sensors) but Y has {n_samples}; pass X of shape "
            "(n_sensors, n_features) and Y of shape (n_sensors, n_times)."
        )
    if not np.any(X):
        raise ValueError("X (the gain) is all zeros: no source can explain the data; check the "
                         "forward model and the whitening.")
    return X


def check_data_2d(Y, name="Y"):
    """Validate 2D data; a 1D ``Y`` is one time point."""
    Y = check_dense_real(Y, name)
    if Y.ndim == 1:
        Y = Y[:, None]
    return check_array_2d(Y, name)


def reweighting_weights(B, n_orient, kind, scale=None):
    """Penalty weights for the next irMxNE iteration (majorisation of a concave penalty).

    ``"l05"``: ``sqrt(max_h ||B_h|| / ||B_g||)``, proportional to the derivative
    ``1 / (2 sqrt(||B_g||))`` of the L2,0.5 quasi-norm used by MNE's irMxNE but normalised so the
    strongest group keeps weight 1 (MNE's version depends on the units of the sources); groups at
    zero get an infinite weight and leave the model. ``"log"``: ``eps / (eps + ||B_g||)`` (the penalty
    ``eps log(1 + ||B_g|| / eps)``) with ``eps`` one tenth of the largest group norm, so zero
    groups keep weight 1 and ``alpha_max`` is unchanged. ``"mne"``: MNE's irMxNE weights
    (``iterative_mixed_norm_solver``), ``1 / (2 sqrt(scale ||B_g||))`` with
    ``scale = max_g ||X_g^T Y|| / 100`` (:func:`mne_reweighting_scale`): ``mixed_norm`` divides
    the gain by that, so its sources are ``scale`` times ours and its weights are not normalised;
    zero groups leave the model.
    """
    norms = group_norms(B, n_orient)
    if kind == "mne":
        with np.errstate(divide="ignore"):
            return np.where(norms > 0, 0.5 / np.sqrt(scale * norms), np.inf)
    if kind == "l05":
        with np.errstate(divide="ignore"):
            return np.where(norms > 0, np.sqrt(norms.max() / norms), np.inf)
    eps = 0.1 * norms.max() if norms.max() > 0 else 1.0
    return eps / (eps + norms)


def mne_reweighting_scale(X, Y, n_orient):
    """``max_g ||X_g^T Y||_F / 100``: MNE's ``mixed_norm`` divides the gain by it (alpha in %)."""
    return 0.01 * float(group_norms(X.T @ Y, n_orient).max())


def without_selection(estimator):
    """``estimator`` with its post-selection (``prune_level``, ``relocate``) switched off.

    The criteria of the alpha search and the reference fits are those of the convex fit.
    """
    params = estimator.get_params()
    off = {k: v for k, v in (("prune_level", None), ("relocate", False)) if k in params}
    return estimator.set_params(**off)


class BaseMultiTaskSparse(RegressorMixin, BaseEstimator):
    """Fit loop shared by the estimators; subclasses provide the datafit and the data layout."""

    def _validate_common(self, n_features):
        n_orient = check_n_orient(self.n_orient, n_features)
        check_positive(self.tol, "tol")
        validate_type(self.max_iter, numbers.Integral, "max_iter")
        if self.max_iter < 1:
            raise ValueError(f"max_iter must be >= 1, got {self.max_iter}.")
        validate_type(self.n_reweighting, numbers.Integral, "n_reweighting")
        if self.n_reweighting < 1:
            raise ValueError(f"n_reweighting must be >= 1 (1: no reweighting), got "
                             f"{self.n_reweighting}.")
        check_option("reweighting", self.reweighting, REWEIGHTINGS)
        level = getattr(self, "prune_level", None)
        if level is not None:
            if isinstance(level, bool) or not isinstance(level, numbers.Real) or not 0 < level < 1:
                raise ValueError(f"prune_level must be None (no elimination) or a level in (0, 1), "
                                 f"e.g. 0.05, got {level!r}.")
        if not isinstance(getattr(self, "relocate", False), (bool, np.bool_)):
            raise TypeError(f"relocate must be True or False, got {self.relocate!r}.")
        return n_orient

    def _check_gain_and_data(self, X, Y, gain_checked=False):
        """Validated (X, Y as 2D, n_orient); remembers whether Y was 1D (for ``predict``).

        ``gain_checked``: ``lasso_path`` validated ``X`` once for the whole path (a finiteness
        scan of a large gain costs as much as a fit at large alpha).
        """
        Y_arr = check_dense_real(Y, "Y")
        self._y_was_1d = Y_arr.ndim == 1
        Y = check_data_2d(Y_arr)
        if gain_checked and X.shape[0] == Y.shape[0]:
            return X, Y, self._validate_common(X.shape[1])
        X = check_gain(X, Y.shape[0])
        return X, Y, self._validate_common(X.shape[1])

    def fit(self, X, Y):
        """Fit on gain ``X`` (n_sensors, n_features) and data ``Y``; choose alpha if asked.

        ``Y`` is (n_sensors, n_times); with ``alpha="cv"`` it is the epochs (n_epochs,
        n_sensors, n_times) and the model is fitted to their average (CLaR always takes epochs).
        The log level is the constructor's ``verbose``.
        """
        old = set_log_level(self.verbose)
        try:
            return self._fit(X, Y)
        finally:
            if old is not None:
                logger.setLevel(old)

    def _fit(self, X, Y, path_cache=None):
        """``fit``; ``path_cache`` (from ``lasso_path``): X validated, its group norms and the
        last pass over X of the previous path point."""
        alpha = check_alpha(self.alpha)
        self._gain_checked = path_cache is not None
        X, Y_fit, Y_epochs, n_orient, datafit = self._prepare_fit(X, Y, alpha)
        del self._gain_checked
        for name in ("alphas_", "criterion_path_", "alpha_search_", "n_solves_"):
            self.__dict__.pop(name, None)
        if alpha == "auto":
            alpha = self._quantile_universal_alpha(X, Y_fit if Y_epochs is None else Y_epochs)
        elif alpha in ("sure", "cv"):
            alpha = self._search_alpha(X, Y_fit, Y_epochs, alpha)
        self._run(X, Y_fit, datafit, n_orient, alpha, path_cache)
        self._finish_fit()
        self.n_pruned_ = self.n_relocated_ = 0
        selects = getattr(self, "prune_level", None) is not None or getattr(self, "relocate", False)
        if selects and self.active_set_.any():
            self._prune(X, Y_fit, datafit, n_orient, alpha)
        return self

    def _row_noise_std(self, Y):
        """Noise std of each row of the data ``Y``, for the elimination test (see the subclasses)."""
        return np.full(Y.shape[0], float(self._qut_noise_std()))

    def _prune(self, X, Y, datafit, n_orient, alpha):
        """Post-selection of the active sources, then the same fit on those selected.

        The rows are divided by their noise std (``noise_std``, or for the concomitant
        estimators ``prune_noise_std``, by default their fitted noise levels) and the noise's temporal correlation is estimated from the
        data (:func:`~neuroopt.sparse.criteria.noise_time_correlation`). With ``prune_level``,
        the sources that fail :func:`~neuroopt.sparse.selection.eliminate_sources` are
        dropped; with ``relocate``, the remaining ones are moved by
        :func:`~neuroopt.sparse.selection.relocate_sources` and, with both, the elimination is
        run again on the moved sources (a move can make a neighbour redundant). The sources
        not selected get an infinite penalty weight in a refit at the same alpha
        (warm-started).
        """
        from .criteria import noise_time_correlation
        from .selection import eliminate_sources, relocate_sources

        stds = self._row_noise_std(Y)
        Xw, Yw = X / stds[:, None], Y / stds[:, None]
        time_cov = noise_time_correlation(Yw)
        level = getattr(self, "prune_level", None)
        relocate = getattr(self, "relocate", False)
        initial = self.active_set_.copy()

        def eliminate(active):
            if level is None:
                return active
            return eliminate_sources(Xw, Yw, active, n_orient, 1.0, level=level,
                                     time_cov=time_cov)

        kept = eliminate(initial)
        n_relocated = 0
        if relocate and kept.any():
            moved = relocate_sources(Xw, Yw, kept, n_orient)
            n_relocated = int(np.sum(moved & ~kept))
            kept = eliminate(moved) if n_relocated else moved
        n_pruned = int(initial.sum() - kept.sum())
        if n_pruned or n_relocated:
            logger.info(f"{type(self).__name__}: of {int(initial.sum())} active sources, "
                        f"{n_pruned} removed by backward elimination (level {level}) and "
                        f"{n_relocated} moved to a neighbour; refitting the {int(kept.sum())} "
                        "selected.")
            self._run(X, Y, datafit, n_orient, alpha, mask=np.where(kept, 1.0, np.inf))
            self._finish_fit()
        self.n_pruned_, self.n_relocated_ = n_pruned, n_relocated

    def _epochs_input(self, Y, alpha):
        """``(Y_fit, Y_epochs)``: with ``alpha="cv"`` 3D epochs are averaged for the fit."""
        if not (isinstance(Y, np.ndarray) and Y.ndim == 3):
            return Y, None
        if alpha != "cv":
            raise ValueError(f"Y has shape {np.shape(Y)} (epochs): {type(self).__name__} takes "
                             "epochs only with alpha='cv' (to score held-out halves); pass "
                             "their average, of shape (n_sensors, n_times).")
        Y_epochs = np.asarray(check_dense_real(Y, "Y"), dtype=float)
        return Y_epochs.mean(axis=0), Y_epochs

    def _finish_fit(self):
        """Hook of the subclasses: fitted attributes derived from the datafit."""

    def _qut_noise_std(self):
        """Noise std of the simulations of ``alpha="auto"`` (irrelevant for pivotal alphas)."""
        return 1.0

    def _quantile_universal_alpha(self, X, Y):
        from .alpha_search import quantile_universal_alpha

        return quantile_universal_alpha(self, X, np.shape(Y), noise_std=self._qut_noise_std())

    def _sure_noise_std(self, X, Y):
        """Noise std(s) of ``Y`` used by SURE (see the subclasses)."""
        return self._qut_noise_std()

    def _search_alpha(self, X, Y_fit, Y_epochs, criterion):
        from sklearn.base import clone

        from .alpha_search import search_alpha

        if criterion == "cv" and Y_epochs is None:
            raise ValueError("alpha='cv' fits half of the epochs and scores the other half: "
                             "pass Y of shape (n_epochs, n_sensors, n_times), or use "
                             "alpha='sure' with Y of shape (n_sensors, n_times).")
        noise_std = self._sure_noise_std(X, Y_fit) if criterion == "sure" else 1.0
        solver = without_selection(clone(self).set_params(alpha=1.0, warm_start=False,
                                                          n_reweighting=1, verbose=None))
        result = search_alpha(solver, X, Y_fit if criterion == "sure" else Y_epochs,
                              criterion=criterion, noise_std=noise_std, tol=self.tol)
        order = np.argsort(result.alphas)[::-1]
        self.alpha_search_ = result
        self.alphas_ = result.alphas[order]
        self.criterion_path_ = result.criterion_values[order]
        self.n_solves_ = result.n_solves
        return result.alpha

    def _run(self, X, Y_solver, datafit, n_orient, alpha, cache=None, mask=None):
        """Solve (with reweighting and debiasing) and set the fitted attributes.

        ``mask``: penalty weights multiplying every step's (``np.inf`` leaves a source out);
        given, the fit starts from the current ``coef_``.
        """
        validate_type(self.n_threads, numbers.Integral, "n_threads")
        if self.n_threads < 1:
            raise ValueError(f"n_threads must be >= 1, got {self.n_threads}.")
        with blas_threads(int(self.n_threads)):
            return self._run_pinned(X, Y_solver, datafit, n_orient, alpha, cache, mask)

    def _run_pinned(self, X, Y_solver, datafit, n_orient, alpha, cache, mask=None):
        B0 = None
        warm = self.warm_start or mask is not None
        if warm and hasattr(self, "coef_") and self.coef_.shape == (
                Y_solver.shape[1], X.shape[1]):
            active = getattr(self, "active_set_", None)
            if active is not None and active.shape == (X.shape[1] // n_orient,):
                support = group_columns(np.flatnonzero(active), n_orient)
            else:
                support = np.flatnonzero(np.any(self.coef_ != 0, axis=0))
            B0 = np.zeros((X.shape[1], Y_solver.shape[1]))
            B0[support] = self.coef_[:, support].T
        # lasso_path hands a cache for the same X and Y at every alpha: the group norms of X,
        # and the last pass over X (a feasible dual point at any alpha) with the one before it
        spectral = None if cache is None else cache.get("spectral_norms")
        if spectral is None or spectral.shape != (X.shape[1] // n_orient,):
            spectral = group_spectral_norms(X, n_orient)
        last_pass = None if cache is None or B0 is None else cache.get("last_pass")
        previous_pass = None if last_pass is None else cache.get("previous_pass")
        gradient_cache = None if cache is None else cache.get("gradient_cache")
        weights = mask
        n_passes = n_gram = n_iter = n_epochs = 0
        solve_time = 0.0
        scale = None
        for k in range(self.n_reweighting):
            penalty = L21(alpha, n_orient, weights)
            result = solve_working_set(X, Y_solver, datafit, penalty, B0, tol=self.tol,
                                       max_iter=self.max_iter, spectral_norms=spectral,
                                       initial_pass=last_pass, previous_pass=previous_pass,
                                       gradient_cache=gradient_cache)
            previous_pass = last_pass
            last_pass, gradient_cache = result.last_pass, result.gradient_cache
            if cache is not None:
                cache["last_pass"], cache["gradient_cache"] = last_pass, gradient_cache
                cache["previous_pass"] = previous_pass
            n_gram += result.n_gram_passes
            n_passes += result.n_gradient_passes
            n_iter += result.n_iter
            n_epochs += result.n_epochs
            solve_time += result.solve_time
            B0 = result.B
            active = group_norms(B0, n_orient) > 0
            logger.info(f"{type(self).__name__} step {k + 1}/{self.n_reweighting}: "
                        f"{int(active.sum())} active groups, gap {result.dual_gap:.2e}, "
                        f"{result.n_gradient_passes} passes (+{result.n_gram_passes} cached)")
            if k + 1 < self.n_reweighting:
                if self.reweighting == "mne" and scale is None:
                    scale = mne_reweighting_scale(X, Y_solver, n_orient)
                weights = reweighting_weights(B0, n_orient, self.reweighting, scale)
                if mask is not None:
                    weights = weights * mask
        B = result.B
        if self.debias and active.any():
            B = self._debias(X, Y_solver, datafit, B, active, n_orient)
        self.alpha_ = alpha
        # C-ordered coef_ written column by column on the support (a transposed copy of the
        # mostly-zero B costs as much as a whole fit at large alpha)
        self.coef_ = np.zeros((B.shape[1], B.shape[0]))
        support = group_columns(np.flatnonzero(active), n_orient)
        self.coef_[:, support] = B[support].T
        self.active_set_ = active
        self.dual_gap_ = result.dual_gap
        self.primal_ = result.primal
        self.objective_at_zero_ = result.objective_at_zero
        self.n_iter_ = n_iter
        self.n_epochs_ = n_epochs
        self.n_gradient_passes_ = n_passes
        self.n_gram_passes_ = n_gram
        self.solve_time_ = solve_time
        self.converged_ = result.converged
        self.noise_at_floor_ = result.noise_at_floor
        self.n_features_in_ = X.shape[1]
        for key, value in datafit.noise_summary().items():
            setattr(self, key + "_", value)
        return self

    @staticmethod
    def _debias(X, Y, datafit, B, active, n_orient):
        """Rescale each active source by ``d_j >= 1`` (MNE's debiasing), in the fitted metric.

        Same problem as :func:`mne.inverse_sparse.mxne_debiasing.compute_bias` (used by
        ``mixed_norm(debias=True)``): ``min_d ||Y - X diag(d) B||^2_M`` subject to ``d >= 1``,
        one ``d_j`` shared by the ``n_orient`` rows of source ``j``, with ``M`` the datafit's
        metric at the fitted noise (``I / n`` for the multitask Lasso, as in MNE). The time
        courses and orientations are kept, only their amplitude shrinkage by the L2,1 penalty
        is undone. It is a quadratic program in ``n_active`` variables, solved exactly
        (non-negative least squares on ``d - 1``) instead of MNE's FISTA iterations. A full
        least-squares refit would not do: on a large support it lets neighbouring sources
        cancel each other with huge amplitudes.
        """
        from scipy.optimize import nnls

        groups = np.flatnonzero(active)
        # contribution of each active source to the fitted data, (n_active, n_sensors, n_times)
        Z = np.stack([X[:, group_columns(g[None], n_orient)]
                      @ B[group_columns(g[None], n_orient)] for g in groups])
        MZ = np.stack([datafit.apply_metric(z) for z in Z])
        A = np.einsum("jst,kst->jk", Z, MZ)
        A = (A + A.T) / 2
        c = np.einsum("jst,st->j", MZ, Y) - A.sum(axis=1)  # gradient at d = 1, halved
        ridge = 1e-12 * np.trace(A) / len(A)
        L = np.linalg.cholesky(A + ridge * np.eye(len(A)))
        excess, _ = nnls(L.T, np.linalg.solve(L, c), maxiter=50 * len(A))
        out = np.zeros_like(B)
        cols = group_columns(groups, n_orient)
        out[cols] = B[cols] * np.repeat(1.0 + excess, n_orient)[:, None]
        return out

    def predict(self, X):
        """Predicted data ``X @ coef_.T``, shape (n_sensors, n_times)."""
        check_is_fitted(self, "coef_")
        X = to_2d(X, "X")
        if X.shape[1] != self.coef_.shape[1]:
            raise ValueError(f"X has {X.shape[1]} features, but {type(self).__name__} is "
                             f"expecting {self.coef_.shape[1]} features as input (the gain "
                             "used in fit).")
        out = X @ self.coef_.T
        return out[:, 0] if getattr(self, "_y_was_1d", False) else out

    def __sklearn_tags__(self):
        tags = super().__sklearn_tags__()
        tags.target_tags.multi_output = True
        tags.target_tags.single_output = False
        return tags
