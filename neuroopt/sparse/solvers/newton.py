"""Newton step on the support of a working-set problem (the smooth problem once the support is known).

With the support ``A`` of ``B`` fixed, the working-set objective ``B^T G B / 2 - <H, B> +
sum_g lam_g ||B_g||_F`` is smooth on the non-zero groups, and its Hessian has a structure that
makes the exact Newton step cheap: with ``mu_g = lam_g / ||B_g||`` and ``u_g = B_g / ||B_g||``
(a unit (n_orient, n_times) block),

    Hess = (G_AA + D) (x) I_T  -  sum_g mu_g vec(u_g) vec(u_g)^T,    D = diag(mu_g per row),

a Kronecker matrix minus one rank-one term per group. Woodbury's identity inverts it with a
dense system of one row per group and solves with ``A = G_AA + D``, never forming the
``m_A n_times`` square Hessian. When ``G = F^T F`` with ``F`` of fewer rows than the support
has features (a gain with fewer sensors than active columns), ``A = D + F^T F`` is itself
inverted by Woodbury with an (n, n) Cholesky factorisation.

Block coordinate descent converges linearly, and slowly on badly conditioned free-orientation
gains (neighbouring sources of a depth-weighted volume grid). The duality gap is linear in the
KKT violation of the iterate (the primal suboptimality is quadratic in it), so certifying a
small gap needs an accurate iterate: Newton's step gives it once the support is right.
"""

from __future__ import annotations

import numpy as np
from scipy.linalg import LinAlgError, cho_factor, cho_solve, solve_triangular

from ..penalties import group_norms
from .gram import group_columns


def _objective(B, Q, H, thresholds, n_orient):
    """``B^T G B / 2 - <H, B> + sum_g lam_g ||B_g||`` from ``Q = G B``."""
    return (0.5 * float(np.vdot(B, Q)) - float(np.vdot(H, B))
            + float(thresholds @ group_norms(B, n_orient)))


def _block_sum(W, n_orient):
    """Sum of each (n_orient, n_orient) block of the square matrix ``W``."""
    n = W.shape[0] // n_orient
    if n_orient == 1:
        return W
    return W.reshape(n, n_orient, n, n_orient).sum(axis=(1, 3))


def newton_direction(G_AA, grad, B_A, thresholds_A, n_orient, F_A=None):
    """Newton direction of the smooth working-set objective on its support.

    Parameters
    ----------
    G_AA : ndarray, shape (m_A, m_A)
        Gram matrix of the support's features (``m_A = n_orient * n_groups_A``).
    grad : ndarray, shape (m_A, n_times)
        Gradient of the objective on the support: ``(G B - H)_A + mu_g B_g``.
    B_A : ndarray, shape (m_A, n_times)
        Coefficients of the support (every group non-zero).
    thresholds_A : ndarray, shape (n_groups_A,)
        Penalty weights ``lam_g`` (finite, >= 0).
    n_orient : int
        Rows per group.
    F_A : ndarray, shape (n, m_A) | None
        A factor with ``F_A^T F_A = G_AA``; used when ``n < m_A`` (cheaper, and exact).

    Returns
    -------
    direction : ndarray, shape (m_A, n_times) | None
        ``-Hess^{-1} grad``; None when the Hessian is not numerically positive definite.
    """
    m_A = B_A.shape[0]
    n_A = m_A // n_orient
    norms = group_norms(B_A, n_orient)
    mu = thresholds_A / norms
    d_rows = np.repeat(mu, n_orient)
    U = B_A / np.repeat(norms, n_orient)[:, None]  # the unit blocks u_g, stacked
    low_rank = F_A is not None and F_A.shape[0] < m_A and np.all(mu > 0)
    try:
        if low_rank:
            # A^{-1} = D^{-1} - Fd^T C^{-1} Fd, Fd = F D^{-1}, C = I + F D^{-1} F^T;
            # S = diag(1 / mu) - U^T A^{-1} U = (L^{-1} Fd U)^T (L^{-1} Fd U) exactly, since
            # U^T D^{-1} U = diag(1 / mu)
            Fd = F_A / d_rows
            C = Fd @ F_A.T
            C[np.diag_indices_from(C)] += 1.0
            L = np.linalg.cholesky(C)

            def solve_A(V):
                return V / d_rows[:, None] - Fd.T @ cho_solve((L, True), Fd @ V,
                                                              check_finite=False)

            P = solve_triangular(L, Fd, lower=True, check_finite=False)
            S = _block_sum((P.T @ P) * (U @ U.T), n_orient)
        else:
            factor = cho_factor(G_AA + np.diag(d_rows), lower=True, check_finite=False)

            def solve_A(V):
                return cho_solve(factor, V, check_finite=False)

            # S = diag(1 / mu) - U^T A^{-1} U loses every digit to cancellation for a group of
            # small norm (large mu); with A^{-1} = D^{-1} (I - G A^{-1}) it is
            # diag(1 / mu) U^T (G A^{-1} (x) I) U (G A^{-1} is the transpose of A^{-1} G)
            S = _block_sum(solve_A(G_AA).T * (U @ U.T), n_orient)
            S /= np.where(mu > 0, mu, 1.0)[:, None]
    except (LinAlgError, np.linalg.LinAlgError):
        return None
    y = solve_A(-grad)
    pen = np.flatnonzero(mu > 0)  # groups without penalty have no rank-one term
    if pen.size == 0:
        return y
    Uty = np.einsum("gi,gi->g", U.reshape(n_A, -1), y.reshape(n_A, -1))
    try:
        z_pen = np.linalg.solve(S[np.ix_(pen, pen)], Uty[pen])
    except np.linalg.LinAlgError:
        return None
    z = np.zeros(n_A)
    z[pen] = z_pen
    direction = y + solve_A(U * np.repeat(z, n_orient)[:, None])
    if not np.all(np.isfinite(direction)):
        return None
    return direction


