"""Choice of alpha: exact SURE degrees of freedom, hypergradients, the search, the estimator API."""

from __future__ import annotations

import numpy as np
import pytest

from neuroopt.sparse import SGCL, CLaR, MultiTaskLasso, MultiTaskSqrtLasso, search_alpha
from neuroopt.sparse.criteria import (
    held_out,
    noise_model_of,
    noise_time_correlation,
    polish,
    split_epochs,
    sure,
)

N_ORIENT = 3


def _problem(seed=0, n=40, p=60, T=5, sigma=0.5, n_epochs=None):
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    B = np.zeros((p, T))
    B[:6] = rng.standard_normal((6, T))
    groups = np.repeat([0, 1], n // 2)
    scale = np.where(groups == 1, 3.0, 1.0)[:, None]
    shape = (n, T) if n_epochs is None else (n_epochs, n, T)
    Y = X @ B + sigma * scale * rng.standard_normal(shape)
    return X, Y, B, groups


def _estimators(groups):
    return {"mtl": MultiTaskLasso(n_orient=N_ORIENT, tol=1e-12),
            "sqrt": MultiTaskSqrtLasso(n_orient=N_ORIENT, tol=1e-12),
            "sgcl": SGCL(sensor_groups=groups, n_orient=N_ORIENT, tol=1e-12)}


def _fit(est, X, Y, alpha):
    model = noise_model_of(est, X.shape[0])
    est.set_params(alpha=alpha).fit(X, Y)
    return polish(X, Y, est.coef_.T, alpha, N_ORIENT, model), model


@pytest.mark.parametrize("name", ["mtl", "sqrt", "sgcl"])
@pytest.mark.parametrize("criterion", ["sure", "sure_time", "held_out"])
def test_hypergradient_equals_finite_differences(name, criterion):
    """d criterion / d log(alpha) by implicit differentiation == central differences (1e-4)."""
    X, Y, _, groups = _problem(seed=1)
    Y_test = _problem(seed=2)[1]
    est = _estimators(groups)[name]
    time_cov = noise_time_correlation(np.random.default_rng(3).standard_normal((40, 5))
                                      @ np.triu(np.ones((5, 5))))
    noise = np.array([0.5, 1.5]) if name == "sgcl" else 0.7

    def value(alpha):
        B, model = _fit(est, X, Y, alpha)
        if criterion == "held_out":
            return held_out(X, Y, Y_test, B, alpha, N_ORIENT, model)
        return sure(X, Y, B, alpha, N_ORIENT, model, noise,
                    time_cov if criterion == "sure_time" else None)

    alpha = 0.3 * est.alpha_max(X, Y)
    c = value(alpha)
    assert c.n_active > 0
    h = 1e-6
    fd = (value(alpha * np.exp(h)).value - value(alpha * np.exp(-h)).value) / (2 * h)
    assert c.grad_log_alpha == pytest.approx(fd, rel=1e-4)


@pytest.mark.parametrize("name", ["mtl", "sgcl"])
def test_exact_dof_matches_monte_carlo_divergence(name):
    """Exact d.o.f. == Monte-Carlo finite-difference divergence (Deledalle et al. 2014) within
    3 standard errors, so SURE equals the Monte-Carlo SURE within its standard error."""
    X, Y, _, groups = _problem(seed=4)
    # a loose solver tolerance is enough: the Newton polish reaches the fixed point
    est = _estimators(groups)[name].set_params(tol=1e-8)
    alpha = 0.3 * est.alpha_max(X, Y)
    B, model = _fit(est, X, Y, alpha)
    exact = sure(X, Y, B, alpha, N_ORIENT, model, 1.0).dof
    rng = np.random.default_rng(0)
    eps, draws = 1e-6, []
    for _ in range(150):
        delta = rng.standard_normal(Y.shape)
        B_eps, _ = _fit(est, X, Y + eps * delta, alpha)
        draws.append(np.sum(delta * (X @ (B_eps - B))) / eps)
    draws = np.array(draws)
    se = draws.std(ddof=1) / np.sqrt(draws.size)
    assert abs(draws.mean() - exact) < 3 * se, (exact, draws.mean(), se)
    assert exact > 0


def test_sure_is_unbiased_for_the_risk():
    """Mean of SURE over noise draws == mean of the true risk ||X B - X B_true||^2."""
    X, _, B_true, _ = _problem(seed=5)
    est = MultiTaskLasso(n_orient=N_ORIENT, tol=1e-10)
    model = noise_model_of(est, X.shape[0])
    rng = np.random.default_rng(1)
    sigma = 0.5
    alpha = 0.3 * est.alpha_max(X, X @ B_true)
    diffs = []
    for _ in range(100):
        Y = X @ B_true + sigma * rng.standard_normal((X.shape[0], B_true.shape[1]))
        B, _ = _fit(est, X, Y, alpha)
        risk = np.sum((X @ (B - B_true)) ** 2)
        diffs.append(sure(X, Y, B, alpha, N_ORIENT, model, sigma).value - risk)
    diffs = np.array(diffs)
    assert abs(diffs.mean()) < 3 * diffs.std(ddof=1) / np.sqrt(diffs.size)


@pytest.mark.parametrize("criterion", ["sure", "cv"])
def test_search_and_estimator_api(criterion):
    # more sensors than features: no interpolation (sigma at its floor) at small alpha
    X, Y, _, groups = _problem(seed=6, n=60, p=45, n_epochs=8 if criterion == "cv" else None)
    est = SGCL(sensor_groups=groups, n_orient=N_ORIENT, alpha=criterion).fit(X, Y)
    assert np.all(np.diff(est.alphas_) < 0)
    assert est.criterion_path_.shape == est.alphas_.shape
    assert est.alpha_ in est.alphas_
    assert est.criterion_path_[est.alphas_ == est.alpha_][0] == est.criterion_path_.min()
    assert est.n_solves_ == est.alphas_.size * (2 if criterion == "cv" else 1)
    # the refinement steps lie between grid points, and the estimate is not empty
    search = est.alpha_search_
    assert search.alphas.size > search.grid_size
    assert est.active_set_.any()
    # fitted on the average of the epochs for "cv"
    Y_fit = Y.mean(axis=0) if Y.ndim == 3 else Y
    refit = SGCL(est.alpha_, sensor_groups=groups, n_orient=N_ORIENT).fit(X, Y_fit)
    np.testing.assert_allclose(refit.coef_, est.coef_, atol=1e-6 * np.abs(est.coef_).max())


def test_search_refines_between_grid_points():
    X, Y, _, _ = _problem(seed=7)
    result = search_alpha(MultiTaskLasso(n_orient=N_ORIENT), X, Y, noise_std=0.5)
    i = int(np.argmin(result.criterion_values))
    assert result.alpha == result.alphas[i]
    grid = result.alphas[:result.grid_size]
    assert result.criterion_values[i] <= result.criterion_values[:result.grid_size].min()
    assert grid.min() <= result.alpha <= grid.max()
    assert result.n_solves == result.alphas.size


def test_search_stops_once_the_criterion_rises():
    # noise std 1 and 3 on the two sensor halves: RMS sqrt(5); SURE's minimum is inside the grid
    X, Y, _, _ = _problem(seed=0, sigma=1.0)
    result = search_alpha(MultiTaskLasso(n_orient=N_ORIENT), X, Y, noise_std=np.sqrt(5),
                          patience=2)
    values = result.criterion_values[:result.grid_size]
    grads = result.hypergradients[:result.grid_size]
    i = int(np.argmin(values))
    assert result.grid_size < 10  # the path did not run to its smallest alpha
    # every point after the best is above it; the path ends at the first one whose
    # hypergradient says the criterion still rises towards smaller alphas (or after patience)
    assert np.all(values[i + 1:] > values[i])
    assert np.all(grads[i + 1:-1] >= 0)
    assert grads[-1] < 0 or result.grid_size - 1 - i > 2


def test_refinement_stop_predicts_the_quadratic_decrease():
    from neuroopt.sparse.alpha_search import _predicted_decrease

    # f(x) = c (x - x0)^2 / 2: from any point of the bracket the decrease to the minimum
    c, x0, lo, hi = 3.0, 0.4, -1.0, 2.0
    grad = lambda x: c * (x - x0)  # noqa: E731
    for best in (lo, hi, 1.3):
        expected = c * (best - x0) ** 2 / 2
        assert np.isclose(_predicted_decrease(grad(best), lo, hi, grad(lo), grad(hi)), expected)
    assert _predicted_decrease(1.0, lo, hi, 2.0, 1.0) == np.inf  # concave: keep refining
    # with a tolerance no step can meet, the refinement runs its n_refine steps (or closes)
    X, Y, _, _ = _problem(seed=0, sigma=1.0)
    loose = search_alpha(MultiTaskLasso(n_orient=N_ORIENT), X, Y, noise_std=np.sqrt(5),
                         refine_rtol=1.0)
    full = search_alpha(MultiTaskLasso(n_orient=N_ORIENT), X, Y, noise_std=np.sqrt(5),
                        refine_rtol=0)
    assert loose.alphas.size == loose.grid_size < full.alphas.size


def test_one_alpha_convention_and_errors():
    X, Y, _, groups = _problem(seed=8)
    for est in (MultiTaskLasso(), MultiTaskSqrtLasso(), SGCL(), CLaR()):
        assert est.alpha == "auto"
    assert MultiTaskLasso(n_orient=N_ORIENT).fit(X, Y).alpha_ > 0
    with pytest.raises(ValueError, match="alpha must be a float >= 0 or one of"):
        MultiTaskLasso(alpha="best").fit(X, Y)
    with pytest.raises(ValueError, match="alpha='cv'.*n_epochs"):
        MultiTaskLasso(alpha="cv", n_orient=N_ORIENT).fit(X, Y)
    with pytest.raises(ValueError, match="epochs only with alpha='cv'"):
        MultiTaskLasso(n_orient=N_ORIENT).fit(X, Y[None].repeat(2, axis=0))
    with pytest.raises(ValueError, match="CLaR has no SURE"):
        CLaR(alpha="sure").fit(X, Y)
    with pytest.raises(ValueError, match="at least 2 are needed"):
        split_epochs(Y[None])
    with pytest.raises(ValueError, match="n_reweighting must be 1"):
        noise_model_of(MultiTaskLasso(n_reweighting=3), X.shape[0])
    sqrt = MultiTaskSqrtLasso(0.1)
    sqrt.fit(X, Y)
    assert "sensor_groups" not in sqrt.get_params()
    assert not hasattr(sqrt, "sensor_groups") and hasattr(sqrt, "sigma_")


def test_clar_held_out_search():
    """CLaR's ``alpha="cv"``: a grid search whose value is the other half's prediction error."""
    from neuroopt.sparse.alpha_search import clar_held_out_folds

    X, Y, B, _ = _problem(seed=4, n_epochs=8)
    est = CLaR(alpha="cv", n_orient=N_ORIENT, sigma_min=0.1).fit(X, Y)
    result = est.alpha_search_
    assert np.all(np.isnan(result.hypergradients))  # no refinement: the grid only
    assert result.alphas.size == result.grid_size
    i = int(np.argmin(result.criterion_values))
    assert est.alpha_ == result.alphas[i]
    # the criterion at the chosen alpha, recomputed by hand from the two half-fits
    errors = []
    for fit_epochs, test_mean in clar_held_out_folds(Y, "cv"):
        half = CLaR(est.alpha_, n_orient=N_ORIENT, sigma_min=0.1, tol=1e-6).fit(X, fit_epochs)
        errors.append(np.sum((test_mean - half.predict(X)) ** 2))
    assert np.mean(errors) == pytest.approx(result.criterion_values[i], rel=1e-3)
    # the chosen model keeps the true groups 0 and 1
    assert est.active_set_[:2].all()
    with pytest.raises(ValueError, match="n_epochs >= 4"):
        CLaR(alpha="cv", n_orient=N_ORIENT).fit(X, Y[:3])
    with pytest.raises(ValueError, match="CLaR has no SURE.*alpha='cv'"):
        CLaR(alpha="sure", n_orient=N_ORIENT).fit(X, Y)


def test_sqrt_lasso_is_the_multitask_lasso_at_alpha_T_sigma():
    """The relation the pivotal default relies on: same solution at ``alpha * T * sigma_``."""
    X, Y, _, _ = _problem(seed=3)
    sqrt = MultiTaskSqrtLasso(n_orient=N_ORIENT, tol=1e-12)
    sqrt.set_params(alpha=0.3 * sqrt.alpha_max(X, Y)).fit(X, Y)
    assert sqrt.active_set_.sum() > 1
    mtl = MultiTaskLasso(sqrt.alpha_ * Y.shape[1] * sqrt.sigma_, n_orient=N_ORIENT, tol=1e-12)
    np.testing.assert_allclose(mtl.fit(X, Y).coef_, sqrt.coef_, atol=1e-6 * np.abs(sqrt.coef_).max())


@pytest.mark.parametrize("name", ["sqrt", "sgcl"])
def test_bias_corrected_pivotal_alpha(name):
    """The MxNE alpha of the choice is the threshold at the noise level; noise alone keeps out."""
    from neuroopt.sparse.alpha_search import bias_corrected_pivotal_alpha, pooled_noise_level

    rng = np.random.default_rng(1)
    n, T = 60, 60
    X = rng.standard_normal((n, 300))
    B = np.zeros((300, T))
    B[rng.choice(300, 6, replace=False)] = 0.5 * np.sin(
        np.outer(np.arange(1, 7), np.linspace(0, np.pi, T)))
    Y = X @ B + rng.standard_normal((n, T))
    est = _estimators(np.repeat([0, 1], n // 2))[name]
    res = bias_corrected_pivotal_alpha(est, X, Y, rtol=1e-4)
    # with signal the fitted level at the threshold is above the noise's: alpha is lowered
    assert res.alpha < res.threshold
    assert res.alpha * res.sigma == pytest.approx(res.threshold * res.noise_std, rel=1e-4)
    assert res.estimator.alpha == res.alpha
    assert pooled_noise_level(res.estimator) == pytest.approx(res.sigma)
    assert 2 <= res.n_fits <= 8
    if name == "sqrt":  # the same solution as the multitask Lasso at the threshold's MxNE alpha
        mtl = MultiTaskLasso(res.threshold * Y.shape[1] * res.noise_std, n_orient=N_ORIENT,
                             tol=1e-12).fit(X, Y)
        np.testing.assert_array_equal(mtl.active_set_, res.estimator.active_set_)
    # pure noise: a source in about 1 - level of the draws (the threshold is the quantile of
    # alpha_max over the correction, so the noise estimate's spread is accounted for)
    rng = np.random.default_rng(0)
    with_sources = sum(
        bias_corrected_pivotal_alpha(est, X, rng.standard_normal(Y.shape), n_draws=20,
                                     random_state=seed).estimator.active_set_.any()
        for seed in range(20))
    assert with_sources <= 3
