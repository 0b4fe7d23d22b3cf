"""Working-set solver shared by all multitask estimators (celer-style outer loop).

Outer loop: one evaluation of the group norms of ``X^T Theta`` over the features not yet
screened gives the duality gap, gap-safe screening and the priority of each group; the working
set is the ``max(p0, ws_growth * n_active)`` groups closest to violating their dual
constraint, doubled while many groups violate it. Inner loop: numba block coordinate descent in Gram form on the
working set, with Anderson acceleration of the iterates (whose extrapolated residual is also the
dual extrapolation of the working-set gap), the closed-form noise update of concomitant datafits
at every extrapolation step, and the working-set duality gap as stopping rule (for a
fixed-metric datafit evaluated from the Gram quantities alone, so it is checked at every
extrapolation step at no cost; such datafits also take Newton's step on the iterate's support
after each extrapolation step, see :mod:`.newton`).

Passes over all features dominate the cost, so the solver saves them: ``X^T Theta`` is computed
from ``X^T Y`` and cached Gram columns of the few non-zero features when that is cheaper
(:class:`GradientCache`, kept along a path), working-set problems are solved to a small fraction
of the current gap, or at once to half the target when that is near (inner epochs are cheap
next to a pass; also when the working-set gap itself comes near it), passes are computed as
``Theta^T X`` (faster than ``X^T Theta`` in BLAS on a C-ordered ``X``), the working-set Gram
matrices are
grown incrementally (one per sensor group, so a noise update only re-weights them), and a path
hands each problem the residual of the previous one's last pass (a feasible dual point at any
alpha once rescaled)."""

from __future__ import annotations

import time
import warnings
from collections import deque
from dataclasses import dataclass, field, replace

import numpy as np
from sklearn.exceptions import ConvergenceWarning

from ...utils import logger
from ..penalties import group_norms
from .bcd import bcd_gram_epochs, column_triplet_max_eig, gram_triplet_max_eig
from .dual import AndersonExtrapolator, dual_from_residual
from .gram import GradientCache, _active_groups, _WorkingSetGram, column_group_norms, group_columns
from .newton import support_newton_step
from .sequential import PassRecord, predicted_norms

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
class OuterStep:
    """What one outer iteration of :func:`solve_working_set` did (``SolverResult.trace``).

    Attributes
    ----------
    n_iter : int
        The outer iteration (from 1).
    n_kept : int
        Groups not screened when it started.
    source : str
        Where the group norms of ``X^T Theta`` came from: ``"read"`` (a pass over ``X``),
        ``"cached"`` (the :class:`GradientCache`) or ``"previous"`` (the previous path point's
        last pass).
    n_violating_outside : int
        Groups violating their dual constraint that the previous working set did not hold
        (all violating groups at the first iteration): a missing group needs another round.
    inner_gap : float
        The duality gap the previous working-set problem reached, on its working set (nan at
        the first iteration). With no group missing, the outer gap is at most this one.
    gap : float
        The duality gap of this evaluation (over every group not screened).
    ws_size, n_added : int
        Size of the working set chosen next, and how many of its groups the previous one did
        not hold (0 and 0 when this iteration certified convergence).
    epochs : int
        Coordinate-descent epochs of the working-set problem that followed.
    eval_cpu, inner_cpu : float
        CPU seconds of the evaluation and of the working-set problem.
    """

    n_iter: int
    n_kept: int
    source: str
    n_violating_outside: int
    inner_gap: float
    gap: float
    ws_size: int = 0
    n_added: int = 0
    epochs: int = 0
    eval_cpu: float = 0.0
    inner_cpu: float = 0.0


@dataclass
class SolverResult:
    """Output of :func:`solve_working_set`. ``B`` has shape (n_features, n_times).

    ``last_pass`` is the :class:`~.sequential.PassRecord` of the last evaluation of
    ``X^T Theta`` (its residual, the groups it covered, their norms and correlations); see
    ``initial_pass``.
    ``n_gradient_passes`` counts the ``X^T Theta`` evaluations that read ``X`` (over the
    features not screened), ``n_gram_passes`` those served by the :class:`GradientCache`.
    ``trace`` holds one :class:`OuterStep` per outer iteration.
    """

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
    last_pass: PassRecord | None = None
    n_gram_passes: int = 0
    gradient_cache: object = None
    noise_at_floor: bool = False
    trace: list = field(default_factory=list)


