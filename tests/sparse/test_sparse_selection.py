"""Backward elimination of active sources (``prune_level``): calibration under noise, recovery."""

import numpy as np
import pytest

from neuroopt.sparse import SGCL, MultiTaskLasso, warmup
from neuroopt.sparse.selection import eliminate_sources
from neuroopt.sparse.solvers import group_columns

N_ORIENT = 3


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def _ar1(T, rho):
    return rho ** np.abs(np.arange(T)[:, None] - np.arange(T)[None, :])


def test_elimination_keeps_pure_noise_out_at_its_level():
    """Under noise alone, some source survives in about ``level`` of the draws (white and AR(1))."""
    rng = np.random.default_rng(0)
    n, n_groups, T, level = 40, 20, 10, 0.1
    X = rng.standard_normal((n, n_groups * N_ORIENT))
    active = np.zeros(n_groups, bool)
    active[:6] = True
    cov = _ar1(T, 0.7)
    colour = np.linalg.cholesky(cov).T
    rates = {}
    for name, tc in (("white", None), ("ar1", cov), ("ar1_ignored", None)):
        hits = 0
        for _ in range(150):
            Y = 0.5 * rng.standard_normal((n, T))
            if name != "white":
                Y = Y @ colour
            hits += eliminate_sources(X, Y, active, N_ORIENT, 0.5, level=level, time_cov=tc).any()
        rates[name] = hits / 150
    assert rates["white"] <= 2 * level and rates["ar1"] <= 2 * level
    # ignoring the temporal correlation lets noise through far more often
    assert rates["ar1_ignored"] > 2 * rates["ar1"] + 0.1


def test_elimination_keeps_the_true_sources():
    rng = np.random.default_rng(1)
    n, n_groups, T = 40, 20, 10
    X = rng.standard_normal((n, n_groups * N_ORIENT))
    B = np.zeros((n_groups * N_ORIENT, T))
    B[:6] = rng.standard_normal((6, T))  # groups 0 and 1
    Y = X @ B + 0.3 * rng.standard_normal((n, T))
    active = np.zeros(n_groups, bool)
    active[:8] = True
    kept = eliminate_sources(X, Y, active, N_ORIENT, 0.3)
    np.testing.assert_array_equal(np.flatnonzero(kept), [0, 1])
    with pytest.raises(ValueError, match="level must be in"):
        eliminate_sources(X, Y, active, N_ORIENT, 0.3, level=2.0)
    with pytest.raises(ValueError, match="active_set must have shape"):
        eliminate_sources(X, Y, active[:5], N_ORIENT, 0.3)


@pytest.mark.parametrize("est, fraction", [
    (MultiTaskLasso(noise_std=0.3, n_orient=N_ORIENT, tol=1e-10), 0.05),
    (SGCL(sensor_groups=np.repeat([0, 1], 20), n_orient=N_ORIENT, tol=1e-10), 0.4),
], ids=["mtl", "sgcl"])
def test_prune_level_refits_on_the_kept_sources(est, fraction):
    """``prune_level``: fewer sources, and the fit equals the same estimator on those alone."""
    rng = np.random.default_rng(2)
    n, n_groups, T = 40, 30, 10
    X = rng.standard_normal((n, n_groups * N_ORIENT))
    B = np.zeros((n_groups * N_ORIENT, T))
    B[:6] = rng.standard_normal((6, T))
    Y = X @ B + 0.3 * rng.standard_normal((n, T))
    alpha = fraction * est.alpha_max(X, Y)
    full = est.set_params(alpha=alpha).fit(X, Y).active_set_.copy()
    assert 2 < full.sum() < n // N_ORIENT
    pruned = est.set_params(prune_level=0.05).fit(X, Y)
    assert pruned.n_pruned_ == full.sum() - pruned.active_set_.sum() > 0
    assert np.all(full[pruned.active_set_]) and pruned.active_set_[:2].all()
    cols = group_columns(np.flatnonzero(pruned.active_set_), N_ORIENT)
    alone = type(est)(**{**est.get_params(), "prune_level": None}).fit(X[:, cols], Y)
    np.testing.assert_allclose(pruned.coef_[:, cols], alone.coef_, atol=1e-6)
    with pytest.raises(ValueError, match="prune_level must be None"):
        est.set_params(prune_level=1.5).fit(X, Y)
    est.set_params(prune_level=None)
