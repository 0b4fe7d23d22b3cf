"""Datafits of the multitask solvers, each owning its noise model and its dual.

All are functions of the residual ``R = Y - X B`` (n_sensors, n_times). With the noise fixed,
each datafit is the quadratic ``tr(R^T M R) / 2`` for a sensor metric ``M`` (which includes the
scaling), so one block coordinate descent solves them all; ``update_noise`` is the closed-form
minimisation over the noise, and ``dual_*`` give a dual point and the dual objective built from a
residual, for the duality gap. Datafits whose metric is a weight per block of sensors (after
``initialize``: ``sensor_blocks``, a list of row indices or ``[None]`` for all rows, and
``block_weights()``) let the solver keep one Gram matrix per block and re-weight it after a noise
update instead of recomputing it; with ``dual_block_weights(R)`` (the weights of the dual point
built from ``R``) it also evaluates ``X^T Theta`` from cached products ``X_k^T Y_k`` and Gram
columns instead of a pass over ``X``.

Notation: ``n`` sensors, ``T`` times, ``h`` is the Huber-like function
``h(t) = t`` if ``t >= sigma_min`` else ``t**2 / (2 sigma_min) + sigma_min / 2`` obtained by
minimising ``t**2 / (2 sigma) + sigma / 2`` over ``sigma >= sigma_min``; its convex conjugate is
``h*(u) = sigma_min (u**2 - 1) / 2`` on ``|u| <= 1``.
"""

from __future__ import annotations

import numpy as np

from .base import BaseBlockMetricDatafit, BaseDatafit


def _huber(t, sigma_min):
    t = np.asarray(t, dtype=float)
    return np.where(t >= sigma_min, t, t ** 2 / (2 * sigma_min) + sigma_min / 2)


class Quadratic(BaseBlockMetricDatafit):
    """Multitask least squares ``||Y - X B||_F^2 / (2 n)`` (no noise parameter).

    Dual: ``D(Theta) = <Theta, Y> - n ||Theta||_F^2 / 2`` under the penalty's dual constraint on
    ``X^T Theta``; the optimal ``Theta`` is ``R / n``.
    """

    has_noise = False

    def initialize(self, Y):
        """Store the data ``Y`` (n_sensors, n_times)."""
        self.Y = Y
        self.n_sensors = Y.shape[0]
        self.dual_strong_concavity = float(self.n_sensors)
        self.sensor_blocks = [None]
        return self

    def block_weights(self):
        """Metric ``M = I / n`` as one weight per sensor block (one block: all sensors)."""
        return np.array([1.0 / self.n_sensors])

    def dual_block_weights(self, R):
        """Block weights ``w`` with ``dual_direction(R) = w[block] * R`` (here ``1 / n``)."""
        return np.array([1.0 / self.n_sensors])

    def value(self, R):
        """Datafit value at residual ``R``."""
        return float(np.vdot(R, R)) / (2 * self.n_sensors)

    def update_noise(self, R):
        """No noise parameter: return False (the metric never changes)."""
        return False

    def apply_metric(self, A):
        """``M A`` for the current noise."""
        return A / self.n_sensors

    def dual_direction(self, R):
        """Unscaled dual point ``Theta(R)``; ``X^T Theta`` is minus the gradient."""
        return R / self.n_sensors

    def dual_value(self, R, scale):
        """Dual objective at ``dual_direction(R) / scale``."""
        theta = R / (self.n_sensors * scale)
        return float(np.vdot(theta, self.Y)) - self.n_sensors * float(np.vdot(theta, theta)) / 2

    def gram_values(self, YMY, HB, BQ, scale):
        """Datafit and dual values from working-set Gram quantities, without the residual.

        With the metric ``M = I / n``, ``H = X^T M Y`` and ``Q = X^T M X B`` (the solver's
        working-set arrays), ``YMY = <Y, M Y>``, ``HB = <H, B>`` and ``BQ = <B, Q>`` give
        ``<R, M R> = YMY - 2 HB + BQ`` and ``<M R, Y> = YMY - HB``; ``X^T`` of the dual direction
        is ``H - Q``. Returns the datafit at ``R = Y - X B`` and the dual objective at
        ``dual_direction(R) / scale``.
        """
        rmr = YMY - 2.0 * HB + BQ
        return 0.5 * rmr, (YMY - HB) / scale - rmr / (2.0 * scale * scale)

    def noise_summary(self):
        """Fitted noise parameters (none)."""
        return {}


