"""Rank-1 GLM: empirical HRF prior, AR(1) products and the solver's initialisation."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri._r1glm import (
    ar1_column_products,
    ar1_products,
    leading_hrf_direction,
    normal_means_em,
)
from neuroopt.fmri.design import simulate_bold
from neuroopt.fmri.estimators import R1GLM
from neuroopt.fmri.hrf_basis import HRFBasis

T_R = 2.0
N_SCANS = 240


def _whitening(n_scans, run_starts, rho):
    """Explicit AR(1) whitening matrix applied within each run."""
    w = np.zeros((n_scans, n_scans))
    for start, stop in zip(run_starts[:-1], run_starts[1:]):
        w[start, start] = np.sqrt(1 - rho ** 2)
        for t in range(start + 1, stop):
            w[t, t] = 1.0
            w[t, t - 1] = -rho
    return w


def test_ar1_products_match_explicit_whitening():
    rng = np.random.default_rng(0)
    run_starts = np.array([0, 30, 31, 70])
    left, right = rng.standard_normal((70, 4)), rng.standard_normal((70, 5))
    rho = 0.37
    whiten = _whitening(70, run_starts, rho)
    terms = ar1_products(left, right, run_starts, True)
    combined = terms[0] - rho * terms[1] + rho ** 2 * terms[2]
    np.testing.assert_allclose(combined, (whiten @ left).T @ (whiten @ right), atol=1e-10)
    column_terms = ar1_column_products(right, run_starts, True)
    np.testing.assert_allclose(
        column_terms[0] - rho * column_terms[1] + rho ** 2 * column_terms[2],
        np.sum((whiten @ right) ** 2, axis=0), rtol=1e-10)


def test_leading_direction_is_rank1_svd():
    rng = np.random.default_rng(1)
    nb, nc, n = 3, 5, 40
    coef = rng.standard_normal((nc * nb, n))
    coef[:, 0] = 0.0  # empty voxel: zero direction
    out = leading_hrf_direction(coef, nb, np.array([1.0, 0.0, 0.0]), 200)
    assert np.all(out[:, 0] == 0)
    for v in range(1, n):
        _, _, vt = np.linalg.svd(coef[:, v].reshape(nc, nb))
        assert abs(out[:, v] @ vt[0]) == pytest.approx(1.0, abs=1e-6)


def test_normal_means_em_recovers_population():
    rng = np.random.default_rng(2)
    mean = np.array([-0.2, 0.1])
    cov = np.array([[0.08, 0.02], [0.02, 0.02]])
    n = 4000
    theta = rng.multivariate_normal(mean, cov, n)
    scales = rng.uniform(0.01, 0.2, n)  # heteroscedastic noise, known to the estimator
    noise_cov = scales[:, None, None] * np.array([[1.0, 0.3], [0.3, 0.5]])[None]
    estimates = theta + np.einsum("nij,nj->ni", np.linalg.cholesky(noise_cov),
                                  rng.standard_normal((n, 2)))
    est_mean, est_cov = normal_means_em(estimates, noise_cov)
    np.testing.assert_allclose(est_mean, mean, atol=0.02)
    np.testing.assert_allclose(est_cov, cov, atol=0.01)
    # the naive covariance of the estimates is inflated by the noise
    assert np.cov(estimates.T)[0, 0] > cov[0, 0] + 0.02


@pytest.fixture(scope="module")
def population():
    """Voxels whose HRFs peak later than the canonical one on average."""
    rng = np.random.default_rng(3)
    onsets = np.sort(rng.choice(np.arange(0, int((N_SCANS - 1) * T_R) - 32), 60, replace=False))
    events = pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0,
                           "trial_type": rng.permutation(np.repeat(["a", "b", "c"], 20))})
    params = np.column_stack([rng.uniform(6.5, 8.0, 12), np.ones(12), np.full(12, 1 / 6)])
    n_voxels = 400
    shape_index = rng.integers(0, 12, n_voxels)
    betas = rng.standard_normal((3, n_voxels)) + 1.0
    Y, hrfs = simulate_bold(events, T_R, N_SCANS, params, shape_index, betas, snr=0.7, ar1=0.2,
                            random_state=3)
    return Y, events, hrfs[:, shape_index]


def test_auto_prior_follows_the_data(population):
    Y, events, true_hrfs = population
    auto = R1GLM(t_r=T_R).fit(Y, events)
    canonical = R1GLM(t_r=T_R, hrf_shrinkage=3.0).fit(Y, events)
    assert canonical.hrf_prior_mean_ is None
    # the prior mean is the shape of the population: later peaks than the canonical HRF,
    # i.e. a negative temporal-derivative ratio
    basis = HRFBasis("3hrf", t_r=T_R)
    grid = np.arange(0, 32.05, 0.1)
    true_coef = basis.matrix.T @ np.stack([np.interp(basis.times, grid, h)
                                           for h in true_hrfs.T], axis=1)
    true_ratios = true_coef[1:] / true_coef[0]
    np.testing.assert_allclose(auto.hrf_prior_mean_, true_ratios.mean(axis=1), atol=0.05)
    assert np.all(np.linalg.eigvalsh(auto.hrf_prior_cov_) > 0)
    # and fits the HRFs better than the prior centred on the canonical HRF
    def correlation(model):
        est = np.stack([np.interp(grid, model.hrf_times_, h) for h in model.hrf_.T], axis=1)
        return np.mean([np.corrcoef(a, b)[0, 1] for a, b in zip(est.T, true_hrfs.T)])

    assert correlation(auto) > correlation(canonical)
    peak_true = np.array([grid[np.argmax(h)] for h in true_hrfs.T])
    assert (np.median(np.abs(auto.hrf_peak_time_ - peak_true))
            < np.median(np.abs(canonical.hrf_peak_time_ - peak_true)))


def test_auto_prior_falls_back_with_few_voxels(population):
    Y, events, _ = population
    few = R1GLM(t_r=T_R).fit(Y[:, :10], events)
    fixed = R1GLM(t_r=T_R, hrf_shrinkage=3.0).fit(Y[:, :10], events)
    assert few.hrf_prior_mean_ is None
    np.testing.assert_allclose(few.hrf_coef_, fixed.hrf_coef_)
    with pytest.raises(ValueError, match="hrf_shrinkage"):
        R1GLM(t_r=T_R, hrf_shrinkage="canonical").fit(Y[:, :10], events)

