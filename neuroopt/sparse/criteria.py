"""Criteria for choosing alpha and their hypergradients, by implicit differentiation.

A fitted multitask estimator (``MultiTaskLasso``, ``MultiTaskSqrtLasso``, ``SGCL``) satisfies, on
its active groups ``S``, the fixed-point equation (Bertrand et al., ICML 2020, JMLR 2022)::

    F(B_S, Y, alpha) = X_S^T M(sigma) (X_S B_S - Y) + alpha psi(B_S) = 0,

with ``psi_g(B) = B_g / ||B_g||_F`` and ``M`` the datafit's sensor metric: ``I / n`` for the
multitask Lasso, ``diag(1 / (n T sigma_k))`` for the concomitant estimators, whose noise levels
``sigma_k = ||R_k||_F / sqrt(n_k T)`` depend on ``B_S`` and ``Y`` through the residual
``R = Y - X_S B_S`` (a noise level at its floor ``sigma_min`` is constant). Its Jacobian in
``B_S`` (an operator on (k, T) matrices, ``k = |S| n_orient``) is::

    H = (X_S^T M X_S + diag(c)) (x) I_T - sum_g c_g u_g u_g^T - sum_k beta_k q_k q_k^T

with ``u_g = psi_g(B)`` (unit, supported on group ``g``), ``c_g = alpha / ||B_g||``,
``q_k = X_k^T R_k`` and ``beta_k = 1 / (n T n_k T sigma_k^3)``: a Kronecker term plus a
correction of rank ``|S| + n_sensor_groups``. Woodbury's identity then gives ``H^-1`` applied
to a vector and the traces below exactly, in ``O(k^2 T + k^3)`` operations, never forming the
``(k T)^2`` matrix. From it:

- the degrees of freedom ``dof = div_Y (X_S B_S(Y))`` (the group-Lasso formula of Vaiter et
  al. 2012 extended to the concomitant noise update): exact, no Monte-Carlo, no second solve;
- ``dB_S / d alpha = -H^-1 psi(B_S)`` (forward mode on the support, as sparse-ho);
- a Newton polish of ``B_S`` on its support, so the criteria and their gradients are evaluated
  at the fixed point to rounding, whatever the solver tolerance.

The derivative of the degrees of freedom themselves along ``(1, dB_S / d alpha)`` is taken by
complex step on the closed-form ``dof(alpha, B_S)`` (exact to rounding: every operation above
is analytic). These formulas hold where the support is locally constant (almost every alpha).
CLaR (a full noise covariance whose square root enters ``M``) is not covered.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .solvers import group_columns

_STEP = 1e-30  # complex-step size: no cancellation, any tiny value is exact


@dataclass(frozen=True)
class NoiseModel:
    """Datafit of the fixed-point equation: fixed metric ``I / n``, or concomitant groups.

    Attributes
    ----------
    group_index : ndarray of int, shape (n_sensors,) | None
        Noise group of each sensor (concomitant estimators); ``None``: the multitask Lasso.
    sigma_min : float
        Floor of the concomitant noise levels.
    """

    group_index: np.ndarray | None = None
    sigma_min: float = 0.0

    @property
    def n_groups(self):
        """Number of sensor groups (1 for the multitask Lasso)."""
        return 1 if self.group_index is None else int(self.group_index.max()) + 1

    def rows(self, k):
        """Sensor rows of group ``k`` (a slice of all rows for the multitask Lasso)."""
        return slice(None) if self.group_index is None else np.flatnonzero(self.group_index == k)


def noise_model_of(estimator, n_sensors):
    """The :class:`NoiseModel` of a ``neuroopt.sparse`` estimator (CLaR and reweighting refused)."""
    from .concomitant import CLaR, _SensorGroupBase
    from .multitask import MultiTaskLasso

    if getattr(estimator, "n_reweighting", 1) != 1:
        raise ValueError(
            f"The criteria differentiate the convex problem: n_reweighting must be 1, got "
            f"{estimator.n_reweighting}; choose alpha with n_reweighting=1, then refit "
            "with reweighting at that alpha."
        )
    if isinstance(estimator, CLaR):
        raise ValueError("estimator=CLaR: the implicit differentiation of the criteria covers "
                         "MultiTaskLasso, MultiTaskSqrtLasso and SGCL (CLaR's noise update is a "
                         "matrix square root); for CLaR use search_alpha(criterion='cv'), a grid "
                         "search of the held-out error, or alpha='auto'.")
    if isinstance(estimator, _SensorGroupBase):
        groups = estimator._sensor_group_labels()
        if groups is None:
            index = np.zeros(n_sensors, dtype=np.intp)
        else:
            index = np.unique(np.asarray(groups), return_inverse=True)[1].astype(np.intp)
        return NoiseModel(index, float(estimator.sigma_min))
    if isinstance(estimator, MultiTaskLasso):
        return NoiseModel()
    raise TypeError(f"estimator must be a neuroopt.sparse MultiTaskLasso, MultiTaskSqrtLasso or "
                    f"SGCL, got {type(estimator).__name__}.")


class _ActiveSystem:
    """Fixed-point pieces on the support; complex-safe (for the complex-step derivatives)."""

    def __init__(self, Xs, Y, Bs, alpha, n_orient, model):
        n, T = Y.shape
        self.n_orient, self.T, self.model = n_orient, T, model
        k = Bs.shape[0]
        self.ng = k // n_orient
        self.R = R = Y - Xs @ Bs
        if model.group_index is None:
            m_rows = np.full(n, 1.0 / n)
            self.q, self.beta, self.m_groups, self.free = [], np.zeros(0), np.array([1.0 / n]), []
        else:
            onehot = np.eye(model.n_groups)[model.group_index]
            sizes = onehot.sum(axis=0)
            sigma = np.sqrt(onehot.T @ (R * R).sum(axis=1) / (sizes * T))
            free = np.real(sigma) > model.sigma_min
            sigma = np.where(free, sigma, model.sigma_min)
            self.m_groups = 1.0 / (n * T * sigma)
            m_rows = onehot @ self.m_groups
            self.free = list(np.flatnonzero(free))
            self.q = [Xs[model.rows(j)].T @ R[model.rows(j)] for j in self.free]
            self.beta = np.array([self.m_groups[j] / (sizes[j] * T * sigma[j] ** 2)
                                  for j in self.free])
        self.m_rows = m_rows
        self.Xs, self.Y, self.Bs, self.alpha = Xs, Y, Bs, alpha
        Bg = Bs.reshape(self.ng, n_orient * T)
        norms = np.sqrt((Bg * Bg).sum(axis=1))
        self.W = (Bg / norms[:, None]).reshape(k, T)
        self.c = alpha / norms
        self.G = Xs.T @ (m_rows[:, None] * Xs)
        self.Ainv = np.linalg.inv(self.G + np.diag(np.repeat(self.c, n_orient)))
        self.E = np.concatenate([self.c, self.beta])
        self.WWt = self.W @ self.W.T
        self.gram_Ainv = self._gram(self.Ainv)
        self.S = np.eye(self.E.size) - self.gram_Ainv * self.E[None, :]

    # V = [u_1 .. u_|S|, q_1 .. q_K]: inner products, expansion and Gram matrices
    def _group_sum(self, Z):
        return Z.reshape(self.ng, -1).sum(axis=1)

    def _inner(self, Z):
        return np.concatenate([self._group_sum(self.W * Z), [np.sum(q * Z) for q in self.q]])

    def _expand(self, a):
        out = self.W * np.repeat(a[:self.ng], self.n_orient)[:, None]
        for coef, q in zip(a[self.ng:], self.q):
            out = out + coef * q
        return out

    def _gram(self, L, time_cov=None):
        """``<v_a, L v_b Sigma>`` for every pair (``Sigma``: ``time_cov``, identity if None)."""
        no, ng = self.n_orient, self.ng
        WWt = self.WWt if time_cov is None else self.W @ time_cov @ self.W.T
        uu = (L * WWt).reshape(ng, no, ng, no).sum(axis=(1, 3))
        Lq = [L @ q if time_cov is None else L @ q @ time_cov for q in self.q]
        uq = np.array([self._group_sum(self.W * lq) for lq in Lq]).reshape(len(Lq), ng)
        qq = np.array([[np.sum(qa * lqb) for lqb in Lq] for qa in self.q]).reshape(len(Lq),
                                                                                   len(Lq))
        return np.block([[uu, uq.T], [uq, qq]])

    def solve(self, Z):
        """``H^-1 Z`` for a (k, T) matrix ``Z`` (Woodbury)."""
        Pz = self.Ainv @ Z
        return Pz + self.Ainv @ self._expand(self.E * np.linalg.solve(self.S, self._inner(Pz)))

    def residual(self):
        """``F(B_S)``, zero at the fixed point."""
        return self.Xs.T @ (self.m_rows[:, None] * -self.R) + self.alpha * self.W

    def dof(self, group=None, time_cov=None):
        """Divergence of ``X_S B_S(Y)`` (over the rows of one sensor ``group``, or all).

        With ``time_cov`` (``Sigma``, (T, T)), the covariance-weighted divergence
        ``tr((I (x) Sigma) J)`` of Stein's lemma for noise correlated in time.
        """
        # the Jacobian of X_S B_S in Y is X_S H^-1 J with
        # J dY = X_S^T M dY - sum_k beta_k q_k <R_k, dY_k> (the noise levels move with Y)
        if group is None:
            L, gammas = self.G, -self.beta
        else:
            rows = self.model.rows(group)
            Xk = self.Xs[rows]
            L = Xk.T @ (self.m_rows[rows][:, None] * Xk)
            gammas = np.array([-b if j == group else 0.0 for j, b in zip(self.free, self.beta)])
        A = self.Ainv
        Sig = (lambda Z: Z) if time_cov is None else (lambda Z: Z @ time_cov)
        trace_time = self.T if time_cov is None else np.trace(time_cov)
        t1 = trace_time * np.sum(A * L.T)
        t2 = sum(g * np.sum(Sig(q) * (A @ q)) for g, q in zip(gammas, self.q))
        K = self._gram(A @ L @ A, time_cov)
        if len(self.q):
            Gq = self.gram_Ainv[:, self.ng:]
            Gq_time = np.stack([self._inner(A @ Sig(q)) for q in self.q], axis=1)
            K = K + (Gq * gammas[None, :]) @ Gq_time.T
        t3 = np.trace(self.E[:, None] * np.linalg.solve(self.S, K))
        return t1 + t2 + t3


def _support(B, n_orient):
    norms = np.sqrt((B.reshape(B.shape[0] // n_orient, -1) ** 2).sum(axis=1))
    return np.flatnonzero(norms > 0)


def polish(X, Y, B, alpha, n_orient, model, *, max_steps=20):
    """Newton steps on the fixed-point equation, support fixed; returns the polished ``B``.

    A step is kept only when it lowers ``||F||`` and keeps every active group non-zero, so a
    support that is not the solution's is left as the solver returned it.
    """
    groups = _support(B, n_orient)
    if groups.size == 0:
        return B
    cols = group_columns(groups, n_orient)
    Xs, Bs = X[:, cols], B[cols]
    system = _ActiveSystem(Xs, Y, Bs, alpha, n_orient, model)
    F = system.residual()
    for _ in range(max_steps):
        norm_F = np.linalg.norm(F)
        if norm_F <= 1e-13 * alpha * np.sqrt(groups.size):
            break
        candidate = Bs - system.solve(F)
        trial = _ActiveSystem(Xs, Y, candidate, alpha, n_orient, model)
        F_new = trial.residual()
        if not np.all(np.isfinite(F_new)) or np.linalg.norm(F_new) >= norm_F:
            break
        Bs, system, F = candidate, trial, F_new
    out = B.copy()
    out[cols] = Bs
    return out


@dataclass(frozen=True)
class CriterionValue:
    """A criterion at one alpha: ``value``, its derivative in ``log(alpha)``, and the d.o.f."""

    value: float
    grad_log_alpha: float
    dof: float
    n_active: int


def sure(X, Y, B, alpha, n_orient, model, noise_std, time_cov=None):
    """Stein's unbiased risk estimate of ``X B`` and its derivative in ``log(alpha)``.

    ``SURE = sum_k ||R_k||^2 - n_k T s_k^2 + 2 s_k^2 dof_k`` over the sensor groups ``k`` (one
    for the multitask Lasso), with ``s_k`` the noise standard deviation of the data of group
    ``k`` (``noise_std``: a float or one value per group) and ``dof_k`` the exact divergence of
    the fit over the rows of group ``k`` (see the module docstring). It estimates
    ``E||X B - X B_true||^2`` without knowing ``B_true``.

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
    Y : ndarray, shape (n_sensors, n_times)
        The data the solution was fitted to (mean data).
    B : ndarray, shape (n_features, n_times)
        Solution at ``alpha`` (``coef_.T``), ideally polished (:func:`polish`).
    alpha : float
    n_orient : int
    model : NoiseModel
    noise_std : float | ndarray, shape (n_groups,)
        Noise standard deviation(s), fixed across alphas (whitened data: ``1 / sqrt(nave)``).
    time_cov : ndarray, shape (n_times, n_times) | None
        Temporal correlation ``Sigma`` of the noise (mean diagonal 1): the noise of group ``k``
        has covariance ``s_k^2 I (x) Sigma`` and SURE uses Stein's lemma for correlated noise,
        ``||R_k||^2 - s_k^2 n_k tr(Sigma) + 2 s_k^2 tr((I (x) Sigma) J_k)``. ``None``: white.
        M/EEG noise is low-pass filtered: white-noise SURE underestimates the variance of the
        fit and chooses too small an alpha (see :func:`noise_time_correlation`).

    Returns
    -------
    CriterionValue
    """
    n, T = Y.shape
    stds = np.broadcast_to(np.asarray(noise_std, dtype=float), (model.n_groups,))
    groups = _support(B, n_orient)
    R = Y - X @ B
    sq = np.array([np.sum(R[model.rows(k)] ** 2) for k in range(model.n_groups)])
    trace_time = T if time_cov is None else float(np.trace(time_cov))
    sizes = np.array([R[model.rows(k)].shape[0] * trace_time for k in range(model.n_groups)])
    base = float(np.sum(sq - sizes * stds ** 2))
    if groups.size == 0:
        return CriterionValue(base, 0.0, 0.0, 0)
    cols = group_columns(groups, n_orient)
    Xs, Bs = X[:, cols], B[cols]
    system = _ActiveSystem(Xs, Y, Bs, alpha, n_orient, model)
    per_group = model.group_index is not None and model.n_groups > 1
    ks = range(model.n_groups) if per_group else [None]
    dofs = np.array([np.real(system.dof(k, time_cov)) for k in ks])
    value = base + 2 * float(np.sum(stds ** 2 * dofs))
    dB = -system.solve(system.W)
    # d||R||^2 / d alpha, then the dof term by complex step along (1, dB / d alpha)
    grad = -2 * float(np.sum((Xs.T @ R) * dB))
    stepped = _ActiveSystem(Xs.astype(complex), Y.astype(complex), Bs + 1j * _STEP * dB,
                            alpha + 1j * _STEP, n_orient, model)
    ddof = np.array([np.imag(stepped.dof(k, time_cov)) / _STEP for k in ks])
    grad += 2 * float(np.sum(stds ** 2 * ddof))
    return CriterionValue(value, alpha * grad, float(dofs.sum()), int(groups.size))


def held_out(X, Y_train, Y_test, B, alpha, n_orient, model):
    """Prediction error ``||Y_test - X B||_F^2`` of a fit on ``Y_train``, and its hypergradient.

    Returns a :class:`CriterionValue` whose ``grad_log_alpha`` is the derivative in
    ``log(alpha)`` of the error, through ``dB / d alpha`` (``B`` fitted on ``Y_train``).
    """
    groups = _support(B, n_orient)
    resid = Y_test - X @ B
    value = float(np.sum(resid ** 2))
    if groups.size == 0:
        return CriterionValue(value, 0.0, 0.0, 0)
    cols = group_columns(groups, n_orient)
    system = _ActiveSystem(X[:, cols], Y_train, B[cols], alpha, n_orient, model)
    dB = -system.solve(system.W)
    grad = -2 * float(np.sum((X[:, cols].T @ resid) * dB))
    return CriterionValue(value, alpha * grad, float(np.real(system.dof())), int(groups.size))


def split_epochs(Y_epochs):
    """Even and odd epochs' averages ``(Y_a, Y_b)`` for the held-out criterion.

    Raises a ValueError naming ``Y`` when there are fewer than 2 epochs.
    """
    Y_epochs = np.asarray(Y_epochs, dtype=float)
    if Y_epochs.ndim != 3:
        raise ValueError(f"The held-out criterion needs epochs: Y must have shape (n_epochs, "
                         f"n_sensors, n_times), got {Y_epochs.shape}; pass the single trials "
                         "(mne.Epochs.get_data()) or use the 'sure' criterion.")
    if Y_epochs.shape[0] < 2:
        raise ValueError(f"The held-out criterion splits the epochs into two halves: Y has "
                         f"{Y_epochs.shape[0]} epoch(s), at least 2 are needed; use 'sure'.")
    return Y_epochs[0::2].mean(axis=0), Y_epochs[1::2].mean(axis=0)


def _noise_part(Y, n_signal=None):
    """``Y`` projected out of its ``n_signal`` strongest left singular vectors, and ``n_signal``."""
    Y = np.asarray(Y, dtype=float)
    n, T = Y.shape
    r = max(1, min(n, T) // 10) if n_signal is None else int(n_signal)
    if r >= n:
        return None, r
    U = np.linalg.svd(Y, full_matrices=False)[0][:, :r]
    return Y - U @ (U.T @ Y), r


def noise_rms(Y, n_signal=None):
    """Noise standard deviation of spatially whitened data ``Y``, from its noise subspace.

    The RMS of ``Y`` projected out of its strongest spatial components (as in
    :func:`noise_time_correlation`), per remaining dimension; the RMS of ``Y`` if nothing is
    left.
    """
    noise, r = _noise_part(Y, n_signal)
    if noise is None:
        return float(np.sqrt(np.mean(np.asarray(Y) ** 2)))
    return float(np.sqrt(np.sum(noise ** 2) / ((noise.shape[0] - r) * noise.shape[1])))


def noise_time_correlation(Y, n_signal=None):
    """Temporal correlation of the noise of spatially whitened data ``Y`` (n_sensors, n_times).

    The signal of an evoked response spans few spatial components; the data are projected out
    of their ``n_signal`` strongest left singular vectors (default: a tenth of
    ``min(n_sensors, n_times)``, at least 1) and the temporal covariance of what remains is
    averaged along its diagonals (stationary noise) and scaled to a mean diagonal of 1.

    Returns
    -------
    Sigma : ndarray, shape (n_times, n_times)
    """
    T = np.shape(Y)[1]
    noise, r = _noise_part(Y, n_signal)
    if noise is None:
        return np.eye(T)
    cov = noise.T @ noise / (noise.shape[0] - r)
    lags = np.array([np.mean(np.diagonal(cov, k)) for k in range(T)])
    if lags[0] <= 0:
        return np.eye(T)
    idx = np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])
    return lags[idx] / lags[0]