def _shrinking_newton(G_AA, H_A, B_A, Q_A, thr_A, n_orient, F_A, max_rounds):
    """Newton's point on the support, dropping the groups it takes through zero.

    The direction at ``B_A`` is computed; the groups it takes through zero (``<B_g, B_g + d_g>
    <= 0``: their minimiser on the support is at zero, where the objective is not smooth) are
    set to zero and the direction is computed again from there on the smaller support. A
    dropped group whose zero is not optimal at the new point (``||(G B - H)_g|| > lam_g``: it
    crossed only because of the groups dropped with it) is put back at its value in ``B_A``
    and the direction computed again. At most ``max_rounds`` directions are computed; when
    they run out, the first point reached without crossings is returned.

    Returns
    -------
    target : ndarray, shape B_A.shape | None
        The full Newton point with the dropped groups at zero; None if no direction was free
        of crossings or a Hessian is not positive definite.
    direction : ndarray | None
        The first direction (at ``B_A`` on the whole support), for a damped step.
    """
    n_A = thr_A.size
    rows_of = np.arange(B_A.shape[0]).reshape(n_A, n_orient)
    cur, Q_cur = B_A.copy(), Q_A.copy()  # the point and (G B)_A there
    in_support = np.ones(n_A, dtype=bool)
    first = fallback = None
    for n_round in range(max_rounds):
        sub = np.flatnonzero(in_support)
        if sub.size == 0:  # every group crossed zero: no support left to take a step on
            return fallback, first
        rows = rows_of[sub].ravel()
        B_s = cur[rows]
        mu_rows = np.repeat(thr_A[sub] / group_norms(B_s, n_orient), n_orient)
        grad = Q_cur[rows] - H_A[rows] + mu_rows[:, None] * B_s
        direction = newton_direction(G_AA[np.ix_(rows, rows)], grad, B_s, thr_A[sub],
                                     n_orient, None if F_A is None else F_A[:, rows])
        if n_round == 0:
            first = direction
        if direction is None:
            return None, first
        crossed = np.einsum("gi,gi->g", B_s.reshape(sub.size, -1),
                            (B_s + direction).reshape(sub.size, -1)) <= 0
        if np.any(crossed):  # drop them; the others stay where they are
            drop = rows_of[sub[crossed]].ravel()
            Q_cur -= G_AA[:, drop] @ cur[drop]
            cur[drop] = 0.0
            in_support[sub[crossed]] = False
            continue
        cur[rows] += direction
        Q_cur += G_AA[:, rows] @ direction
        dropped = np.flatnonzero(~in_support)
        if dropped.size == 0 or n_round == max_rounds - 1:
            return cur, first
        violating = dropped[group_norms((Q_cur - H_A)[rows_of[dropped].ravel()], n_orient)
                            > thr_A[dropped] * (1 + 1e-9)]
        if violating.size == 0:
            return cur, first
        if fallback is None:
            fallback = cur.copy()
        back = rows_of[violating].ravel()
        Q_cur += G_AA[:, back] @ B_A[back]
        cur[back] = B_A[back]
        in_support[violating] = True
    return fallback, first


