"""Working-set solver shared by all multitask estimators (celer-style outer loop).

Outer loop: one pass ``X^T Theta`` over all features gives the duality gap, gap-safe screening
and the priority of each group; the working set is the ``max(p0, 2 * n_active)`` groups closest
to violating their dual constraint. Inner loop: numba block coordinate descent in Gram form on the
working set, with the noise update of concomitant datafits between blocks of epochs, and a
working-set duality gap (with dual extrapolation) as stopping rule.
"""

from __future__ import annotations

import time
import warnings
from dataclasses import dataclass, field

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ...utils import logger
from ..penalties import group_norms
from .bcd import bcd_gram_epochs
from .dual import ResidualExtrapolator, dual_from_residual

DATAFIT_METHODS = ("initialize", "value", "update_noise", "apply_metric", "dual_direction",
                   "dual_value", "noise_summary")
PENALTY_METHODS = ("thresholds", "subset", "value", "dual_scaling", "subdiff_distance")


def check_solver_requirements(datafit, penalty):
    """Raise AttributeError naming any method the solver needs but the pieces lack."""
    for obj, names, kind in ((datafit, DATAFIT_METHODS, "datafit"),
                             (penalty, PENALTY_METHODS, "penalty")):
        missing = [name for name in names if not callable(getattr(obj, name, None))]
        if missing:
            raise AttributeError(
                f"The working-set solver needs the {kind} method(s) {missing}, which "
                f"{type(obj).__name__} does not define; implement them (see "
                "neuroopt.sparse.datafits / penalties for the contract)."
            )


@dataclass
class SolverResult:
    """Output of :func:`solve_working_set`. ``B`` has shape (n_features, n_times)."""

    B: np.ndarray
    primal: float
    dual: float
    dual_gap: float
    objective_at_zero: float
    n_iter: int
    n_epochs: int
    n_gradient_passes: int
    converged: bool
    solve_time: float
    gap_history: list = field(default_factory=list)