class SensorGroupConcomitant(BaseBlockMetricDatafit):
    """Smoothed concomitant datafit with one noise level per sensor group (SGCL).

    ``min_{sigma_k >= sigma_min} sum_k ||R_k||^2 / (2 n T sigma_k) + n_k sigma_k / (2 n)`` where
    ``R_k`` are the rows of group ``k`` (Massias et al. 2018). With a single group this is the
    smoothed concomitant multitask square-root Lasso datafit (Ndiaye et al. 2017).

    Minimising over ``sigma_k`` gives ``sigma_k = max(sigma_min, ||R_k|| / sqrt(n_k T))`` and the
    datafit ``sum_k (n_k / n) h(||R_k|| / sqrt(n_k T))``. Its conjugate is
    ``sigma_min (n T ||Theta||^2 - 1) / 2`` with ``||Theta_k|| <= sqrt(n_k) / (n sqrt(T))``, so
    ``D(Theta) = <Theta, Y> + sigma_min / 2 - sigma_min n T ||Theta||^2 / 2`` and the optimal
    dual point is ``Theta_k = R_k / (n T sigma_k)``, which satisfies the norm constraint.
    """

    has_noise = True

    def __init__(self, group_index, sigma_min):
        self.group_index = np.asarray(group_index)
        self.sigma_min = float(sigma_min)

    def initialize(self, Y):
        """Store the data and the sensor-group sizes."""
        self.Y = Y
        n, T = Y.shape
        self.n_sensors, self.n_times = n, T
        self.n_groups = int(self.group_index.max()) + 1
        self.group_sizes = np.bincount(self.group_index, minlength=self.n_groups)
        self.dual_strong_concavity = self.sigma_min * n * T
        self.sigmas = self._noise_from(Y)
        self.sensor_blocks = [np.flatnonzero(self.group_index == k) for k in range(self.n_groups)]
        if self.n_groups == 1:
            self.sensor_blocks = [None]
        return self

    def block_weights(self):
        """Metric ``M = diag(1 / (n T sigma_k))`` as one weight per sensor group."""
        return 1.0 / (self.n_sensors * self.n_times * self.sigmas)

    def dual_block_weights(self, R):
        """Block weights ``w`` with ``dual_direction(R) = w[group] * R`` (noise implied by R)."""
        return 1.0 / (self.n_sensors * self.n_times * self._noise_from(R))

    def _group_sq_norms(self, R):
        return np.bincount(self.group_index, weights=(R ** 2).sum(axis=1), minlength=self.n_groups)

    def _noise_from(self, R):
        sq = self._group_sq_norms(R)
        return np.maximum(self.sigma_min, np.sqrt(sq / (self.group_sizes * self.n_times)))

    def value(self, R):
        """Datafit value at residual ``R``, minimised over the noise levels."""
        t = np.sqrt(self._group_sq_norms(R) / (self.group_sizes * self.n_times))
        return float(np.sum(self.group_sizes / self.n_sensors * _huber(t, self.sigma_min)))

    def update_noise(self, R):
        """Closed-form noise update from the residual; return True if the metric changed."""
        new = self._noise_from(R)
        changed = not np.array_equal(new, self.sigmas)
        self.sigmas = new
        return changed

    def _apply(self, sigmas, A):
        return A / (self.n_sensors * self.n_times * sigmas[self.group_index])[:, None]

    def apply_metric(self, A):
        """``M A`` for the current noise levels."""
        return self._apply(self.sigmas, A)

    def dual_direction(self, R):
        """Dual point built from ``R`` with the noise levels that ``R`` implies."""
        return self._apply(self._noise_from(R), R)

    def dual_value(self, R, scale):
        """Dual objective at ``dual_direction(R) / scale``."""
        theta = self.dual_direction(R) / scale
        return (float(np.vdot(theta, self.Y)) + self.sigma_min / 2
                - self.dual_strong_concavity * float(np.vdot(theta, theta)) / 2)

    def noise_at_floor(self):
        """True when a group's noise level is at ``sigma_min`` (the fit interpolates its rows)."""
        return bool(np.any(self.sigmas <= self.sigma_min))

    def noise_summary(self):
        """Fitted noise levels, one per sensor group."""
        return {"sigmas": self.sigmas.copy()}


