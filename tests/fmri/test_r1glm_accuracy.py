"""Rank-1 GLM betas against a known truth, scored as in issue 16 (unit-peak HRFs)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri.design import drift_basis, project_out, simulate_bold
from neuroopt.fmri.estimators import R1GLM
from neuroopt.fmri.hrf_basis import double_gamma_hrf

T_R = 2.0
N_SCANS = 300
N_VOXELS = 600
GRID = np.arange(0.0, 32.05, 0.1)


def _pooled_beta_r(hrf, times, betas, true_hrfs, true_betas):
    """HRF signed by its correlation with the canonical HRF, unit peak, betas scaled inversely."""
    hrf = np.stack([np.interp(GRID, times, h, right=0.0) for h in hrf.T], axis=1)
    sign = np.sign(double_gamma_hrf(GRID) @ hrf)
    scale = sign * np.abs(hrf).max(axis=0)
    return np.corrcoef((betas * scale).ravel(),
                       (true_betas * true_hrfs.max(axis=0)).ravel())[0, 1]


@pytest.fixture(scope="module")
def sim():
    rng = np.random.default_rng(0)
    onsets = np.sort(rng.choice(np.arange(0, int((N_SCANS - 1) * T_R) - 32), 72, replace=False))
    events = pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0,
                           "trial_type": rng.permutation(np.repeat([f"c{k}" for k in range(6)],
                                                                   12))})
    # double gammas with time to peak 4.2-7 s (as benchmarks/bench_r1glm.py)
    params = np.column_stack([rng.uniform(5.5, 8.0, 16), rng.uniform(0.85, 1.0, 16),
                              rng.uniform(0.05, 0.35, 16)])
    shape_index = rng.integers(0, 16, N_VOXELS)
    betas = rng.standard_normal((6, N_VOXELS))
    Y, hrfs = simulate_bold(events, T_R, N_SCANS, params, shape_index, betas, snr=0.5, ar1=0.3,
                            drift_sd=1.0, random_state=1)
    return Y, events, params, shape_index, betas, hrfs


def _fixed_hrf_betas(Y, events, params, shape_index):
    """OLS condition betas with a given HRF per voxel (one double gamma per shape index)."""
    drifts = drift_basis(N_SCANS, T_R)
    data = project_out(drifts, Y)
    out = np.zeros((6, Y.shape[1]))
    for shape in np.unique(shape_index):
        voxels = np.flatnonzero(shape_index == shape)
        design, _ = simulate_bold(events, T_R, N_SCANS, params[shape:shape + 1],
                                  np.zeros(6, int), np.eye(6), noise_sd=0.0)
        out[:, voxels] = np.linalg.lstsq(project_out(drifts, design), data[:, voxels],
                                         rcond=None)[0]
    return out


def test_default_betas_reach_the_known_hrf_accuracy(sim):
    """At SNR 0.5 the default R1GLM's pooled betas are as accurate as OLS with each voxel's
    true HRF (measured 0.933 vs 0.933) and better than the canonical HRF's (0.925)."""
    Y, events, params, shape_index, betas, hrfs = sim
    true_hrfs = hrfs[:, shape_index]
    model = R1GLM(t_r=T_R).fit(Y, events)
    r_model = _pooled_beta_r(model.hrf_, model.hrf_times_, model.betas_, true_hrfs, betas)
    r_oracle = _pooled_beta_r(true_hrfs, GRID, _fixed_hrf_betas(Y, events, params, shape_index),
                              true_hrfs, betas)
    canonical = np.array([[6.0, 1.0, 1 / 6]])
    can_hrf = np.repeat(double_gamma_hrf(GRID)[:, None], N_VOXELS, axis=1)
    r_canonical = _pooled_beta_r(
        can_hrf, GRID, _fixed_hrf_betas(Y, events, canonical, np.zeros(N_VOXELS, int)),
        true_hrfs, betas)
    assert r_model >= r_oracle - 0.005
    assert r_model > r_canonical + 0.005
