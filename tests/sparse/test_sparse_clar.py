"""CLaR: support and noise covariance under correlated noise, certificates, datafit algebra.

Every quantity below is recomputed from the epochs themselves (explicit per-epoch residuals, an
explicit square root of the residual covariance), independently of the solver and of the
``CovarianceConcomitant`` shortcuts (within-epoch covariance, shared eigenvectors).
"""

import warnings

import numpy as np
import pytest
from sklearn.linear_model import MultiTaskLasso as SklearnMTL

from neuroopt.sparse import CLaR, MultiTaskLasso, warmup
from neuroopt.sparse.penalties import L21
from neuroopt.sparse.solvers import dual_from_residual

SIGMA_MIN = 1e-3


@pytest.fixture(scope="module", autouse=True)
def _compiled():
    warmup()


def simulate(seed=0, n=40, p=100, T=20, r=30, k=3, n_interferers=4, brain=3.0, white=0.05):
    """Unit-norm gain, ``k`` sources, noise = white + interfering sources ("brain noise").

    The interferers are other columns of the gain with new random time courses in every epoch:
    the noise is correlated across sensors and looks like sources, so an estimator assuming
    white noise on the average is drawn to them. Returns the epochs, the gain, the true support,
    the interferers and the true ``S = Sigma^1/2``.
    """
    rng = np.random.default_rng(seed)
    X = rng.standard_normal((n, p))
    X /= np.linalg.norm(X, axis=0)
    perm = rng.permutation(p)
    support, interferers = np.sort(perm[:k]), perm[k:k + n_interferers]
    t = np.linspace(0, 1, T)
    W = np.zeros((p, T))
    for i, s in enumerate(support):
        W[s] = np.sin(2 * np.pi * (i + 1) * t + i)
    P = X[:, interferers]
    noise = (white * rng.standard_normal((r, n, T))
             + brain * np.einsum("ij,ljt->lit", P, rng.standard_normal((r, n_interferers, T))))
    cov = white ** 2 * np.eye(n) + brain ** 2 * P @ P.T
    evals, evecs = np.linalg.eigh(cov)
    S_true = (evecs * np.sqrt(evals)) @ evecs.T
    return X, (X @ W)[None] + noise, support, interferers, S_true


def explicit_noise(X, Y, B, sigma_min):
    """``S = ClSqrt(sum_l R_l R_l^T / (T r), sigma_min)`` from the per-epoch residuals."""
    Y = Y if Y.ndim == 3 else Y[None]
    r, _, T = Y.shape
    residuals = Y - (X @ B)[None]
    cov = sum(R_l @ R_l.T for R_l in residuals) / (T * r)
    evals, evecs = np.linalg.eigh(cov)
    s = np.maximum(np.sqrt(np.clip(evals, 0, None)), sigma_min)
    return (evecs * s) @ evecs.T, residuals


def explicit_objective(X, Y, B, alpha, S):
    """CLaR objective at (B, S), summed over the explicit epochs."""
    Y = Y if Y.ndim == 3 else Y[None]
    r, n, T = Y.shape
    S_inv = np.linalg.inv(S)
    residuals = Y - (X @ B)[None]
    fit = sum(np.trace(R_l.T @ S_inv @ R_l) for R_l in residuals) / (2 * n * T * r)
    return fit + np.trace(S) / (2 * n) + alpha * np.linalg.norm(B, axis=1).sum()


def kkt_violation(X, Y, B, alpha, sigma_min):
    """``max_g dist(-grad_g, alpha d||B_g||) / alpha`` at the S the residual implies."""
    n, T = X.shape[0], B.shape[1]
    S, _ = explicit_noise(X, Y, B, sigma_min)
    Y_mean = Y.mean(axis=0) if Y.ndim == 3 else Y
    grad = -X.T @ np.linalg.solve(S, Y_mean - X @ B) / (n * T)
    norms = np.linalg.norm(B, axis=1)
    active = norms > 0
    zero_viol = np.maximum(np.linalg.norm(grad[~active], axis=1) - alpha, 0)
    active_viol = np.linalg.norm(grad[active] + alpha * B[active] / norms[active, None], axis=1)
    return max(zero_viol.max(initial=0), active_viol.max(initial=0)) / alpha


