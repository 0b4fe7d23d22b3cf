"""Bias-corrected AR(1) coefficients of GLM residuals (neuroopt.fmri.ar1)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from neuroopt.fmri.ar1 import RHO_GRID, ar1_bias_map, correct_ar1
from neuroopt.fmri.design import check_events, condition_design, drift_basis, project_out
from neuroopt.fmri.hrf_basis import HRFBasis


def test_without_design_the_bias_is_the_missing_lag_product():
    """No regressor: E[sum_t e_t e_(t-1)] / E[sum_t e_t^2] = rho (n - 1) / n exactly."""
    n = 50
    raw = ar1_bias_map([np.zeros((n, 0))], np.zeros((n, 0)), [0, n])
    np.testing.assert_allclose(raw, RHO_GRID * (n - 1) / n, rtol=1e-10, atol=1e-12)


def test_corrected_coefficient_of_simulated_ar1_residuals():
    """Residuals of 2 runs x 150 scans (cosine drifts + 3 conditions x 3 basis functions) of AR(1)
    noise: the raw estimate is biased low by about 0.07, the corrected one is not."""
    rng = np.random.default_rng(0)
    t_r, n, rho, n_series = 2.0, 150, 0.4, 3000
    basis = HRFBasis("3hrf", t_r=t_r)
    drifts, designs, residuals = [], [], []
    for _ in range(2):
        onsets = np.arange(5.0, n * t_r - 30, 9.0)
        events = pd.DataFrame({"onset": onsets, "duration": 1.0,
                               "trial_type": np.resize(["a", "b", "c"], onsets.size)})
        q = drift_basis(n, t_r)
        drifts.append(q)
        events = check_events(events, n, t_r)
        designs.append(project_out(q, condition_design(events, basis, n, t_r, ["a", "b", "c"])))
        noise = np.empty((n, n_series))
        noise[0] = rng.standard_normal(n_series)
        for t in range(1, n):
            noise[t] = rho * noise[t - 1] + np.sqrt(1 - rho ** 2) * rng.standard_normal(n_series)
        residuals.append(project_out(q, noise))
    design = np.concatenate(designs)
    data = np.concatenate(residuals)
    data -= design @ np.linalg.lstsq(design, data, rcond=None)[0]
    lag = sum((r[1:] * r[:-1]).sum(0) for r in np.split(data, 2))
    raw = lag / (data ** 2).sum(0)
    bias_map = ar1_bias_map(drifts, design, [0, n, 2 * n])
    expected_raw = np.interp(rho, RHO_GRID, bias_map)
    corrected = correct_ar1(raw, bias_map)
    print(f"rho {rho}: raw mean {raw.mean():.4f} (expected {expected_raw:.4f}), "
          f"corrected mean {corrected.mean():.4f}")
    assert rho - raw.mean() > 0.05  # the bias being corrected
    assert abs(raw.mean() - expected_raw) < 0.01
    assert abs(corrected.mean() - rho) < 0.01
    assert np.all(np.diff(bias_map) > 0)