def group_spectral_norms(X, n_orient):
    """Spectral norm of each block of ``n_orient`` columns of ``X`` (n_groups,)."""
    if n_orient == 1:
        return np.sqrt(np.einsum("ij,ij->j", X, X))
    n, p = X.shape
    blocks = X.reshape(n, p // n_orient, n_orient)
    grams = np.matmul(blocks.transpose(1, 2, 0), blocks.transpose(1, 0, 2))
    return np.sqrt(np.linalg.eigvalsh(grams)[:, -1])


def _block_lipschitz(G, n_orient):
    m = G.shape[0]
    if n_orient == 1:
        return np.ascontiguousarray(np.diag(G)).copy()
    idx = np.arange(m).reshape(-1, n_orient)
    blocks = G[idx[:, :, None], idx[:, None, :]]
    return np.linalg.eigvalsh(blocks)[:, -1].copy()


def _columns(groups, n_orient):
    return (groups[:, None] * n_orient + np.arange(n_orient)).ravel()


def solve_working_set(X, Y, datafit, penalty, B0=None, *, tol=1e-6, max_iter=100,
                      max_epochs=10_000, p0=50, check_every=10, K=5, screening=True,
                      spectral_norms=None, tol_ratio=0.3):
    """Minimise ``datafit(Y - X B) + penalty(B)`` over ``B`` (n_features, n_times).

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Design (gain), C-contiguous float64.
    Y : ndarray, shape (n_sensors, n_times)
        Data (for CLaR the mean over repetitions).
    datafit, penalty : objects
        See :mod:`neuroopt.sparse.datafits` and :mod:`neuroopt.sparse.penalties`.
    B0 : ndarray | None
        Warm start.
    tol : float
        Stop when the duality gap <= ``tol`` times the objective at ``B = 0``.
    max_iter : int
        Maximum number of outer (working-set) iterations.
    max_epochs : int
        Maximum number of coordinate-descent epochs per working-set problem.
    p0 : int
        Minimum working-set size, in groups.
    check_every : int
        Epochs between two working-set gap evaluations (and noise updates).
    K : int
        Number of residuals used by the dual extrapolation.
    tol_ratio : float
        The working-set problem is solved to a gap of ``tol_ratio`` times the current gap.
    screening : bool
        Apply gap-safe screening (rules from the dual's strong concavity).
    spectral_norms : ndarray | None
        Precomputed :func:`group_spectral_norms` of ``X`` (reused along a path).

    Returns
    -------
    result : SolverResult
    """
    check_solver_requirements(datafit, penalty)
    t_start = time.perf_counter()
    n_sensors, n_features = X.shape
    n_orient = penalty.n_orient
    n_groups = n_features // n_orient
    datafit.initialize(Y)
    thresholds = penalty.thresholds(n_groups)
    B = np.zeros((n_features, Y.shape[1])) if B0 is None else np.array(B0, dtype=float)
    objective_at_zero = datafit.value(Y)
    abs_tol = tol * objective_at_zero
    if spectral_norms is None and screening:
        spectral_norms = group_spectral_norms(X, n_orient)

    screened = ~np.isfinite(thresholds)
    B[_columns(np.flatnonzero(screened), n_orient)] = 0.0
    active = group_norms(B, n_orient) > 0
    cols = _columns(np.flatnonzero(active), n_orient)
    R = Y - X[:, cols] @ B[cols]
    if datafit.has_noise:
        datafit.update_noise(R)

    mu = getattr(datafit, "dual_strong_concavity", 0.0)
    best_dual = -np.inf
    candidate = R  # residual whose dual point the next pass evaluates
    n_passes = n_epochs_total = 0
    gap = np.inf
    history = []
    converged = False
    primal = datafit.value(R) + penalty.value(B)
    n_iter = 0
    for n_iter in range(1, max_iter + 1):
        keep = np.flatnonzero(~screened)
        if keep.size == 0:  # every group removed (infinite weight) or screened: B = 0 is optimal
            primal, best_dual, gap, converged = datafit.value(R), datafit.value(R), 0.0, True
            break
        X_keep = X if keep.size == n_groups else X[:, _columns(keep, n_orient)]
        XtTheta = X_keep.T @ datafit.dual_direction(candidate)
        n_passes += 1
        sub_pen = penalty.subset(keep)
        dual, XtTheta, scale = dual_from_residual(None, candidate, datafit, sub_pen, XtTheta)
        if dual > best_dual:
            best_dual = dual
        primal = datafit.value(R) + penalty.value(B)
        gap = primal - best_dual
        history.append(gap)
        logger.debug(f"    outer {n_iter}: primal {primal:.6e} gap {gap:.3e} (tol {abs_tol:.2e}), "
                     f"{keep.size} groups not screened")
        if gap <= abs_tol:
            converged = True
            break
        grad_norms = group_norms(XtTheta, n_orient) / scale
        thr_keep = thresholds[keep]
        if screening and mu > 0:
            radius = np.sqrt(2 * max(gap, 0.0) / mu)
            newly = grad_norms + radius * spectral_norms[keep] < thr_keep
            if np.any(newly):
                dropped = keep[newly]
                screened[dropped] = True
                dropped_cols = _columns(dropped, n_orient)
                if np.any(B[dropped_cols]):
                    B[dropped_cols] = 0.0
                    act = np.flatnonzero(group_norms(B, n_orient) > 0)
                    act_cols = _columns(act, n_orient)
                    R = Y - X[:, act_cols] @ B[act_cols]
                keep, grad_norms, thr_keep = keep[~newly], grad_norms[~newly], thr_keep[~newly]
        if keep.size == 0:
            converged = True
            break
        # priority: distance of the dual constraint to saturation, in units of the group's norm
        norms_keep = np.maximum(spectral_norms[keep], 1e-300) if spectral_norms is not None \
            else np.ones(keep.size)
        priority = (thr_keep - grad_norms) / norms_keep
        is_active = group_norms(B[_columns(keep, n_orient)], n_orient) > 0
        priority[is_active] = -np.inf
        n_active = int(is_active.sum())
        ws_size = min(keep.size, max(p0, 2 * n_active))
        if ws_size < keep.size:
            ws_local = np.argpartition(priority, ws_size - 1)[:ws_size]
        else:
            ws_local = np.arange(keep.size)
        ws = np.sort(keep[ws_local])
        R, candidate, n_ep = _solve_subproblem(X, Y, B, ws, datafit, penalty, tol_ratio * gap,
                                               max_epochs, check_every, K)
        n_epochs_total += n_ep
        logger.debug(f"    ws {ws.size} groups, {n_ep} epochs")
    else:
        warnings.warn(
            f"Working-set solver did not converge in max_iter={max_iter} outer iterations: "
            f"duality gap {gap:.3e} > tol * objective_at_zero = {abs_tol:.3e}. Increase "
            "max_iter or tol.", ConvergenceWarning, stacklevel=3)
    return SolverResult(B=B, primal=primal, dual=best_dual, dual_gap=gap,
                        objective_at_zero=objective_at_zero, n_iter=n_iter,
                        n_epochs=n_epochs_total, n_gradient_passes=n_passes,
                        converged=converged, solve_time=time.perf_counter() - t_start,
                        gap_history=history)


def _metric_gram(Xws, Y, datafit, n_orient):
    MX = datafit.apply_metric(Xws)
    G = np.ascontiguousarray(Xws.T @ MX)
    H = np.ascontiguousarray(MX.T @ Y)
    return G, H, _block_lipschitz(G, n_orient)


def _solve_subproblem(X, Y, B, ws, datafit, penalty, tol_in, max_epochs, check_every, K):
    """Solve the problem restricted to groups ``ws`` in place in ``B``.

    Returns the final residual, the residual whose dual point was best on the working set (the
    extrapolated one when it wins) and the number of epochs.
    """
    n_orient = penalty.n_orient
    cols = _columns(ws, n_orient)
    Xws = np.ascontiguousarray(X[:, cols])
    sub_pen = penalty.subset(ws)
    thr = np.ascontiguousarray(sub_pen.thresholds(ws.size))
    G, H, lips = _metric_gram(Xws, Y, datafit, n_orient)
    Bws = np.ascontiguousarray(B[cols])
    Q = G @ Bws
    extrapolator = ResidualExtrapolator(K)
    n_ep = 0
    best_dual, best_R = -np.inf, None
    R = Y - Xws @ Bws
    anderson = ResidualExtrapolator(K)
    while n_ep < max_epochs:
        bcd_gram_epochs(G, H, Bws, Q, lips, thr, n_orient, 1)
        n_ep += 1
        # Anderson acceleration of the iterates (skglm): every K + 1 epochs, keep the
        # extrapolated point if it lowers the working-set objective at the current noise
        anderson.push(Bws)
        B_acc = anderson.extrapolate()
        if B_acc is not None:
            anderson.clear()
            Q_acc = G @ B_acc
            obj = 0.5 * np.vdot(Bws, Q) - np.vdot(H, Bws) + sub_pen.value(Bws)
            obj_acc = 0.5 * np.vdot(B_acc, Q_acc) - np.vdot(H, B_acc) + sub_pen.value(B_acc)
            if obj_acc < obj:
                Bws[:], Q = B_acc, Q_acc
        if n_ep % check_every:
            continue
        R = Y - Xws @ Bws
        if datafit.has_noise and datafit.update_noise(R):
            G, H, lips = _metric_gram(Xws, Y, datafit, n_orient)
            Q = G @ Bws
        primal = datafit.value(R) + sub_pen.value(Bws)
        extrapolator.push(R)
        dual, _, _ = dual_from_residual(Xws, R, datafit, sub_pen)
        if dual > best_dual:
            best_dual, best_R = dual, R
        R_acc = extrapolator.extrapolate()
        if R_acc is not None:
            dual_acc, _, _ = dual_from_residual(Xws, R_acc, datafit, sub_pen)
            if dual_acc > best_dual:
                best_dual, best_R = dual_acc, R_acc
        if primal - best_dual <= tol_in:
            break
    B[cols] = Bws
    return R, best_R, n_ep


def warmup():
    """Compile (or load from the numba cache) the BCD kernel; return the seconds it took."""
    t0 = time.perf_counter()
    for n_orient in (1, 3):
        m = 2 * n_orient
        G = np.eye(m)
        H = np.ones((m, 2))
        B = np.zeros((m, 2))
        bcd_gram_epochs(G, H, B, G @ B, np.ones(2), np.full(2, 0.1), n_orient, 1)
    return time.perf_counter() - t0
