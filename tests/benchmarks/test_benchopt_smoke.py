"""The benchopt benchmarks keep working: a short run of each on its simulated dataset.

Two solvers, a few tolerances, seconds; the real-data runs are documented in README
("Benchmarks"). The objective's duality gap is computed by the benchmark's own numpy code, so
these runs also check neuroopt's tolerance against an independent certificate.
"""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]

pytest.importorskip("benchopt", reason="benchopt is installed by the test extra")


def _benchopt_run(tmp_path, benchmark, *args):
    out = tmp_path / f"{benchmark}.parquet"
    cmd = [sys.executable, "-m", "benchopt", "run", str(REPO / "benchmarks" / benchmark), *args,
           "--no-plot", "--no-display", "--timeout", "120", "--output", str(out)]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=600, cwd=tmp_path)
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return pd.read_parquet(out)


def _check_certified(df, solver):
    runs = df[df["solver_name"] == solver]
    assert len(runs) >= 3, f"{solver}: only {len(runs)} points on the curve"
    # a duality gap is never negative (up to rounding), and neuroopt's tol is a relative gap
    assert (runs["objective_duality_gap"] >= -1e-10 * runs["objective_value_at_zero"]).all()
    return runs


def test_multitask_lasso_benchmark_runs(tmp_path):
    df = _benchopt_run(tmp_path, "benchopt_multitask_lasso", "-d", "Simulated[n_orient=1]",
                       "-s", "neuroopt", "-s", "scikit-learn", "-o", "*[reg=0.2]", "-n", "12")
    assert set(df["solver_name"]) == {"neuroopt", "scikit-learn"}
    ours = _check_certified(df, "neuroopt")
    assert (ours["objective_relative_duality_gap"] <= ours["stop_val"] * (1 + 1e-9)).all()
    sklearn = _check_certified(df, "scikit-learn")
    # both converge to the same optimum
    best = min(ours["objective_value"].min(), sklearn["objective_value"].min())
    p0 = ours["objective_value_at_zero"].iloc[0]
    assert (ours["objective_value"].min() - best) / p0 < 1e-8
    assert (sklearn["objective_value"].min() - best) / p0 < 1e-4


def test_concomitant_benchmark_runs(tmp_path):
    df = _benchopt_run(tmp_path, "benchopt_concomitant", "-d", "Simulated", "-s", "neuroopt",
                       "-o", "*[reg=0.2,noise_groups=types]", "-n", "12")
    ours = _check_certified(df, "neuroopt")
    assert (ours["objective_relative_duality_gap"] <= ours["stop_val"] * (1 + 1e-9)).all()
    assert np.isfinite(ours["objective_value"]).all()
    assert ours["objective_n_active"].iloc[-1] > 0



def test_r1glm_benchmark_runs(tmp_path):
    """neuroopt's rank-1 fit beats the canonical GLM's fit of the same data (a rank-1 model with the
    canonical HRF is one of its candidates), at every tolerance."""
    df = _benchopt_run(tmp_path, "benchopt_r1glm", "-d", "Simulated", "-s", "neuroopt", "-n", "4")
    ours = df[df["solver_name"] == "neuroopt"]
    assert len(ours) >= 3
    assert (ours["objective_value"] < ours["objective_canonical_glm_value"]).all()
    assert (ours["objective_value"] > 0.1).all()  # SNR 1: the noise is not explained
