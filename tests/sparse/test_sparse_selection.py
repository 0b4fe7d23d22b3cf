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


def _neighbour_problem(seed=3):
    """Gain whose source 1 is a near copy of source 0 (canonical correlation ~0.98)."""
    rng = np.random.default_rng(seed)
    n, n_groups, T = 40, 12, 10
    X = rng.standard_normal((n, n_groups * N_ORIENT))
    X[:, 3:6] = X[:, 0:3] + 0.2 * rng.standard_normal((n, N_ORIENT))
    B = np.zeros((n_groups * N_ORIENT, T))
    B[0:3] = rng.standard_normal((3, T))  # source 0
    B[15:18] = rng.standard_normal((3, T))  # source 5
    return X, B, rng


def test_relocation_moves_a_source_to_the_neighbour_that_fits():
    """An estimate one neighbour off (source 1 for 0) is moved back; a right one stays."""
    from neuroopt.sparse.selection import gain_neighbours, relocate_sources

    X, B, rng = _neighbour_problem()
    Y = X @ B + 0.1 * rng.standard_normal((X.shape[0], B.shape[1]))
    assert 0 in gain_neighbours(X, N_ORIENT, 1) and 5 not in gain_neighbours(X, N_ORIENT, 1)
    off = np.zeros(12, bool)
    off[[1, 5]] = True
    np.testing.assert_array_equal(np.flatnonzero(relocate_sources(X, Y, off, N_ORIENT)), [0, 5])
    right = np.zeros(12, bool)
    right[[0, 5]] = True
    np.testing.assert_array_equal(relocate_sources(X, Y, right, N_ORIENT), right)
    # data from source 1: the estimate at 0 moves to 1
    Y1 = X[:, 3:6] @ B[0:3] + X @ np.where(np.arange(36)[:, None] // 3 == 5, B, 0)
    np.testing.assert_array_equal(np.flatnonzero(relocate_sources(X, Y1, right, N_ORIENT)), [1, 5])
    # no neighbour above the threshold: nothing moves
    np.testing.assert_array_equal(relocate_sources(X, Y, off, N_ORIENT, min_corr=0.999), off)
    with pytest.raises(ValueError, match="min_corr must be in"):
        relocate_sources(X, Y, off, N_ORIENT, min_corr=1.5)


def test_neighbours_capped_to_the_most_correlated():
    """``n_neighbours`` keeps the most correlated neighbours, in order, and bounds the moves."""
    from neuroopt.sparse.selection import gain_neighbours, relocate_sources

    X, B, rng = _neighbour_problem()
    X[:, 6:9] = X[:, 0:3] + 0.4 * rng.standard_normal((X.shape[0], N_ORIENT))  # 2: farther copy
    Y = X[:, 6:9] @ B[0:3] + 0.05 * rng.standard_normal((X.shape[0], B.shape[1]))
    every = gain_neighbours(X, N_ORIENT, 0, min_corr=0.8)
    np.testing.assert_array_equal(every[:2], [1, 2])
    np.testing.assert_array_equal(gain_neighbours(X, N_ORIENT, 0, min_corr=0.8, n_neighbours=1), [1])
    start = np.zeros(12, bool)
    start[0] = True
    # the data come from source 2: reached from 0 with every neighbour, not with the nearest only
    moved = relocate_sources(X, Y, start, N_ORIENT, min_corr=0.8, n_neighbours=None)
    np.testing.assert_array_equal(np.flatnonzero(moved), [2])
    capped = relocate_sources(X, Y, start, N_ORIENT, min_corr=0.8, n_neighbours=1)
    assert 2 not in np.flatnonzero(capped)
    with pytest.raises(ValueError, match="n_neighbours must be None"):
        relocate_sources(X, Y, start, N_ORIENT, n_neighbours=0)


def test_relocate_refits_on_the_moved_sources():
    """``relocate=True``: the L2,1 fit picks the wrong neighbour (1), relocation moves it to 0,
    and the estimate is the same estimator's fit on the sources moved to."""
    X, B, rng = _neighbour_problem()
    Y = X @ B + 0.1 * rng.standard_normal((X.shape[0], B.shape[1]))
    est = MultiTaskLasso(noise_std=0.1, n_orient=N_ORIENT, tol=1e-10, prune_level=0.05)
    est.set_params(alpha=0.5 * est.alpha_max(X, Y))
    np.testing.assert_array_equal(np.flatnonzero(est.fit(X, Y).active_set_), [1, 5])
    fit = est.set_params(relocate=True).fit(X, Y)
    np.testing.assert_array_equal(np.flatnonzero(fit.active_set_), [0, 5])
    assert fit.n_relocated_ == 1
    cols = group_columns(np.flatnonzero(fit.active_set_), N_ORIENT)
    alone = MultiTaskLasso(est.alpha, noise_std=0.1, n_orient=N_ORIENT, tol=1e-10).fit(X[:, cols], Y)
    np.testing.assert_allclose(fit.coef_[:, cols], alone.coef_, atol=1e-6)
    with pytest.raises(TypeError, match="relocate must be True or False"):
        est.set_params(relocate="yes").fit(X, Y)



def test_subspace_noise_std_per_group_ignores_a_low_rank_signal():
    """The noise subspace reads each group's noise std, with a strong rank-2 signal on top."""
    from neuroopt.sparse.alpha_search import subspace_noise_std

    rng = np.random.default_rng(5)
    groups = np.repeat(["grad", "mag"], [100, 60])
    stds = np.where(groups == "grad", 1.0, 2.0)[:, None]
    noise = stds * rng.standard_normal((160, 50))
    signal = 10 * rng.standard_normal((160, 2)) @ rng.standard_normal((2, 50))
    for Y in (noise, noise + signal):
        np.testing.assert_allclose(subspace_noise_std(Y, groups), [1.0, 2.0], rtol=0.1)
    # one group: the pooled level, between the two
    assert 1.1 < subspace_noise_std(noise)[0] < 1.9
    with pytest.raises(ValueError, match="groups must have one label per row"):
        subspace_noise_std(noise, groups[:10])


def test_concomitant_elimination_uses_the_passed_noise_level():
    """``prune_noise_std``: the elimination tests at the level given, not the fitted one."""
    from neuroopt.sparse.alpha_search import subspace_noise_std

    rng = np.random.default_rng(2)
    n, n_groups, T = 40, 30, 10
    groups = np.repeat([0, 1], 20)
    X = rng.standard_normal((n, n_groups * N_ORIENT))
    B = np.zeros((n_groups * N_ORIENT, T))
    B[:6] = rng.standard_normal((6, T))
    Y = X @ B + np.where(groups == 0, 0.3, 0.6)[:, None] * rng.standard_normal((n, T))
    est = SGCL(sensor_groups=groups, n_orient=N_ORIENT, tol=1e-10)
    est.set_params(alpha=0.4 * est.alpha_max(X, Y))
    convex = est.fit(X, Y)
    sigmas, full = convex.sigmas_.copy(), convex.active_set_.copy()
    assert full.sum() > 2

    def kept(noise_std):
        fit = est.set_params(prune_level=0.05, prune_noise_std=noise_std).fit(X, Y)
        return fit.active_set_.copy()

    # None (default) is the fitted levels; the true levels keep the two true sources
    np.testing.assert_array_equal(kept(None), kept(sigmas))
    assert kept([0.3, 0.6])[:2].all()
    # a level far above the noise removes every source; a scalar applies to every group
    assert not kept(100.0).any()
    np.testing.assert_array_equal(kept("subspace"), kept(subspace_noise_std(Y, groups)))
    for bad in ("covariance", [0.3, 0.6, 1.0], -1.0):
        with pytest.raises(ValueError, match="prune_noise_std must be"):
            kept(bad)
