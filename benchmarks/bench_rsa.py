"""Benchmark: crossnobis RDMs (with noise normalisation) against rsatoolbox, same run.

Usage: ``python benchmarks/bench_rsa.py [--quick]``

Cases
-----
* M/EEG: time-resolved crossnobis of simulated epochs (300 x 306 x 200, 6 conditions, 5 runs),
  shrinkage_diag noise from the (run, condition) residuals pooled over time. rsatoolbox:
  ``prec_from_residuals`` + ``calc_rdm_movie(method="crossnobis", cv_descriptor="run")``.
* fMRI ROI: crossnobis of 100 trial patterns x 5000 voxels (5 conditions, 5 runs) with
  shrinkage_diag noise from the trial residuals. rsatoolbox: ``prec_from_residuals`` +
  ``calc_rdm(method="crossnobis")``.

Each method runs in its own subprocess: best wall time of several repeats, then the peak of
traced allocations (``tracemalloc``, numpy buffers included) and the growth of the process
maximum RSS during the call.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
import tracemalloc
from pathlib import Path

import numpy as np

from neuroopt.utils import pin_blas_threads

pin_blas_threads(1)

CASES = {
    "meeg": dict(n_conditions=6, n_runs=5, n_per_cell=10, n_channels=306, n_times=200),
    "fmri": dict(n_conditions=5, n_runs=5, n_per_cell=4, n_channels=5000, n_times=None),
}
QUICK = {
    "meeg": dict(n_conditions=6, n_runs=5, n_per_cell=4, n_channels=64, n_times=60),
    "fmri": dict(n_conditions=5, n_runs=5, n_per_cell=4, n_channels=1000, n_times=None),
}


def _run_neuroopt(data, conditions, runs):
    from neuroopt.rsa import crossnobis

    return crossnobis(data, conditions, runs, noise="shrinkage_diag")


def _run_rsatoolbox(data, conditions, runs):
    from rsatoolbox.data import Dataset, TemporalDataset
    from rsatoolbox.data.noise import prec_from_residuals
    from rsatoolbox.rdm import calc_rdm, calc_rdm_movie

    from neuroopt.rsa.noise import cell_residuals

    _, cells = np.unique(np.char.add(runs.astype(str), conditions), return_inverse=True)
    residuals, dof = cell_residuals(data, cells)
    if data.ndim == 3:
        n_times = data.shape[2]
        residuals = residuals.transpose(0, 2, 1).reshape(-1, data.shape[1])
        precision = prec_from_residuals(residuals, dof=dof * n_times, method="shrinkage_diag")
        dataset = TemporalDataset(
            data, obs_descriptors={"cond": conditions, "run": runs},
            time_descriptors={"time": np.arange(n_times)},
        )
        rdms = calc_rdm_movie(dataset, method="crossnobis", descriptor="cond", noise=precision,
                              cv_descriptor="run")
        return rdms.dissimilarities
    precision = prec_from_residuals(residuals, dof=dof, method="shrinkage_diag")
    dataset = Dataset(data, obs_descriptors={"cond": conditions, "run": runs})
    rdms = calc_rdm(dataset, method="crossnobis", descriptor="cond", noise=precision,
                    cv_descriptor="run")
    return rdms.dissimilarities[0]


METHODS = {"neuroopt": _run_neuroopt, "rsatoolbox": _run_rsatoolbox}


def worker(method, data_path, out_path, repeats):
    """Time one method on saved data; print a JSON line with time and memory."""
    with np.load(data_path) as npz:
        data, conditions, runs = npz["data"], npz["conditions"], npz["runs"]
    func = METHODS[method]
    # first call on tiny data: numba compilation (or loading its cache), timed apart
    tiny = data[:, :8, :3] if data.ndim == 3 else data[:, :8]
    start = time.perf_counter()
    func(np.ascontiguousarray(tiny), conditions, runs)
    warmup = time.perf_counter() - start
    rss_before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    best = np.inf
    for _ in range(repeats):
        start = time.perf_counter()
        result = func(data, conditions, runs)
        best = min(best, time.perf_counter() - start)
    rss_after = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    tracemalloc.start()
    func(data, conditions, runs)
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    np.save(out_path, np.asarray(result))
    print(json.dumps(dict(time=best, peak_mb=peak / 1e6, rss_growth_mb=(rss_after - rss_before) / 1e3,
                          warmup=warmup)))


def _spawn(method, data_path, out_path, repeats):
    cmd = [sys.executable, __file__, "--worker", method, str(data_path), str(out_path), str(repeats)]
    proc = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if proc.returncode != 0:
        raise RuntimeError(f"{method} worker failed:\n{proc.stderr[-3000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])




def main(quick=False):
    from neuroopt.rsa import simulate_patterns

    cases = QUICK if quick else CASES
    rows, warmups = [], {}
    with tempfile.TemporaryDirectory() as tmp:
        for case, params in cases.items():
            sim = simulate_patterns(random_state=0, signal=0.5, **params)
            data_path = Path(tmp) / f"{case}.npz"
            np.savez(data_path, data=sim.data, conditions=sim.conditions, runs=sim.runs)
            repeats = {"neuroopt": 3 if quick else 5, "rsatoolbox": 1}
            stats, results = {}, {}
            for method in ("neuroopt", "rsatoolbox"):
                out_path = Path(tmp) / f"{case}_{method}.npy"
                stats[method] = _spawn(method, data_path, out_path, repeats[method])
                results[method] = np.load(out_path)
                warmups[f"{case} {method}"] = stats[method]["warmup"]
            diff = np.max(np.abs(results["neuroopt"] - results["rsatoolbox"]))
            rel = diff / np.max(np.abs(results["rsatoolbox"]))
            shape = "x".join(str(s) for s in sim.data.shape)
            for method in ("rsatoolbox", "neuroopt"):
                s = stats[method]
                rows.append(
                    f"| {case} {shape} | {method} | {s['time']:.3f} | "
                    f"{stats['rsatoolbox']['time'] / s['time']:.1f}x | {s['peak_mb']:.1f} | "
                    f"{s['rss_growth_mb']:.1f} | "
                    f"{stats['rsatoolbox']['peak_mb'] / s['peak_mb']:.1f}x | "
                    f"{'' if method == 'rsatoolbox' else f'{rel:.1e}'} |"
                )
    print("| case (epochs x channels[x times]) | method | time (s, best) | speed-up vs rsatoolbox "
          "| traced peak (MB) | max-RSS growth (MB) | memory ratio | max rel. diff |")
    print("|---|---|---|---|---|---|---|---|")
    print("\n".join(rows))
    print("\nFirst call on tiny data (numba compile or cache load, excluded from the times above): "
          + ", ".join(f"{k} {v:.2f} s" for k, v in warmups.items()))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "--worker":
        worker(sys.argv[2], sys.argv[3], sys.argv[4], int(sys.argv[5]))
    else:
        parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
        parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
        main(parser.parse_args().quick)
