"""Crossnobis and the other RSA distances: rsatoolbox agreement, unbiasedness, geometry, errors."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.stats import spearmanr

from neuroopt.rsa import (
    LowRankPrecision,
    correlation,
    cov_from_residuals,
    crossnobis,
    euclidean,
    mahalanobis,
    prec_from_residuals,
    simulate_patterns,
)
from neuroopt.rsa.noise import cell_residuals


@pytest.fixture(scope="module")
def movie():
    """Small time-resolved data set with unequal cell counts (stress the fold weighting)."""
    sim = simulate_patterns(n_conditions=4, n_runs=3, n_per_cell=5, n_channels=12, n_times=6,
                            signal=0.8, noise_rank=4, random_state=3)
    keep = np.ones(sim.data.shape[0], bool)
    keep[np.flatnonzero(sim.conditions == "c01")[:2]] = False  # unbalanced cells
    return sim.data[keep], sim.conditions[keep], sim.runs[keep]


def _rsatoolbox_movie(data, conditions, runs, precision=None, method="crossnobis"):
    rsa_data = pytest.importorskip("rsatoolbox.data")
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    dataset = rsa_data.TemporalDataset(
        data, obs_descriptors={"cond": conditions, "run": runs},
        time_descriptors={"time": np.arange(data.shape[2])},
    )
    kwargs = dict(cv_descriptor="run") if method == "crossnobis" else {}
    rdms = rsa_rdm.calc_rdm_movie(dataset, method=method, descriptor="cond", noise=precision, **kwargs)
    return rdms.dissimilarities


def _rsatoolbox_precision(data, conditions, runs, method):
    noise = pytest.importorskip("rsatoolbox.data.noise")
    _, cells = np.unique(np.char.add(runs.astype(str), conditions), return_inverse=True)
    residuals, dof = cell_residuals(data, cells)
    n_times = data.shape[2]
    residuals = residuals.transpose(0, 2, 1).reshape(-1, data.shape[1])
    return noise.prec_from_residuals(residuals, dof=dof * n_times, method=method)


@pytest.mark.parametrize("noise", [None, "diag", "full", "shrinkage_eye", "shrinkage_diag"])
def test_crossnobis_equals_rsatoolbox_movie(movie, noise):
    data, conditions, runs = movie
    precision = None if noise is None else _rsatoolbox_precision(data, conditions, runs, noise)
    expected = _rsatoolbox_movie(data, conditions, runs, precision)
    got = crossnobis(data, conditions, runs, noise=noise)
    assert got.shape == expected.shape == (data.shape[2], 6)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * np.abs(expected).max())
    # a precision array gives the same result as the string option
    if precision is not None:
        np.testing.assert_allclose(crossnobis(data, conditions, runs, noise=precision), got,
                                   rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("method", ["shrinkage_diag", "shrinkage_eye", "diag"])
def test_woodbury_precision_equals_rsatoolbox(method):
    noise = pytest.importorskip("rsatoolbox.data.noise")
    rng = np.random.default_rng(0)
    residuals = rng.standard_normal((15, 40)) @ (np.eye(40) + 0.3 * rng.standard_normal((40, 40)))
    expected = noise.prec_from_residuals(residuals, dof=12, method=method)
    low_rank = prec_from_residuals(residuals, dof=12, method=method)
    assert isinstance(low_rank, LowRankPrecision)
    np.testing.assert_allclose(low_rank.toarray(), expected, rtol=0, atol=1e-10 * np.abs(expected).max())


@pytest.mark.filterwarnings("ignore:invalid value encountered in cast:RuntimeWarning")
def test_crossnobis_fmri_roi_equals_rsatoolbox():
    rsa_data = pytest.importorskip("rsatoolbox.data")
    rsa_rdm = pytest.importorskip("rsatoolbox.rdm")
    noise = pytest.importorskip("rsatoolbox.data.noise")
    sim = simulate_patterns(n_conditions=4, n_runs=3, n_per_cell=2, n_channels=300, signal=1.0,
                            random_state=1)
    _, cells = np.unique(np.char.add(sim.runs.astype(str), sim.conditions), return_inverse=True)
    residuals, dof = cell_residuals(sim.data, cells)
    precision = noise.prec_from_residuals(residuals, dof=dof, method="shrinkage_diag")
    dataset = rsa_data.Dataset(sim.data, obs_descriptors={"cond": sim.conditions, "run": sim.runs})
    expected = rsa_rdm.calc_rdm(dataset, method="crossnobis", descriptor="cond", noise=precision,
                                cv_descriptor="run").dissimilarities[0]
    got = crossnobis(sim.data, sim.conditions, sim.runs, noise="shrinkage_diag")
    assert got.shape == (6,)
    np.testing.assert_allclose(got, expected, rtol=0, atol=1e-10 * np.abs(expected).max())


def test_shrinkage_intensity_is_interior_and_covariance_matches():
    rng = np.random.default_rng(4)
    mixing = rng.standard_normal((20, 3))
    residuals = rng.standard_normal((200, 20)) + rng.standard_normal((200, 3)) @ mixing.T
    cov = cov_from_residuals(residuals, method="shrinkage_diag")
    sample = np.cov(residuals.T)
    ratio = cov[~np.eye(20, dtype=bool)] / sample[~np.eye(20, dtype=bool)]
    # correlations are shrunk by one common factor strictly between 0 and 1
    assert np.ptp(ratio) < 1e-8 and 0.0 < ratio[0] < 1.0
    np.testing.assert_allclose(np.diag(cov), np.diag(sample))


def test_other_distances_equal_rsatoolbox(movie):
    data, conditions, runs = movie
    rng = np.random.default_rng(1)
    precision = np.linalg.inv(np.cov(rng.standard_normal((100, data.shape[1])).T))
    np.testing.assert_allclose(euclidean(data, conditions),
                               _rsatoolbox_movie(data, conditions, runs, method="euclidean"), atol=1e-12)
    np.testing.assert_allclose(correlation(data, conditions),
                               _rsatoolbox_movie(data, conditions, runs, method="correlation"), atol=1e-12)
    np.testing.assert_allclose(
        mahalanobis(data, conditions, noise=precision),
        _rsatoolbox_movie(data, conditions, runs, precision, method="mahalanobis"), atol=1e-12)


def test_crossnobis_is_unbiased_for_identical_conditions():
    # pure noise: every condition has the same true pattern, true distance 0
    sim = simulate_patterns(n_conditions=5, n_runs=4, n_per_cell=6, n_channels=30, n_times=40,
                            signal=0.0, random_state=7)
    cn = crossnobis(sim.data, sim.conditions, sim.runs, noise="shrinkage_diag")
    eu = euclidean(sim.data, sim.conditions)
    standard_error = cn.std() / np.sqrt(cn.size)
    assert abs(cn.mean()) < 4 * standard_error + 1e-3
    assert (cn < 0).mean() > 0.3  # a centred estimator goes negative about half of the time
    assert eu.min() > 0 and eu.mean() > 20 * abs(cn.mean())  # the biased estimator does not


def test_crossnobis_recovers_known_geometry():
    sim = simulate_patterns(n_conditions=6, n_runs=5, n_per_cell=8, n_channels=40, n_times=20,
                            signal=1.0, noise_rank=5, random_state=2)
    peak = int(np.argmax(sim.time_course))
    cn = crossnobis(sim.data, sim.conditions, sim.runs, noise="full")
    assert spearmanr(cn[peak], sim.true_rdm).statistic > 0.9
    # noise-normalised distances estimate (u_i - u_j)' Sigma^-1 (u_i - u_j) / p
    np.testing.assert_allclose(cn[peak].mean() / sim.true_rdm.mean(), 1.0, atol=0.35)
    assert cn[peak].mean() > 10 * abs(cn[0].mean())  # signal at the peak, none at the edge


def test_crossnobis_errors_name_the_problem(movie):
    data, conditions, runs = movie
    with pytest.raises(ValueError, match="at least 2 runs"):
        crossnobis(data, conditions, np.ones_like(runs))
    missing = conditions.copy()
    missing[(runs == 2) & (conditions == "c03")] = "c02"
    with pytest.raises(ValueError, match="'c03' has no epoch in run 2"):
        crossnobis(data, missing, runs)
    bad = data.copy()
    bad[0, 0, 0] = np.nan
    with pytest.raises(ValueError, match="data contains 1 NaN"):
        crossnobis(bad, conditions, runs)
    with pytest.raises(ValueError, match=r"precision matrix of shape \(12, 12\)"):
        crossnobis(data, conditions, runs, noise=np.eye(5))
    with pytest.raises(ValueError, match="'noise' parameter: 'ledoit'"):
        crossnobis(data, conditions, runs, noise="ledoit")
    with pytest.raises(ValueError, match="one label per epoch"):
        crossnobis(data, conditions[:-1], runs)
    flat = data.copy()
    flat[:, 3, :] = 0.0
    with pytest.raises(ValueError, match="zero residual variance"):
        crossnobis(flat, conditions, runs, noise="shrinkage_diag")


@pytest.mark.parametrize("n_times", [None, 1, 3])
def test_crossnobis_leaves_input_unchanged(n_times):
    sim = simulate_patterns(n_conditions=3, n_runs=3, n_per_cell=3, n_channels=40,
                            n_times=n_times, random_state=5)
    data = sim.data.copy()
    first = crossnobis(data, sim.conditions, sim.runs, noise="shrinkage_diag")
    np.testing.assert_array_equal(data, sim.data)  # residuals are computed on a private copy
    np.testing.assert_array_equal(crossnobis(data, sim.conditions, sim.runs, noise="shrinkage_diag"), first)
    np.testing.assert_array_equal(mahalanobis(data, sim.conditions, noise="diag", runs=sim.runs),
                                  mahalanobis(sim.data, sim.conditions, noise="diag", runs=sim.runs))
    np.testing.assert_array_equal(data, sim.data)


def test_time_resolved_residuals_are_pooled_over_time():
    noise = pytest.importorskip("rsatoolbox.data.noise")
    rng = np.random.default_rng(6)
    residuals = rng.standard_normal((30, 8, 5)) + 3.0  # offset: exercises the centred second pass
    pooled = residuals.transpose(0, 2, 1).reshape(-1, 8)
    for method in ("shrinkage_diag", "shrinkage_eye", "full"):
        np.testing.assert_allclose(prec_from_residuals(residuals, dof=120, method=method),
                                   noise.prec_from_residuals(pooled, dof=120, method=method),
                                   rtol=1e-10)
    np.testing.assert_allclose(cov_from_residuals(residuals), noise.cov_from_residuals(pooled),
                               rtol=1e-10)


def test_user_residuals_and_woodbury_precision_object(movie):
    data, conditions, runs = movie
    rng = np.random.default_rng(8)
    glm_residuals = rng.standard_normal((9, data.shape[1]))  # fewer rows than channels
    precision = prec_from_residuals(glm_residuals, method="shrinkage_eye")
    assert isinstance(precision, LowRankPrecision)
    via_string = crossnobis(data, conditions, runs, noise="shrinkage_eye", residuals=glm_residuals)
    np.testing.assert_allclose(crossnobis(data, conditions, runs, noise=precision), via_string)
    np.testing.assert_allclose(crossnobis(data, conditions, runs, noise=precision.toarray()),
                               via_string, rtol=1e-10, atol=1e-14)
    with pytest.raises(ValueError, match="residuals have 5 channels"):
        crossnobis(data, conditions, runs, noise="diag", residuals=glm_residuals[:, :5])
