"""Concomitant estimators: gap, optimality against scikit-learn at the fitted noise, noise recovery."""

import numpy as np
import pytest
from sklearn.linear_model import MultiTaskLasso as SklearnMTL

from neuroopt.sparse import SGCL, CLaR, MultiTaskSqrtLasso, warmup
from neuroopt.sparse.datafits import (
    CovarianceConcomitant,
    Quadratic,
    SensorGroupConcomitant,
)
from neuroopt.sparse.penalties import group_norms


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def simulate(seed=0, n=60, n_sources=80, T=30, k=3, sigmas=(0.5,), n_epochs=None):
    """Gain with unit-norm columns, k active sources, Gaussian noise per sensor group."""
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, n_sources))
    X /= np.linalg.norm(X, axis=0)
    W = np.zeros((n_sources, T))
    idx = rng.choice(n_sources, k, replace=False)
    W[idx] = 3 * rng.standard_normal((k, T))
    groups = np.arange(n) % len(sigmas)
    scale = np.asarray(sigmas)[groups][:, None]
    if n_epochs is None:
        Y = X @ W + scale * rng.standard_normal((n, T))
    else:
        Y = (X @ W)[None] + scale * rng.standard_normal((n_epochs, n, T))
    return X, Y, W, groups


def test_sqrt_lasso_noise_recovery_and_gap():
    X, Y, W, _ = simulate(n=200, T=50, sigmas=(0.7,))
    est = MultiTaskSqrtLasso(tol=1e-8)
    est.set_params(alpha=0.3 * est.alpha_max(X, Y)).fit(X, Y)
    assert 0 <= est.dual_gap_ <= 1e-8 * est.objective_at_zero_
    est_debiased = MultiTaskSqrtLasso(est.alpha_, tol=1e-8, debias=True).fit(X, Y)
    resid = Y - est_debiased.predict(X)
    sigma_refit = np.linalg.norm(resid) / np.sqrt(resid.size)
    assert sigma_refit == pytest.approx(0.7, rel=0.1)
    # the penalised estimate's sigma_ is biased up by the shrinkage but stays within 10%
    assert est.sigma_ == pytest.approx(0.7, rel=0.1)


def test_sgcl_recovers_group_noise_levels():
    X, Y, W, groups = simulate(n=240, T=60, sigmas=(0.3, 1.2), seed=1)
    labels = np.where(groups == 0, "grad", "mag")
    est = SGCL(sensor_groups=labels, tol=1e-8)
    est.set_params(alpha=0.3 * est.alpha_max(X, Y)).fit(X, Y)
    assert list(est.sensor_groups_) == ["grad", "mag"]
    np.testing.assert_allclose(est.sigmas_, [0.3, 1.2], rtol=0.1)
    assert 0 <= est.dual_gap_ <= 1e-8 * est.objective_at_zero_
    support = np.flatnonzero(np.abs(W).sum(axis=1))
    assert set(support) <= set(np.flatnonzero(est.active_set_))


def test_clar_recovers_noise_covariance_scale():
    X, Y, W, _ = simulate(n=40, T=30, sigmas=(0.5,), n_epochs=20, seed=2)
    est = CLaR(sigma_min=1e-3, tol=1e-8)
    est.set_params(alpha=0.3 * est.alpha_max(X, Y)).fit(X, Y)
    assert 0 <= est.dual_gap_ <= 1e-8 * est.objective_at_zero_
    S = est.noise_cov_
    np.testing.assert_allclose(S, S.T, atol=1e-12)
    assert np.trace(S) / S.shape[0] == pytest.approx(0.5, rel=0.1)
    support = np.flatnonzero(np.abs(W).sum(axis=1))
    assert set(support) <= set(np.flatnonzero(est.active_set_))


@pytest.mark.parametrize("kind", ["sqrt", "sgcl", "clar", "clar2d"])
def test_optimal_for_fixed_noise_matches_sklearn(kind):
    """At the fitted noise, W solves a MultiTaskLasso on whitened data (checked by sklearn)."""
    # CLaR without repetitions needs n_times > n_sensors for a full-rank residual covariance
    n, T = (30, 80) if kind == "clar2d" else (50, 10)
    X, Y, _, groups = simulate(n=n, T=T, sigmas=(0.5, 1.0), seed=3,
                               n_epochs=5 if kind == "clar" else None)
    tol = 1e-10 if kind == "clar2d" else 1e-12
    if kind == "sqrt":
        est = MultiTaskSqrtLasso(tol=1e-12, max_iter=500)
    elif kind == "sgcl":
        est = SGCL(sensor_groups=groups, tol=1e-12, max_iter=500)
    else:
        est = CLaR(sigma_min=1e-2, tol=tol, max_iter=500)
    est.set_params(alpha=0.2 * est.alpha_max(X, Y)).fit(X, Y)
    Ybar = Y.mean(axis=0) if Y.ndim == 3 else Y
    T = Ybar.shape[1]
    if kind == "sqrt":
        whitener = np.eye(len(X)) / np.sqrt(est.sigma_)
    elif kind == "sgcl":
        whitener = np.diag(1 / np.sqrt(est.sigmas_[groups]))
    else:
        evals, evecs = np.linalg.eigh(est.noise_cov_)
        whitener = (evecs / np.sqrt(evals)) @ evecs.T
    # sum ||S^-1/2 R||^2 / (2 n T) + alpha ||W||  ==  (1/T) [MTL on whitened data, alpha T]
    ref = SklearnMTL(alpha=est.alpha_ * T, fit_intercept=False, tol=1e-14,
                     max_iter=500_000).fit(whitener @ X, whitener @ Ybar)
    np.testing.assert_allclose(est.coef_, ref.coef_, atol=1e-6)