def support_newton_step(G, H, B, Q, thresholds, n_orient, F=None, max_halvings=4,
                        max_rounds=4):
    """One damped Newton step on the non-zero groups of ``B``, in place; True if taken.

    The full step is tried first with the groups it takes through zero set to zero and the
    direction recomputed on the smaller support (:func:`_shrinking_newton`: once the support
    is nearly right, a few groups still leave it, and a step damped for their sake loses
    Newton's quadratic convergence on the others), then the plain step halved until it
    lowers the objective.

    Parameters
    ----------
    G : ndarray, shape (m, m)
        Gram matrix of the working set.
    H : ndarray, shape (m, n_times)
        ``X_ws^T M Y``.
    B, Q : ndarray, shape (m, n_times)
        Coefficients and ``G @ B``, updated in place when the step is taken.
    thresholds : ndarray, shape (m // n_orient,)
        Penalty weight of each group (``inf``: kept at zero).
    n_orient : int
        Rows per group.
    F : ndarray, shape (n, m) | None
        A factor with ``F^T F = G`` (see :func:`newton_direction`).
    max_halvings : int
        A step that does not lower the objective is halved at most this many times.
    max_rounds : int
        At most this many Newton directions are computed for the full step (each drop or
        return of groups computes one more).

    Returns
    -------
    taken : bool
        Whether a step lowering the objective (or equal to it within rounding) was applied.
    """
    thr_finite = np.where(np.isfinite(thresholds), thresholds, 0.0)
    norms = group_norms(B, n_orient)
    active = np.flatnonzero((norms > 0) & np.isfinite(thresholds))
    if active.size == 0:
        return False
    cols = group_columns(active, n_orient)
    B_A = B[cols]
    thr_A = thresholds[active]
    G_cols = G[:, cols]
    target, direction = _shrinking_newton(G_cols[cols], H[cols], B_A, Q[cols], thr_A, n_orient,
                                          None if F is None else F[:, cols], max_rounds)
    if direction is None:
        return False
    # the objective along B + t delta is quadratic plus the penalty of the support's groups:
    # f(t) = f0 + t (<delta, Q> - <H, delta>) + t^2 <delta, G delta> / 2 + pen(t) - pen(0)
    BQ, HB = float(np.vdot(B, Q)), float(np.vdot(H, B))
    pen0 = float(thr_A @ norms[active])
    f0 = 0.5 * BQ - HB + float(thr_finite @ norms)
    # rounding of the objective's terms: a step within it is neither better nor worse
    slack = 64 * np.finfo(float).eps * (abs(BQ) + abs(HB) + abs(f0))

    def change(delta, G_delta, t):
        lin = float(np.vdot(delta, Q[cols])) - float(np.vdot(H[cols], delta))
        quad = float(np.vdot(delta, G_delta[cols]))
        pen = float(thr_A @ group_norms(B_A + t * delta, n_orient))
        return t * lin + 0.5 * t * t * quad + pen - pen0

    def apply(delta, G_delta, t):
        B[cols] += t * delta
        Q[:] += t * G_delta

    if target is not None:
        delta = target - B_A
        G_delta = G_cols @ delta
        if change(delta, G_delta, 1.0) <= slack:
            apply(delta, G_delta, 1.0)
            return True
    # the full step was tried (or crosses zero): damp the plain direction
    G_d = G_cols @ direction
    step = 0.5
    for _ in range(max_halvings):
        if change(direction, G_d, step) <= slack:
            apply(direction, G_d, step)
            return True
        step *= 0.5
    return False
