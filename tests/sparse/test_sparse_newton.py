"""Newton step on the working-set support: the Woodbury direction equals the dense Newton
direction, the step lands on the support's KKT point, and the solver gives the same answer
with and without it."""

import numpy as np
import pytest

from neuroopt.sparse import warmup
from neuroopt.sparse.datafits import Quadratic
from neuroopt.sparse.penalties import L21, group_norms
from neuroopt.sparse.solvers import group_columns, solve_working_set
from neuroopt.sparse.solvers.newton import newton_direction, support_newton_step


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def dense_hessian(G, B, lam, n_orient):
    """Hessian of ``B^T G B / 2 + sum_g lam_g ||B_g||`` in row-major ``vec(B)``, built entrywise."""
    m, T = B.shape
    hess = np.kron(G, np.eye(T))
    for g in range(m // n_orient):
        b = B[g * n_orient:(g + 1) * n_orient].ravel()
        norm = np.linalg.norm(b)
        u = b / norm
        sl = slice(g * n_orient * T, (g + 1) * n_orient * T)
        hess[sl, sl] += lam[g] / norm * (np.eye(b.size) - np.outer(u, u))
    return hess


@pytest.mark.parametrize("n_orient", [1, 3])
@pytest.mark.parametrize("n_rows", [4, 30])  # fewer rows than features (low-rank path), more
def test_newton_direction_equals_dense_solve(n_orient, n_rows):
    rng = np.random.default_rng(n_orient + n_rows)
    n_groups, T = 5, 6
    m = n_groups * n_orient
    F = rng.standard_normal((n_rows, m))
    G = F.T @ F
    B = rng.standard_normal((m, T))
    B[:n_orient] *= 1e-4  # a group near zero: large mu, where S cancels in the naive form
    lam = rng.uniform(0.5, 2.0, n_groups)
    grad = rng.standard_normal((m, T))
    ref = -np.linalg.solve(dense_hessian(G, B, lam, n_orient), grad.ravel()).reshape(m, T)
    for factor in (None, F):
        direction = newton_direction(G, grad, B, lam, n_orient, factor)
        np.testing.assert_allclose(direction, ref, rtol=1e-7, atol=1e-9 * np.abs(ref).max())


def _four_source_problem(n_orient):
    """Random gain with 40 sources, 4 of them active, light noise; alpha at 0.2 alpha_max and
    its solution certified to a relative gap of 1e-14 (the generator is returned for more draws)."""
    rng = np.random.default_rng(0)
    n, n_sources, T = 30, 40, 5
    X = rng.standard_normal((n, n_sources * n_orient))
    Y = X[:, :4 * n_orient] @ rng.standard_normal((4 * n_orient, T))
    Y += 0.1 * rng.standard_normal((n, T))
    alpha = 0.2 * np.max(group_norms(X.T @ Y, n_orient)) / n
    ref = solve_working_set(X, Y, Quadratic(), L21(alpha, n_orient), tol=1e-14, newton=False)
    return rng, X, Y, alpha, ref


@pytest.mark.parametrize("n_orient", [1, 3])
def test_newton_step_reaches_the_kkt_point_of_its_support(n_orient):
    """From a point near the optimum with the right support, a few steps satisfy the KKT
    conditions to rounding (block coordinate descent needs hundreds of epochs for that)."""
    rng, X, Y, alpha, ref = _four_source_problem(n_orient)
    (n, T), n_sources = Y.shape, X.shape[1] // n_orient
    support = group_norms(ref.B, n_orient) > 0
    assert 0 < support.sum() < n_sources
    G, H = X.T @ X / n, X.T @ Y / n
    thr = np.full(n_sources, alpha)
    rows = np.repeat(support, n_orient)
    B = ref.B.copy()
    B[rows] *= 1 + 0.05 * rng.standard_normal((rows.sum(), T))  # 5 % off, same support
    Q = G @ B

    def kkt(B, Q):
        grad = (Q - H)[rows].reshape(-1, n_orient * T)
        Bs = B[rows].reshape(-1, n_orient * T)
        return np.abs(grad + alpha * Bs / np.linalg.norm(Bs, axis=1)[:, None]).max()

    before = kkt(B, Q)
    for _ in range(3):
        assert support_newton_step(G, H, B, Q, thr, n_orient, F=X / np.sqrt(n))
    np.testing.assert_allclose(Q, G @ B, atol=1e-12)
    assert kkt(B, Q) < 1e-8 * alpha < 1e-5 * before
    np.testing.assert_allclose(B, ref.B, atol=1e-8 * np.abs(ref.B).max())


@pytest.mark.parametrize("n_orient", [1, 3])
def test_newton_step_drops_the_groups_that_leave_the_support(n_orient):
    """Groups wrongly in the support leave it, and the steps still converge fast on the others
    (a step halved for the leaving groups' sake would not). With free orientation the first
    direction also takes a small true group through zero; it is put back, as its zero is not
    optimal once the others are dropped."""
    rng, X, Y, alpha, ref = _four_source_problem(n_orient)
    (n, T), n_sources = Y.shape, X.shape[1] // n_orient
    support = group_norms(ref.B, n_orient) > 0
    G, H = X.T @ X / n, X.T @ Y / n
    thr = np.full(n_sources, alpha)
    B = ref.B.copy()
    rows = np.repeat(support, n_orient)
    B[rows] *= 1 + 0.01 * rng.standard_normal((rows.sum(), T))
    extra = np.flatnonzero(~support)[:2]  # small, non-zero, outside the optimal support
    B[group_columns(extra, n_orient)] = 0.005 * np.abs(ref.B).max() * rng.standard_normal(
        (extra.size * n_orient, T))
    Q = G @ B
    errors = []
    for _ in range(3):
        assert support_newton_step(G, H, B, Q, thr, n_orient, F=X / np.sqrt(n))
        errors.append(np.abs(B - ref.B).max() / np.abs(ref.B).max())
    np.testing.assert_array_equal(group_norms(B, n_orient) > 0, support)
    np.testing.assert_allclose(Q, G @ B, atol=1e-12)
    assert errors[0] < 1e-3 and errors[2] < 1e-8


@pytest.mark.parametrize("n_orient", [1, 3])
def test_solver_with_and_without_newton_agree(n_orient):
    """Same certified optimum, and Newton's steps cut the epochs on a correlated design
    (never more epochs, fewer over three draws: each working set runs at least 10 epochs,
    so on these small problems some draws end with as many)."""
    epochs = []
    for seed in (1, 2, 3):
        rng = np.random.default_rng(seed)
        n, n_sources, T = 40, 150, 10
        # neighbouring columns strongly correlated, as a dense source grid's gains are
        base = rng.standard_normal((n, n_sources * n_orient + 4))
        X = sum(base[:, k:k + n_sources * n_orient] for k in range(5))
        Y = X[:, :6 * n_orient] @ rng.standard_normal((6 * n_orient, T))
        Y += 0.5 * rng.standard_normal((n, T))
        alpha = 0.1 * np.max(group_norms(X.T @ Y, n_orient)) / n
        runs = [solve_working_set(X, Y, Quadratic(), L21(alpha, n_orient), tol=1e-8,
                                  newton=flag) for flag in (False, True)]
        for run in runs:
            assert run.converged and 0 <= run.dual_gap <= 1e-8 * run.objective_at_zero
        assert abs(runs[0].primal - runs[1].primal) <= 2e-8 * runs[0].objective_at_zero
        assert runs[1].n_epochs <= runs[0].n_epochs
        epochs.append([run.n_epochs for run in runs])
    without, with_newton = np.sum(epochs, axis=0)
    assert with_newton < without


@pytest.mark.parametrize("n_orient", [1, 3])
def test_newton_step_when_every_group_crosses_zero(n_orient):
    """Newton's direction takes every group of the support through zero (the optimum is
    B = 0): no support is left for a full step, so the damped first direction is taken, which
    lowers the objective, and (G B) stays consistent."""
    rng = np.random.default_rng(4)
    m, T = 2 * n_orient, 3
    G = np.eye(m) + 0.1 * np.ones((m, m))
    H = np.zeros((m, T))
    thr = np.full(2, 0.5)
    B = 0.1 * rng.standard_normal((m, T))  # small: the smooth part's minimiser crosses zero
    Q = G @ B

    def objective(Bc):
        return 0.5 * np.vdot(Bc, G @ Bc) - np.vdot(H, Bc) + thr @ group_norms(Bc, n_orient)

    before = objective(B)
    assert support_newton_step(G, H, B, Q, thr, n_orient)
    assert objective(B) < before
    np.testing.assert_allclose(Q, G @ B, atol=1e-12)
