"""Warm starts along a path: pass records, the extrapolated working set, partial first passes."""

import numpy as np
import pytest

from neuroopt.sparse import MultiTaskLasso, warmup
from neuroopt.sparse.datafits import Quadratic
from neuroopt.sparse.penalties import L21, group_norms
from neuroopt.sparse.solvers import GradientCache, solve_working_set
from neuroopt.sparse.solvers.sequential import PassRecord, predicted_norms


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def _problem(seed=3, n=30, n_sources=120, n_orient=3, T=6, k=6):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_sources * n_orient))
    W = np.zeros((n_sources * n_orient, T))
    for g in rng.choice(n_sources, k, replace=False):
        W[g * n_orient:(g + 1) * n_orient] = rng.standard_normal((n_orient, T))
    return X, X @ W + 0.3 * rng.standard_normal((n, T))


def _record(corr, groups, alpha, weights=None):
    return PassRecord(np.zeros((2, 2)), None, None, groups, group_norms(corr, 3), corr, alpha,
                      weights)


def test_predicted_norms_extrapolate_linearly_and_only_down_a_path():
    rng = np.random.default_rng(0)
    groups = np.arange(5)
    C0, C1 = rng.standard_normal((15, 4)), rng.standard_normal((15, 4))
    first, second = _record(C0, groups, 1.0), _record(C1, groups, 0.8)
    current = np.full(5, -1.0)
    # s = (0.6 - 0.8) / (0.8 - 1.0) = 1: the prediction is C1 + (C1 - C0), exact on a line
    pred = predicted_norms(second, first, L21(0.6, 3), groups, current)
    np.testing.assert_allclose(pred, group_norms(2 * C1 - C0, 3), rtol=1e-12)
    # groups the older pass did not evaluate (screened there) keep their current norm
    partial = _record(C0[3:], groups[1:], 1.0)
    pred = predicted_norms(second, partial, L21(0.6, 3), groups, current)
    assert pred[0] == -1.0
    np.testing.assert_allclose(pred[1:], group_norms((2 * C1 - C0)[3:], 3), rtol=1e-12)
    # no extrapolation up the path, at the same alpha or across a change of weights
    assert predicted_norms(second, first, L21(0.9, 3), groups, current) is None
    assert predicted_norms(first, second, L21(0.6, 3), groups, current) is None
    assert predicted_norms(second, first, L21(0.6, 3, np.full(5, 2.0)), groups, current) is None


def test_wrong_prediction_costs_a_pass_not_the_answer():
    """A first working set predicted from misleading correlations misses the groups that enter;
    the certifying pass finds their KKT violation and the solve reaches the cold optimum."""
    X, Y = _problem()
    n_orient, tol = 3, 1e-8
    amax = MultiTaskLasso(n_orient=n_orient).alpha_max(X, Y)
    first = solve_working_set(X, Y, Quadratic(), L21(0.5 * amax, n_orient), tol=tol)
    # a pass record without the groups farthest from their dual constraint (as if screened at
    # 0.5 alpha_max): the next solve starts from a partial evaluation
    full = first.last_pass
    assert full.correlations is not None
    record = full.restricted(np.sort(full.groups[np.argsort(full.norms)[30:]]), n_orient)
    # a fake older pass from which every correlation extrapolates to zero at the new alpha
    # (C + s (C - C_old) = 0 with s = 2): no group is predicted to enter
    fake = PassRecord(record.residual, None, None, record.groups, record.norms,
                      1.5 * record.correlations, 0.6 * amax)
    alpha = 0.3 * amax
    active_before = np.flatnonzero(group_norms(first.B, n_orient) > 0)
    no_cache = GradientCache(X, Y, Quadratic())
    no_cache.enabled = False  # the evaluations read X (the cache would serve this small X)
    res = solve_working_set(X, Y, Quadratic(), L21(alpha, n_orient), first.B, tol=tol, p0=1,
                            initial_pass=record, previous_pass=fake, ws_growth=1.0,
                            gradient_cache=no_cache)
    assert np.isinf(res.gap_history[0])  # the partial first evaluation certifies nothing
    cold = solve_working_set(X, Y, Quadratic(), L21(alpha, n_orient), tol=1e-12)
    active_after = np.flatnonzero(group_norms(res.B, n_orient) > 0)
    entered = np.setdiff1d(active_after, active_before)
    assert entered.size > 0
    assert res.converged and 0 <= res.dual_gap <= tol * res.objective_at_zero
    assert res.n_iter >= 3  # partial first evaluation, a pass finding the violations, the check
    assert res.primal - cold.primal <= tol * res.objective_at_zero
    np.testing.assert_array_equal(active_after, np.flatnonzero(group_norms(cold.B, n_orient) > 0))


def test_prediction_finds_the_entering_groups_of_a_path():
    """With the two previous passes, the first working set holds the groups that enter: each
    point of the path is certified by its first full pass (the working set holds only the
    groups the rule picks: ``p0=1``, ``ws_growth=1``)."""
    X, Y = _problem(seed=5, n=40, n_sources=200, k=8)
    n_orient, tol = 3, 1e-8
    amax = MultiTaskLasso(n_orient=n_orient).alpha_max(X, Y)
    iters = {}
    for predict in (True, False):
        B, last, previous, iters[predict] = None, None, None, []
        for alpha in amax * np.geomspace(0.6, 0.2, 8):
            res = solve_working_set(X, Y, Quadratic(), L21(alpha, n_orient), B, tol=tol,
                                    initial_pass=last, previous_pass=previous if predict else None,
                                    p0=1, ws_growth=1.0)
            assert res.converged and res.dual_gap <= tol * res.objective_at_zero
            B, previous, last = res.B, last, res.last_pass
            iters[predict].append(res.n_iter)
    # from the third point on the prediction applies: the first evaluation (free, from the
    # previous point's last pass) and one certifying pass
    assert iters[True][2:] == [2] * 6, iters
    assert sum(iters[False][2:]) > 12, iters  # the nearest groups at the previous alpha miss some