def group_spectral_norms(X, n_orient):
    """Spectral norm of each block of ``n_orient`` columns of ``X`` (n_groups,)."""
    if n_orient == 1:
        return np.sqrt(np.einsum("ij,ij->j", X, X))
    if n_orient == 3:
        # closed-form 3x3 eigenvalue, with a relative margin so screening stays safe
        X = np.ascontiguousarray(X, dtype=float)
        return np.sqrt(np.maximum(column_triplet_max_eig(X), 0.0) * (1 + 1e-10))
    n, p = X.shape
    blocks = X.reshape(n, p // n_orient, n_orient)
    grams = np.matmul(blocks.transpose(1, 2, 0), blocks.transpose(1, 0, 2))
    return np.sqrt(np.linalg.eigvalsh(grams)[:, -1])


def _at_floor(datafit):
    """Whether a concomitant datafit's noise level sits at its floor ``sigma_min``."""
    check = getattr(datafit, "noise_at_floor", None)
    return bool(datafit.has_noise and check is not None and check())


def _evaluate_pass(X, datafit, penalty, keep, active, candidate, gradient_cache, initial):
    """``X_g^T Theta`` of the candidate residual on the groups ``keep``, from the cheapest source.

    The sources, in order: the previous path point's last pass ``initial`` (it evaluated the
    same residual) when it covers ``keep``; the gradient cache; ``initial`` on the groups it
    covers, when those hold every active group (a partial evaluation: the groups screened at
    the previous alpha stay out of the first working set, as with a sequential strong rule,
    and the next pass checks them); a pass over the groups ``initial`` does not cover; a pass
    over ``keep``.

    Returns
    -------
    record : PassRecord
        Its ``groups`` are ``keep``, or fewer for a partial evaluation.
    n_read, n_gram : int
        Passes that read ``X``, and passes served by the gradient cache.
    """
    n_orient = penalty.n_orient
    R, cols, Bc = candidate
    alpha, weights = getattr(penalty, "alpha", np.nan), getattr(penalty, "weights", None)
    covered = None
    if initial is not None:
        covered = np.isin(keep, initial.groups)
        if covered.all():
            return replace(initial.restricted(keep, n_orient), alpha=alpha, weights=weights), 0, 0
    n_read = n_gram = 0
    if gradient_cache.enabled:
        if gradient_cache.YtX is None and cols is not None and not np.any(Bc):
            gradient_cache.compute_XtY()  # the pass at B = 0
            n_read, n_gram = 1, -1
        out = gradient_cache.gradient_norms(keep, n_orient, R, cols, Bc, datafit,
                                            return_correlations=True)
        if out is not None:
            return PassRecord(R, cols, Bc, keep, *out, alpha, weights), n_read, n_gram + 1
    theta = datafit.dual_direction(R)
    if covered is not None:
        known = initial.norms[np.searchsorted(initial.groups, keep[covered])]
        if active.size and np.all(np.isin(active, initial.groups)):
            # only the first working set comes from it (the next pass replaces the record)
            return PassRecord(R, cols, Bc, keep[covered], known, None, alpha, weights), \
                n_read, n_gram
        norms = np.empty(keep.size)
        norms[covered] = known
        missing = keep[~covered]
        norms[~covered] = column_group_norms(theta.T @ X[:, group_columns(missing, n_orient)],
                                             n_orient)
        return PassRecord(R, cols, Bc, keep, norms, None, alpha, weights), n_read + 1, n_gram
    X_keep = X if keep.size * n_orient == X.shape[1] else X[:, group_columns(keep, n_orient)]
    corr = theta.T @ X_keep  # X_keep^T theta transposed: BLAS runs it faster (GradientCache)
    record = PassRecord(R, cols, Bc, keep, column_group_norms(corr, n_orient), corr.T, alpha,
                        weights)
    return record, n_read + 1, n_gram


def solve_working_set(X, Y, datafit, penalty, B0=None, *, tol=1e-6, max_iter=100,
                      max_epochs=10_000, p0=50, check_every=10, K=5, screening=True,
                      spectral_norms=None, tol_ratio=0.02, initial_pass=None,
                      gradient_cache=None, near_target=10.0, final_ratio=0.5,
                      ws_growth=1.5, floor_patience=10, newton=True, previous_pass=None,
                      ws_predict_margin=1.25):
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
        Number of iterates used by the dual extrapolation and the Anderson acceleration.
    screening : bool
        Apply gap-safe screening (rules from the dual's strong concavity).
    spectral_norms : ndarray | None
        Precomputed :func:`group_spectral_norms` of ``X`` (reused along a path).
    tol_ratio : float
        The working-set problem is solved to a gap of ``tol_ratio`` times the current gap (but
        never below ``final_ratio`` times the target): inner epochs are cheap next to a pass
        over ``X``.
    near_target, final_ratio : float
        When ``tol_ratio`` times the gap is below ``near_target`` times the target, or at the
        first working set of a warm start with non-zero groups, the working-set problem is
        solved to ``final_ratio`` times the target at once (the next pass then usually
        certifies convergence, instead of asking for one more working set). For a
        fixed-metric datafit, so is a working-set problem whose own gap falls below
        ``near_target`` times the target on the way to its looser tolerance: with no group
        missing from the working set, the outer gap is then at most the inner one.
    ws_growth : float
        The working set holds at least ``ws_growth`` times as many groups as are non-zero. An
        inner epoch costs in proportion to the working-set size (each changed group updates
        ``G B`` on every row), and the groups that violate their dual constraint are added as
        well (the working set at most doubling per pass), so the margin for groups about to
        enter can be smaller than celer's and skglm's 2; 1.5 by default.
    initial_pass : PassRecord | None
        ``SolverResult.last_pass`` of a previous solve with the same ``X``, ``Y`` and datafit
        (e.g. the previous alpha of a path): its residual builds the first dual point, and its
        group norms spare the first pass. When it does not cover every group (some were
        screened at the previous alpha) but holds the warm start's support, the first working
        set is chosen among the groups it covers and the first certificate waits for the next
        pass (the groups it left out were provably inactive at the previous alpha).
    previous_pass : PassRecord | None
        The ``last_pass`` of the solve before the one that gave ``initial_pass`` (the alpha
        before, along a decreasing path): the first working set then takes the groups whose
        dual constraint is predicted to be violated at this alpha, extrapolating ``X^T Theta``
        linearly from the two (:func:`~.sequential.predicted_norms`), rather than the groups
        closest to violating it at the previous alpha.
    ws_predict_margin : float
        With a prediction, the first working set holds the non-zero groups and
        ``ws_predict_margin`` times as many groups as are predicted to enter (at least
        ``ws_growth`` times the non-zero groups and ``p0``).
    gradient_cache : GradientCache | None
        ``SolverResult.gradient_cache`` of a previous solve with the same ``X``, ``Y`` and
        datafit (kept along a path); ``None`` starts a new one.
    floor_patience : int
        Concomitant datafits: stop, with a ``ConvergenceWarning``, after this many outer
        iterations in a row that end unconverged with the noise level at its floor
        ``sigma_min`` (``datafit.noise_at_floor()``) if the duality gap did not halve over
        them. The model then interpolates the data
        (typically more features than sensors at a small alpha): the noise-scaled problem is
        as ill-conditioned as ``1 / sigma_min`` and would run ``max_iter`` x ``max_epochs``
        epochs without converging. ``result.noise_at_floor`` is True.
    newton : bool
        Fixed-metric datafits (least squares): after each Anderson step, take Newton's step on
        the support of the working-set iterate (:mod:`.newton`; kept only if it lowers the
        objective, retried after 2, 4, 8... steps when it does not). Block coordinate descent
        finds the support, Newton's step converges on it quadratically: on badly conditioned
        free-orientation gains it certifies the gap in about half the epochs.

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
    B = np.zeros((n_features, Y.shape[1]))
    nonzero_groups = np.empty(0, dtype=np.intp)
    if B0 is not None:  # copy only the non-zero groups (B0 is mostly zeros)
        B0 = np.asarray(B0, dtype=float)
        nonzero_groups = np.flatnonzero(group_norms(B0, n_orient) > 0)
        nonzero = group_columns(nonzero_groups, n_orient)
        B[nonzero] = B0[nonzero]
    objective_at_zero = datafit.value(Y)
    abs_tol = tol * objective_at_zero
    if spectral_norms is None and screening:
        spectral_norms = group_spectral_norms(X, n_orient)

    screened = ~np.isfinite(thresholds)
    B[group_columns(np.flatnonzero(screened), n_orient)] = 0.0
    active = nonzero_groups[~screened[nonzero_groups]]
    cols = group_columns(active, n_orient)
    R = Y - X[:, cols] @ B[cols]
    if datafit.has_noise:
        datafit.update_noise(R)

    mu = getattr(datafit, "dual_strong_concavity", 0.0)
    best_dual = -np.inf
    # residual whose dual point the next pass evaluates, with the coefficients it comes from
    # (columns, rows of B; None if unknown), so the gradient cache can evaluate X^T Theta
    candidate = (R, cols, B[cols].copy())
    if initial_pass is not None:
        candidate = (initial_pass.residual, initial_pass.cols, initial_pass.B_cols)
    gram = _WorkingSetGram(X, Y, datafit)
    if gradient_cache is None:
        gradient_cache = GradientCache(X, Y, datafit)
    n_passes = n_gram_passes = n_epochs_total = 0
    # the first working set may already hold 2 * p0 groups when that many violate: with the
    # noise re-estimated (concomitant datafits) or a small alpha, p0 groups take an extra pass
    ws_prev = p0
    gap = np.inf
    history = []
    converged = False
    last_pass = None
    primal = datafit.value(R) + penalty.subset(active).value(B[cols])
    n_iter = n_floor = 0
    floor_gaps, stopped_at_floor = [], False
    trace, inner_gap = [], np.nan
    in_ws = np.zeros(n_groups, dtype=bool)  # the last working set, as a mask
    for n_iter in range(1, max_iter + 1):
        t_eval = time.process_time()
        keep = np.flatnonzero(~screened)
        if keep.size == 0:  # every group removed (infinite weight) or screened: B = 0 is optimal
            primal, best_dual, gap, converged = datafit.value(R), datafit.value(R), 0.0, True
            break
        R_cand = candidate[0]
        # group norms of X^T Theta(R_cand): from the previous pass of a path (it evaluated the
        # same residual), from the gradient cache, or from a pass over the features not screened
        last_pass, n_read, n_served = _evaluate_pass(
            X, datafit, penalty, keep, active, candidate, gradient_cache,
            initial_pass if n_iter == 1 else None)
        n_passes += n_read
        n_gram_passes += n_served
        # a partial first evaluation (groups screened at the previous alpha left out) gives
        # the first working set, not a certificate
        partial = last_pass.groups.size < keep.size
        keep, grad_norms = last_pass.groups, last_pass.norms
        act_cols = group_columns(active, n_orient)
        primal = datafit.value(R) + penalty.subset(active).value(B[act_cols])
        sub_pen = penalty.subset(keep)
        scale = sub_pen.dual_scaling(grad_norms)
        dual = -np.inf if partial else datafit.dual_value(R_cand, scale)
        if dual > best_dual:
            best_dual = dual
        gap = primal - best_dual
        if 0 > gap >= -16 * np.finfo(float).eps * (abs(primal) + abs(best_dual)):
            gap = 0.0  # primal and dual agree to rounding (a wrong dual would be far below)
        history.append(gap)
        logger.debug(f"    outer {n_iter}: primal {primal:.6e} gap {gap:.3e} (tol {abs_tol:.2e}), "
                     f"{keep.size} groups {'evaluated (partial)' if partial else 'not screened'}")
        violating = grad_norms > thresholds[keep]
        step = OuterStep(n_iter, keep.size, "read" if n_read else "cached" if n_served
                         else "previous", int(np.count_nonzero(violating & ~in_ws[keep])),
                         inner_gap, gap, eval_cpu=time.process_time() - t_eval)
        trace.append(step)
        if gap <= abs_tol:
            converged = True
            break
        if _at_floor(datafit) and not partial:
            n_floor += 1
            floor_gaps.append(gap)
            # stagnating at the floor: the gap did not halve over floor_patience iterations
            if n_floor >= floor_patience and gap > 0.5 * floor_gaps[-floor_patience]:
                stopped_at_floor = True
                break
        else:
            n_floor, floor_gaps = 0, []
        grad_norms = grad_norms / scale
        thr_keep = thresholds[keep]
        if screening and mu > 0 and not partial:
            # the sphere is centred on this pass's dual point: use its own gap, which is larger
            # than ``gap`` when an earlier dual point was better
            radius = np.sqrt(2 * max(primal - dual, 0.0) / mu)
            newly = grad_norms + radius * spectral_norms[keep] < thr_keep
            if np.any(newly):
                dropped = keep[newly]
                screened[dropped] = True
                if np.any(np.isin(active, dropped)):
                    B[group_columns(dropped, n_orient)] = 0.0
                    active = active[~np.isin(active, dropped)]
                    act_cols = group_columns(active, n_orient)
                    R = Y - X[:, act_cols] @ B[act_cols]
                keep, grad_norms, thr_keep = keep[~newly], grad_norms[~newly], thr_keep[~newly]
        if keep.size == 0:
            converged = True
            break
        # priority: distance of the dual constraint to saturation, in units of the group's norm
        norms_keep = np.maximum(spectral_norms[keep], 1e-300) if spectral_norms is not None \
            else np.ones(keep.size)
        is_active = np.isin(keep, active)
        n_active = int(is_active.sum())
        predicted = None
        if n_iter == 1 and initial_pass is not None:
            predicted = predicted_norms(initial_pass, previous_pass, penalty, keep,
                                        grad_norms * scale)
        if predicted is None:
            priority = (thr_keep - grad_norms) / norms_keep
            # grow geometrically while many groups violate their dual constraint: a larger
            # working set costs a few cheap epochs, a missing group costs an outer pass over X
            n_violating = int(np.count_nonzero(grad_norms * scale > thr_keep)) + n_active
            n_violating = min(2 * ws_prev, n_violating)
        else:  # the groups predicted to violate at this alpha, with a margin
            priority = (thr_keep - predicted) / norms_keep
            n_violating = n_active + int(np.ceil(ws_predict_margin * np.count_nonzero(
                (predicted > thr_keep) & ~is_active)))
        priority[is_active] = -np.inf
        ws_size = min(keep.size, max(p0, int(np.ceil(ws_growth * n_active)), n_violating))
        ws_prev = ws_size
        if ws_size < keep.size:
            ws_local = np.argpartition(priority, ws_size - 1)[:ws_size]
        else:
            ws_local = np.arange(keep.size)
        ws = np.sort(keep[ws_local])
        step.n_added = int(ws.size - np.count_nonzero(in_ws[ws]))
        in_ws[:] = False
        in_ws[ws] = True
        tol_in = max(tol_ratio * gap, final_ratio * abs_tol)
        if tol_in < near_target * abs_tol or (n_iter == 1 and active.size) or partial:
            # close to the target, or a warm start (its support is close to the solution's,
            # as along a path): finish in this working set rather than after one more pass
            tol_in = final_ratio * abs_tol
        t_inner = time.process_time()
        R, candidate, n_ep, inner_gap = _solve_subproblem(
            gram, Y, B, ws, datafit, penalty, tol_in, max_epochs, check_every, K, newton,
            final_ratio * abs_tol, near_target * abs_tol)
        active = _active_groups(B, ws, n_orient)
        step.ws_size, step.epochs = ws.size, n_ep
        step.inner_cpu = time.process_time() - t_inner
        n_epochs_total += n_ep
        logger.debug(f"    ws {ws.size} groups, {n_ep} epochs")
    else:
        warnings.warn(
            f"Working-set solver did not converge in max_iter={max_iter} outer iterations: "
            f"duality gap {gap:.3e} > tol * objective_at_zero = {abs_tol:.3e}. Increase "
            "max_iter or tol.", ConvergenceWarning, stacklevel=3)
    at_floor = _at_floor(datafit)
    if stopped_at_floor:
        warnings.warn(
            f"The noise level fell to its floor sigma_min={datafit.sigma_min:.3g} and the "
            f"solver stopped after {n_iter} outer iterations without converging (duality gap "
            f"{gap:.3e} > {abs_tol:.3e}): the model interpolates the data, as happens with "
            "more features than sensors at a small alpha. Increase alpha (closer to "
            "alpha_max) or sigma_min (e.g. near the expected noise level).",
            ConvergenceWarning, stacklevel=3)
    return SolverResult(B=B, primal=primal, dual=best_dual, dual_gap=gap,
                        objective_at_zero=objective_at_zero, n_iter=n_iter,
                        n_epochs=n_epochs_total, n_gradient_passes=n_passes,
                        converged=converged, solve_time=time.perf_counter() - t_start,
                        gap_history=history, last_pass=last_pass, n_gram_passes=n_gram_passes,
                        gradient_cache=gradient_cache, noise_at_floor=at_floor, trace=trace)


def _update_noise(gram, datafit, R, G, H, lips, Q, Bws, n_orient):
    """Closed-form noise update; returns the working-set quantities at the new metric."""
    single = gram.blocks is not None and len(gram.blocks) == 1
    w_old = datafit.block_weights()[0] if single else None
    if not datafit.update_noise(R):
        return G, H, lips, Q
    if single:  # one sensor block: the metric is a scalar, rescale instead of recomputing
        ratio = datafit.block_weights()[0] / w_old
        return G * ratio, H * ratio, lips * ratio, Q * ratio
    G, H, lips = gram.metric(n_orient)
    return G, H, lips, G @ Bws


def _solve_subproblem(gram, Y, B, ws, datafit, penalty, tol_in, max_epochs, check_every, K,
                      newton=True, final_tol=0.0, near_tol=0.0):
    """Solve the problem restricted to groups ``ws`` in place in ``B``.

    Returns the final residual, ``(residual, cols, B_cols)`` for the residual whose dual point
    was best on the working set (the extrapolated one when it wins), the number of epochs and
    the working-set duality gap reached (nan if never checked). For a fixed-metric datafit,
    a gap reached below ``near_tol`` goes on to ``final_tol`` (see
    :func:`_solve_subproblem_gram`).
    """
    n_orient = penalty.n_orient
    cols = group_columns(ws, n_orient)
    gram.set_columns(cols)
    Xws = gram.Xws
    sub_pen = penalty.subset(ws)
    thr = np.ascontiguousarray(sub_pen.thresholds(ws.size))
    G, H, lips = gram.metric(n_orient)
    Bws = np.ascontiguousarray(B[cols])
    Q = G @ Bws
    # Anderson acceleration (skglm) every K + 1 epochs: the extrapolated iterate B_acc is kept
    # if it lowers the working-set objective at the current noise (G B is linear, so G B_acc is
    # the same combination of the stored G B). Its residual Y - X B_acc is the same combination
    # of K + 1 consecutive residuals: the dual extrapolation of celer, so every check also
    # evaluates the dual point of B_acc (consecutive iterates extrapolate far better than
    # residuals sampled every few epochs, which Anderson steps also perturb).
    anderson = AndersonExtrapolator(K)
    anderson_Q = deque(maxlen=K + 1)
    # a fixed-metric datafit gives its working-set gap from G, H and Q = G B alone (no product
    # with X): then every extrapolation step checks it, and residuals are formed at the end
    gram_form = not datafit.has_noise and callable(getattr(datafit, "gram_values", None))
    if gram_form:
        YMY = float(np.vdot(Y, datafit.apply_metric(Y)))
        # a factor F^T F = G for the Newton step: one sensor block with a scalar metric
        F = None
        if newton and gram.blocks is not None and len(gram.blocks) == 1 \
                and gram.blocks[0] is None:
            F = Xws * np.sqrt(datafit.block_weights()[0])
        return _solve_subproblem_gram(Xws, Y, B, cols, Bws, G, H, Q, lips, thr, sub_pen,
                                      datafit, YMY, tol_in, max_epochs, check_every, K,
                                      anderson, anderson_Q, newton, F, final_tol, near_tol)
    checks_every = max(1, -(-check_every // (K + 1)))  # in extrapolation steps
    n_ep = n_extrapolations = 0
    best_dual, best = -np.inf, None
    inner_gap = np.nan
    R = Y - Xws @ Bws
    while n_ep < max_epochs:
        bcd_gram_epochs(G, H, Bws, Q, lips, thr, n_orient, 1)
        n_ep += 1
        anderson.push(Bws)
        anderson_Q.append(Q.copy())
        coefs = anderson.coefficients()
        if coefs is None:
            if len(anderson.buffer) <= K or n_ep % (K + 1):
                continue
            B_acc, accepted = None, False  # singular system: check without extrapolation
        else:
            B_acc = anderson.combine(coefs)
            Q_acc = anderson.combine(coefs, anderson_Q)
            obj = 0.5 * np.vdot(Bws, Q) - np.vdot(H, Bws) + sub_pen.value(Bws)
            obj_acc = 0.5 * np.vdot(B_acc, Q_acc) - np.vdot(H, B_acc) + sub_pen.value(B_acc)
            accepted = obj_acc < obj
            if accepted:
                Bws[:], Q[:] = B_acc, Q_acc
        anderson.clear()
        anderson_Q.clear()
        n_extrapolations += 1
        if n_extrapolations % checks_every and n_ep + K + 1 <= max_epochs:
            if datafit.has_noise:  # the closed-form noise update at every extrapolation step
                G, H, lips, Q = _update_noise(gram, datafit, Y - Xws @ Bws, G, H, lips, Q, Bws,
                                              n_orient)
            continue
        R = Y - Xws @ Bws
        if datafit.has_noise:
            G, H, lips, Q = _update_noise(gram, datafit, R, G, H, lips, Q, Bws, n_orient)
        primal = datafit.value(R) + sub_pen.value(Bws)
        dual, _, _ = dual_from_residual(Xws, R, datafit, sub_pen)
        if dual > best_dual:
            best_dual, best = dual, (R, Bws.copy())
        if B_acc is not None and not accepted:
            R_acc = Y - Xws @ B_acc
            dual_acc, _, _ = dual_from_residual(Xws, R_acc, datafit, sub_pen)
            if dual_acc > best_dual:
                best_dual, best = dual_acc, (R_acc, B_acc)
        inner_gap = primal - best_dual
        if inner_gap <= tol_in or (n_ep >= 100 and _at_floor(datafit)):
            break  # at the noise floor, after 100 epochs, the outer loop decides whether to stop
    if best is None:  # max_epochs reached before a check
        R = Y - Xws @ Bws
        best = (R, Bws.copy())
    B[cols] = Bws
    return R, (best[0], cols, best[1]), n_ep, inner_gap


def _solve_subproblem_gram(Xws, Y, B, cols, Bws, G, H, Q, lips, thr, sub_pen, datafit, YMY,
                           tol_in, max_epochs, min_epochs, K, anderson, anderson_Q,
                           newton=True, F=None, final_tol=0.0, near_tol=0.0):
    """:func:`_solve_subproblem` for a fixed-metric datafit with ``gram_values``: the gap of
    ``Bws`` and of the Anderson point is checked after every extrapolation step, from the Gram
    quantities; the residuals of the final and of the best dual iterate are formed once.
    At least ``min_epochs`` epochs run (epochs are cheap next to the pass that follows).

    Once the gap is below ``near_tol``, the problem is solved on to ``final_tol`` (at once with
    Newton's step on the support, which takes the gap that far in a step or two): if no group is
    missing from the working set, the next pass then certifies convergence instead of asking for
    another working set."""
    n_orient = sub_pen.n_orient
    n_ep = 0
    best_dual, best_B = -np.inf, None
    n_wait = n_fail = 0

    def gap_terms(Bc, Qc):
        HB, BQ = float(np.vdot(H, Bc)), float(np.vdot(Bc, Qc))
        scale = sub_pen.dual_scaling(group_norms(H - Qc, n_orient))
        value, dual = datafit.gram_values(YMY, HB, BQ, scale)
        return value + sub_pen.value(Bc), dual

    while n_ep < max_epochs:
        bcd_gram_epochs(G, H, Bws, Q, lips, thr, n_orient, 1)
        n_ep += 1
        anderson.push(Bws)
        anderson_Q.append(Q.copy())
        if len(anderson.buffer) <= K:
            continue
        coefs = anderson.coefficients()
        primal, dual = gap_terms(Bws, Q)
        if dual > best_dual:
            best_dual, best_B = dual, Bws.copy()
        if coefs is not None:
            B_acc = anderson.combine(coefs)
            Q_acc = anderson.combine(coefs, anderson_Q)
            primal_acc, dual_acc = gap_terms(B_acc, Q_acc)
            if dual_acc > best_dual:
                best_dual, best_B = dual_acc, B_acc
            if primal_acc < primal:  # keep the extrapolated iterate (skglm's Anderson)
                Bws[:], Q[:] = B_acc, Q_acc
                primal = primal_acc
        anderson.clear()
        anderson_Q.clear()
        if primal - best_dual <= near_tol:
            tol_in = min(tol_in, final_tol)  # near the target: finish in this working set
        if newton and n_wait == 0 and primal - best_dual > tol_in:
            # Newton's step on the support (quadratic convergence once the support is right)
            if support_newton_step(G, H, Bws, Q, thr, n_orient, F=F):
                primal, dual = gap_terms(Bws, Q)
                if dual > best_dual:
                    best_dual, best_B = dual, Bws.copy()
                logger.debug(f"      newton at ep {n_ep}: primal {primal:.10e} "
                             f"gap {primal - best_dual:.2e}")
            else:  # no descent: the support is far from settled, wait 2, 4, 8... cycles
                n_fail += 1
                n_wait = 2 ** n_fail
        elif n_wait:
            n_wait -= 1
        logger.debug(f"      ep {n_ep} primal {primal:.10e} gap {primal - best_dual:.2e} "
                     f"tol_in {tol_in:.2e}")
        if primal - best_dual <= near_tol:  # again: Newton's step may just have got there
            tol_in = min(tol_in, final_tol)
        if primal - best_dual <= tol_in and n_ep >= min_epochs:
            break
    B[cols] = Bws
    R = Y - Xws @ Bws
    inner_gap = primal - best_dual if best_B is not None else np.nan
    if best_B is None or np.array_equal(best_B, Bws):
        return R, (R, cols, Bws.copy()), n_ep, inner_gap
    return R, (Y - Xws @ best_B, cols, best_B), n_ep, inner_gap


def warmup():
    """Compile (or load from the numba cache) the numba kernels; return the seconds it took."""
    t0 = time.perf_counter()
    for n_orient in (1, 3):
        m = 2 * n_orient
        G = np.eye(m)
        H = np.ones((m, 2))
        B = np.zeros((m, 2))
        bcd_gram_epochs(G, H, B, G @ B, np.ones(2), np.full(2, 0.1), n_orient, 1)
    column_triplet_max_eig(np.ones((2, 6)))
    gram_triplet_max_eig(np.eye(6))
    return time.perf_counter() - t0