def test_clar_recovers_support_and_noise_where_white_mtl_fails():
    X, Y, support, interferers, S_true = simulate(seed=0)
    est = CLaR(sigma_min=SIGMA_MIN, tol=1e-8)
    est.set_params(alpha=0.5 * est.alpha_max(X, Y)).fit(X, Y)
    assert set(np.flatnonzero(est.active_set_)) == set(support)
    S = est.noise_cov_
    np.testing.assert_allclose(S, S.T, atol=1e-12)
    assert np.linalg.eigvalsh(S).min() >= SIGMA_MIN * (1 - 1e-9)
    # penalised estimate: the shrinkage bias leaves ~5% error; 10% is the tolerance
    assert np.linalg.norm(S - S_true) / np.linalg.norm(S_true) < 0.1
    # the white-noise MultiTaskLasso on the average never finds the support alone: whenever
    # its active set holds the true sources it also holds interferers
    Y_mean = Y.mean(axis=0)
    mtl = MultiTaskLasso(tol=1e-8)
    amax = mtl.alpha_max(X, Y_mean)
    found_support = False
    for rho in (0.9, 0.8, 0.6, 0.5, 0.4, 0.3, 0.2, 0.1):
        active = set(np.flatnonzero(mtl.set_params(alpha=rho * amax).fit(X, Y_mean).active_set_))
        assert active != set(support)
        if set(support) <= active:
            found_support = True
            assert active & set(interferers)
    assert found_support


@pytest.mark.parametrize("mode", ["epochs", "no_repetitions"])
def test_clar_gap_kkt_and_objective(mode):
    if mode == "epochs":
        X, Y, _, _, _ = simulate(seed=1, n=30, p=60, T=10, r=12)
        sigma_min = SIGMA_MIN
    else:
        # the multivariate square-root Lasso; with p > n it can fit the data exactly, and a tiny
        # sigma_min then makes the metric S^-1 (and the solve) very ill-conditioned
        X, Y, _, _, _ = simulate(seed=1, n=20, p=50, T=60, r=1, brain=0.3, white=0.3)
        Y, sigma_min = Y[0], 0.1
    tol = 1e-10
    est = CLaR(sigma_min=sigma_min, tol=tol, max_iter=500)
    est.set_params(alpha=0.3 * est.alpha_max(X, Y)).fit(X, Y)
    assert est.converged_
    assert 0 <= est.dual_gap_ <= tol * est.objective_at_zero_
    B = est.coef_.T
    assert np.any(B)
    assert kkt_violation(X, Y, B, est.alpha_, sigma_min) < 1e-4
    # the fitted S is the closed-form noise update of the final residual, and the reported
    # objective is the explicit objective at (B, S)
    S, _ = explicit_noise(X, Y, B, sigma_min)
    np.testing.assert_allclose(est.noise_cov_, S, atol=1e-10 * np.abs(S).max())
    assert est.primal_ == pytest.approx(explicit_objective(X, Y, B, est.alpha_, S), rel=1e-10)


def test_clar_matches_alternating_reference_solve():
    """Independent reference: scikit-learn MultiTaskLasso on S^-1/2-whitened data, alternated
    with the closed-form S update until the objective stalls."""
    X, Y, _, _, _ = simulate(seed=2, n=30, p=60, T=10, r=15)
    est = CLaR(sigma_min=SIGMA_MIN, tol=1e-12, max_iter=500)
    alpha = 0.3 * est.alpha_max(X, Y)
    est.set_params(alpha=alpha).fit(X, Y)
    T = Y.shape[2]
    Y_mean = Y.mean(axis=0)
    B = np.zeros((X.shape[1], T))
    ref = SklearnMTL(alpha=alpha * T, fit_intercept=False, tol=1e-12, max_iter=100_000,
                     warm_start=True)
    previous = np.inf
    for _ in range(200):
        S, _ = explicit_noise(X, Y, B, SIGMA_MIN)
        evals, evecs = np.linalg.eigh(S)
        whitener = (evecs / np.sqrt(evals)) @ evecs.T
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            B = ref.fit(whitener @ X, whitener @ Y_mean).coef_.T
        S, _ = explicit_noise(X, Y, B, SIGMA_MIN)
        obj = explicit_objective(X, Y, B, alpha, S)
        if previous - obj < 1e-14:
            break
        previous = obj
    assert est.primal_ <= obj + 1e-12
    assert est.primal_ == pytest.approx(obj, rel=1e-8)
    np.testing.assert_allclose(est.coef_, B.T, atol=1e-5 * np.abs(B).max())