@pytest.mark.parametrize("make", [
    lambda g: (Quadratic(), None),
    lambda g: (SensorGroupConcomitant(g, 1e-3), None),
    lambda g: (CovarianceConcomitant(1e-2, None, 4), "epochs"),
])
def test_weak_duality_random_points(make):
    """Any residual gives a dual value below the primal value of any coefficients."""
    rng = np.random.default_rng(4)
    X, _, _, groups = simulate(n=30, T=6, sigmas=(0.5, 1.0), seed=4)
    datafit, mode = make(groups)
    Y_ep = rng.standard_normal((4, 30, 6))
    Y = Y_ep.mean(axis=0)
    if mode == "epochs":
        centered = Y_ep - Y
        datafit.within_cov = np.einsum("lit,ljt->ij", centered, centered)
    datafit.initialize(Y)
    from neuroopt.sparse.penalties import L21
    from neuroopt.sparse.solvers import dual_from_residual

    pen = L21(0.05)
    for _ in range(20):
        B = rng.standard_normal((X.shape[1], 6)) * (rng.random((X.shape[1], 1)) < 0.2)
        primal = datafit.value(Y - X @ B) + pen.value(B)
        R = rng.standard_normal((30, 6)) * rng.uniform(0.01, 3)
        dual, _, _ = dual_from_residual(X, R, datafit, pen)
        assert dual <= primal + 1e-12


@pytest.mark.parametrize("cls", [MultiTaskSqrtLasso, SGCL, CLaR])
def test_alpha_max_concomitant(cls):
    X, Y, _, _ = simulate(seed=5, n_epochs=10 if cls is CLaR else None)
    est = cls()
    amax = est.alpha_max(X, Y)
    assert not np.any(est.set_params(alpha=amax * (1 + 1e-9)).fit(X, Y).coef_)
    assert np.any(est.set_params(alpha=0.99 * amax).fit(X, Y).coef_)
    # pivotal: scaling the data does not change alpha_max
    assert cls().alpha_max(X, 10 * Y) == pytest.approx(amax, rel=1e-6)


def test_free_orientation_concomitant():
    rng = np.random.default_rng(6)
    X = rng.standard_normal((40, 90))
    Y = X[:, 6:9] @ rng.standard_normal((3, 12)) + 0.3 * rng.standard_normal((40, 12))
    est = SGCL(n_orient=3, sensor_groups=np.arange(40) % 2, tol=1e-8)
    est.set_params(alpha=0.5 * est.alpha_max(X, Y)).fit(X, Y)
    assert est.active_set_.shape == (30,)
    assert est.active_set_[2]
    norms = group_norms(est.coef_.T, 3)
    assert norms.argmax() == 2


def test_screening_safe_for_clar_with_repetitions():
    """Large sigma_min makes gap-safe screening active; the solution must not change."""
    from neuroopt.sparse.penalties import L21
    from neuroopt.sparse.solvers import solve_working_set

    X, Y, _, _ = simulate(n=30, T=8, sigmas=(0.5,), n_epochs=6, seed=7)
    est = CLaR(sigma_min=1.0)
    _, Ybar, _, _ = est._prepare(X, Y)
    alpha = 0.3 * est.alpha_max(X, Y)
    results = []
    for screening in (True, False):
        datafit = est._prepare(X, Y)[-1]
        results.append(solve_working_set(X, Ybar, datafit, L21(alpha), tol=1e-10,
                                         screening=screening))
    np.testing.assert_allclose(results[0].B, results[1].B, atol=1e-7)
    assert np.any(results[0].B)


@pytest.mark.parametrize("kind", ["sgcl", "clar"])
def test_concomitant_path_certified(kind):
    """Warm-started paths of the concomitant estimators (cached passes, noise carried over)."""
    from neuroopt.sparse import lasso_path

    X, Y, _, groups = simulate(n=40, T=12, sigmas=(0.5, 1.0), seed=8,
                               n_epochs=5 if kind == "clar" else None)
    est = (SGCL(sensor_groups=groups, tol=1e-8) if kind == "sgcl"
           else CLaR(sigma_min=1e-2, tol=1e-8))
    alphas, coefs, gaps = lasso_path(X, Y, n_alphas=5, eps=0.2, estimator=est)
    assert np.any(coefs[..., -1])
    for alpha, coef, gap in zip(alphas, np.moveaxis(coefs, -1, 0), gaps):
        cold = est.__class__(**{**est.get_params(), "alpha": alpha}).fit(X, Y)
        assert 0 <= gap <= 1e-8 * cold.objective_at_zero_
        np.testing.assert_allclose(coef, cold.coef_,
                                   atol=1e-3 * max(np.abs(cold.coef_).max(), 1e-12))