class CovarianceConcomitant(BaseDatafit):
    """CLaR datafit: concomitant estimation of a full noise covariance from repetitions.

    ``min_{S >= sigma_min Id} sum_l ||Y^l - X B||^2_{S^-1} / (2 n T r) + tr(S) / (2 n)`` over the
    ``r`` repetitions ``Y^l`` (Bertrand et al. 2019); with ``r = 1`` it is the smoothed
    multivariate square-root Lasso. Only the mean residual ``R = Ybar - X B`` enters the solver:
    with ``C_w = sum_l (Y^l - Ybar)(Y^l - Ybar)^T`` the residual covariance is
    ``Sigma = (C_w + r R R^T) / (T r)`` and the optimal ``S`` is ``Sigma^(1/2)`` with eigenvalues
    clipped below at ``sigma_min``. The datafit is ``(1/n) sum_i h(sqrt(eig_i(Sigma)))``, a
    spectral function of the stacked residuals, whose conjugate gives
    ``D(Theta) = sum_l <Theta_l, Y^l> + sigma_min / 2 - sigma_min n T r ||Theta||^2 / 2`` with
    optimal ``Theta_l = S^-1 (Y^l - X B) / (n T r)``.
    """

    has_noise = True
    _eig_cache_size = 3

    def __init__(self, sigma_min, within_cov, n_epochs):
        self.sigma_min = float(sigma_min)
        self.within_cov = within_cov
        self.n_epochs = int(n_epochs)

    def initialize(self, Y):
        """Store the mean data ``Ybar`` (n_sensors, n_times)."""
        self.Y = Y
        n, T = Y.shape
        self.n_sensors, self.n_times = n, T
        # the dual is sigma_min n T r strongly concave in the stacked Theta; the solver screens
        # with sum_l Theta_l, whose distance to the optimum is at most sqrt(r) times larger
        self.dual_strong_concavity = self.sigma_min * n * T
        self._eig_cache = []
        self._set_noise(Y)
        return self

    def _residual_cov(self, R):
        r = self.n_epochs
        return (self.within_cov + r * (R @ R.T)) / (self.n_times * r)

    def _noise_eig(self, R):
        # the eigendecomposition (O(n^3)) dominates the cost of this datafit, and the solver asks
        # for the value, the noise and the dual point of the same few residuals (the current
        # one and its extrapolation): keep the last ones, keyed by identity plus an O(n T)
        # fingerprint, so that a residual modified in place is not mistaken for the old one
        cache = self.__dict__.setdefault("_eig_cache", [])
        fingerprint = (float(np.vdot(R, R)), float(R.sum()))
        for key, key_print, value in cache:
            if key is R and key_print == fingerprint:
                return value
        evals, evecs = np.linalg.eigh(self._residual_cov(R))
        value = (np.sqrt(np.clip(evals, 0.0, None)), evecs)
        cache.insert(0, (R, fingerprint, value))
        del cache[self._eig_cache_size:]
        return value

    def _set_noise(self, R):
        sqrt_evals, evecs = self._noise_eig(R)
        s = np.maximum(sqrt_evals, self.sigma_min)
        self.noise_evals, self.noise_evecs = s, evecs
        return s, evecs

    def value(self, R):
        """Datafit value at the mean residual ``R``, minimised over the covariance."""
        sqrt_evals, _ = self._noise_eig(R)
        return float(np.sum(_huber(sqrt_evals, self.sigma_min))) / self.n_sensors

    def update_noise(self, R):
        """Closed-form covariance update; return True (the metric changes)."""
        self._set_noise(R)
        return True

    def _apply(self, s, evecs, A):
        scale = self.n_sensors * self.n_times
        return evecs @ ((evecs.T @ A) / (s[:, None] * scale))

    def apply_metric(self, A):
        """``S^-1 A / (n T)`` for the current covariance."""
        return self._apply(self.noise_evals, self.noise_evecs, A)

    def dual_direction(self, R):
        """Sum over repetitions of the dual point built from ``R``: ``S^-1 R / (n T)``."""
        sqrt_evals, evecs = self._noise_eig(R)
        return self._apply(np.maximum(sqrt_evals, self.sigma_min), evecs, R)

    def dual_value(self, R, scale):
        """Dual objective at the stacked dual point built from ``R``, divided by ``scale``."""
        sqrt_evals, evecs = self._noise_eig(R)
        s = np.maximum(sqrt_evals, self.sigma_min)
        n, T, r = self.n_sensors, self.n_times, self.n_epochs
        denom = n * T * r * scale
        # S and C = C_w + r R R^T = T r V diag(lambda) V^T share the eigenvectors V, so the
        # traces below cost O(n^2 T), not O(n^3):
        # sum_l <Theta_l, Y^l> = tr(S^-1 (C + r R (Ybar - R)^T)) / denom
        lam = sqrt_evals ** 2
        fitted = evecs.T @ (self.Y - R)
        cross = r * float(np.vdot((evecs.T @ R) / s[:, None], fitted))
        lin = (T * r * float(np.sum(lam / s)) + cross) / denom
        # ||Theta||^2 = tr(S^-2 C) / denom^2
        quad = T * r * float(np.sum(lam / s ** 2)) / denom ** 2
        return float(lin + self.sigma_min / 2 - self.sigma_min * n * T * r * quad / 2)

    def noise_at_floor(self):
        """True when every eigenvalue of ``S`` is at ``sigma_min`` (the fit interpolates the data).

        Some clipped eigenvalues are normal (the residual covariance is singular when
        ``n_sensors > r * n_times``); all of them clipped means no residual is left.
        """
        return bool(np.all(self.noise_evals <= self.sigma_min))

    def noise_summary(self):
        """Fitted noise covariance ``S`` (n_sensors, n_sensors)."""
        evecs, s = self.noise_evecs, self.noise_evals
        return {"noise_cov": (evecs * s) @ evecs.T}