@pytest.mark.parametrize("n_epochs", [1, 6])
def test_covariance_datafit_against_explicit_epochs(n_epochs):
    """Regression test of the datafit shortcuts: value, noise update and dual value (computed
    from the eigenvectors of the residual covariance) against explicit per-epoch formulas."""
    rng = np.random.default_rng(3)
    n, p, T = 12, 20, 15
    X = rng.standard_normal((n, p))
    Y = rng.standard_normal((n_epochs, n, T)) + (X[:, :2] @ rng.standard_normal((2, T)))[None]
    alpha = 0.02
    datafit = CLaR(alpha, sigma_min=0.05)._prepare(X, Y if n_epochs > 1 else Y[0])[-1]
    Y_mean = Y.mean(axis=0)
    datafit.initialize(Y_mean)
    penalty = L21(alpha)
    for trial in range(5):
        B = rng.standard_normal((p, T)) * (rng.random((p, 1)) < 0.3)
        R = Y_mean - X @ B
        S, _ = explicit_noise(X, Y, B, 0.05)
        # the value is the objective minimised over S, and the closed-form S is that minimiser
        value = datafit.value(R) + penalty.value(B)
        assert value == pytest.approx(explicit_objective(X, Y, B, alpha, S), rel=1e-10)
        datafit.update_noise(R)
        np.testing.assert_allclose(datafit.noise_summary()["noise_cov"], S, atol=1e-10)
        for _ in range(3):
            E = rng.standard_normal((n, n)) * 0.01
            S_other = S + E @ E.T  # still >= sigma_min Id
            assert explicit_objective(X, Y, B, alpha, S_other) >= value - 1e-12
        # dual value at the stacked point Theta_l = S^-1 R_l / (n T r scale), explicitly
        # (R_cand need not be the current residual: the solver also evaluates extrapolations)
        R_cand = R if trial % 2 else R + 0.1 * rng.standard_normal(R.shape)
        dual, _, scale = dual_from_residual(X, R_cand, datafit, penalty)
        # epoch l's residual is (Y^l - Ybar) + R_cand: only the mean residual depends on B
        res_c = (Y - Y_mean[None]) + R_cand[None]
        cov = sum(R_l @ R_l.T for R_l in res_c) / (T * n_epochs)
        evals, evecs = np.linalg.eigh(cov)
        S_c = (evecs * np.maximum(np.sqrt(np.clip(evals, 0, None)), 0.05)) @ evecs.T
        theta = np.stack([np.linalg.solve(S_c, R_l) for R_l in res_c]) / (
            n * T * n_epochs * scale)
        explicit_dual = (float(np.vdot(theta, Y)) + 0.05 / 2
                         - 0.05 * n * T * n_epochs * float(np.vdot(theta, theta)) / 2)
        assert dual == pytest.approx(explicit_dual, rel=1e-10, abs=1e-13)
        # the stacked point is feasible: the rescaled sum over epochs meets the L2,1 constraint
        # and its spectral norm is within the domain of the conjugate
        assert np.linalg.norm(X.T @ theta.sum(axis=0), axis=1).max() <= alpha * (1 + 1e-10)
        stacked = theta.transpose(1, 0, 2).reshape(n, -1)
        assert np.linalg.norm(stacked, 2) <= (1 + 1e-10) / (n * np.sqrt(T * n_epochs))
        # weak duality
        assert dual <= value + 1e-12


def test_covariance_datafit_cache_sees_in_place_changes():
    """The eigendecomposition cache must not return a stale noise for a residual array that was
    modified in place (it is keyed by identity)."""
    rng = np.random.default_rng(4)
    X = rng.standard_normal((10, 15))
    Y = rng.standard_normal((5, 10, 8))
    datafit = CLaR(0.1, sigma_min=0.01)._prepare(X, Y)[-1]
    datafit.initialize(Y.mean(axis=0))
    R = Y.mean(axis=0).copy()
    first = datafit.value(R)
    R *= 0.5
    fresh = CLaR(0.1, sigma_min=0.01)._prepare(X, Y)[-1]
    fresh.initialize(Y.mean(axis=0))
    assert datafit.value(R) == pytest.approx(fresh.value(R.copy()), rel=1e-12)
    assert datafit.value(R) != pytest.approx(first, rel=1e-6)
