"""Benchmark of the rank-1 GLM (R1GLM, R1GLMS) against nilearn and hrf-estimation 1.1.

Simulated voxels with known per-voxel HRFs (double gammas with time to peak 4-7 s, varying
dispersion and undershoot), an event-related design (6 conditions x 20 trials, integer-second
onsets, trial amplitudes 1 +- 0.4), AR(1) noise (rho 0.3) plus slow drifts, at several SNRs
(each voxel's signal sd / noise sd). 10 000 voxels, TR 2 s, 400 scans.

Accuracy is scored as in issue 16, identically for every method: each estimated HRF is signed
by its correlation with the canonical HRF and scaled to unit peak, its betas scaled inversely;
the true betas are expressed for unit-peak true HRFs. Reported: mean HRF correlation and the
pooled correlation of all (condition, voxel) betas, over all voxels and over the first
``n_ref`` voxels (the ones the reference is run on).

Anchors, run in this same script:
- nilearn ``run_glm`` (AR(1), nilearn's default) with the 'spm', 'spm + derivative + dispersion'
  and 'fir' designs, and canonical OLS. The HRF of a multi-function GLM is the rank-1 SVD of its
  (basis x condition) coefficients; its betas are the canonical coefficients ('spm + ...') or the
  rank-1 projection ('fir').
- hrf-estimation 1.1 (the reference implementation of the method, L-BFGS-B per voxel with the
  derivative coefficients bounded to [-1, 1] x the canonical one), run in its own interpreter
  on saved .npy inputs: ``HRF_ESTIMATION_PYTHON`` (default /tmp/venv-hrf/bin/python); skipped
  with a message when missing. It needs numpy < 1.24 (``np.float``); built with::

      python3 -m venv /tmp/venv-hrf
      /tmp/venv-hrf/bin/pip install "numpy==1.23.5" "scipy==1.10.1" joblib setuptools wheel
      /tmp/venv-hrf/bin/pip install --no-build-isolation --no-deps hrf_estimation==1.1

Usage: python benchmarks/bench_r1glm.py [--quick] [--only accuracy size fir r1glms]
       [--snrs 0.5 1 2] [--inactive 0.5]
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
import warnings
from pathlib import Path

from neuroopt.utils import pin_blas_threads

pin_blas_threads(1)

import numba  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neuroopt.fmri._r1glm import hrf_peak_fwhm  # noqa: E402
from neuroopt.fmri.design import drift_basis, simulate_bold  # noqa: E402
from neuroopt.fmri.estimators import R1GLM, R1GLMS  # noqa: E402
from neuroopt.fmri.hrf_basis import double_gamma_hrf  # noqa: E402

GRID = np.arange(0.0, 32.05, 0.1)
SDD = "spm + derivative + dispersion"
SECTIONS = ("accuracy", "size", "fir", "r1glms")
REF_PYTHON = os.environ.get("HRF_ESTIMATION_PYTHON", "/tmp/venv-hrf/bin/python")


def make_events(t_r, n_scans, n_conditions=6, n_trials=20, seed=0):
    rng = np.random.default_rng(seed)
    last = int((n_scans - 1) * t_r - 32)
    onsets = np.sort(rng.choice(np.arange(0, last), n_conditions * n_trials, replace=False))
    labels = rng.permutation(np.repeat([f"c{k}" for k in range(n_conditions)], n_trials))
    amplitude = np.clip(1.0 + 0.4 * rng.standard_normal(onsets.size), 0.1, None)
    return pd.DataFrame({"onset": onsets.astype(float), "duration": 0.0, "trial_type": labels,
                         "amplitude": amplitude})


def hrf_library(n_shapes=64, seed=0):
    """Double-gamma parameters with time to peak in [4, 7] s."""
    rng = np.random.default_rng(seed)
    params = []
    while len(params) < n_shapes:
        delay, dispersion = rng.uniform(5, 8.5), rng.uniform(0.8, 1.2)
        ratio = rng.uniform(0.05, 0.35)
        ttp = (delay - 1) * dispersion
        if 4.0 <= ttp <= 7.0:
            params.append((delay, dispersion, ratio))
    return np.array(params)


def simulate(t_r, n_scans, n_voxels, snr, seed=0, inactive=0.0):
    """Simulated voxels; a random fraction ``inactive`` of them has no response (betas 0) and
    the noise level of an active voxel (the active voxels' median noise sd)."""
    rng = np.random.default_rng(seed + 1)
    events = make_events(t_r, n_scans, seed=seed)
    params = hrf_library(seed=seed)
    shape_index = rng.integers(0, len(params), n_voxels)
    betas = rng.standard_normal((6, n_voxels))
    noise = dict(snr=snr)
    if inactive > 0:
        null = np.random.default_rng(seed + 2).random(n_voxels) < inactive
        signal, _ = simulate_bold(events, t_r, n_scans, params, shape_index, betas,
                                  noise_sd=0.0)
        noise_sd = signal.std(axis=0) / snr
        noise_sd[null] = np.median(noise_sd[~null])
        betas[:, null] = 0.0
        noise = dict(noise_sd=noise_sd)
    Y, hrfs = simulate_bold(events, t_r, n_scans, params, shape_index, betas, ar1=0.3,
                            drift_sd=1.0, random_state=seed, **noise)
    trial_betas = betas[events["trial_type"].map(
        {c: k for k, c in enumerate(sorted(events["trial_type"].unique()))}).to_numpy()] \
        * events["amplitude"].to_numpy()[:, None]
    return dict(Y=Y, events=events, betas=betas, hrfs=hrfs[:, shape_index],
                trial_betas=trial_betas, params=params, shape_index=shape_index)


def oracle_fit(sim, t_r):
    """OLS condition betas with each voxel's true HRF (trial amplitudes unknown, as for the
    estimators): the accuracy a perfect HRF estimate would give. Returns (hrf, times, betas)."""
    from neuroopt.fmri.design import project_out

    Y, events = sim["Y"], sim["events"].drop(columns="amplitude")
    n_scans, n_conditions = Y.shape[0], sim["betas"].shape[0]
    drifts = drift_basis(n_scans, t_r)
    data = project_out(drifts, Y)
    betas = np.zeros(sim["betas"].shape)
    for shape in np.unique(sim["shape_index"]):
        voxels = np.flatnonzero(sim["shape_index"] == shape)
        design, _ = simulate_bold(events, t_r, n_scans, sim["params"][shape:shape + 1],
                                  np.zeros(n_conditions, int), np.eye(n_conditions),
                                  noise_sd=0.0)
        betas[:, voxels] = np.linalg.lstsq(project_out(drifts, design), data[:, voxels],
                                           rcond=None)[0]
    return sim["hrfs"], GRID, betas


def scores(hrf_est, times, betas_est, sim):
    """HRF r, |time-to-peak error| and pooled beta r against the simulation truth."""
    hrf = np.stack([np.interp(GRID, times, h, right=0.0) for h in hrf_est.T], axis=1)
    truth = sim["hrfs"]
    hc = hrf - hrf.mean(0)
    tc = truth - truth.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (hc * tc).sum(0) / np.sqrt((hc ** 2).sum(0) * (tc ** 2).sum(0))
    # same read-out for both: peak on the 0.1 s grid refined by a parabola
    ttp_est, _ = hrf_peak_fwhm(np.ascontiguousarray(hrf), np.eye(GRID.size), GRID)
    ttp_true, _ = hrf_peak_fwhm(np.ascontiguousarray(truth), np.eye(GRID.size), GRID)
    beta_r = np.corrcoef(betas_est.ravel(), sim["betas"].ravel())[0, 1]
    return float(np.nanmean(r)), float(np.nanmedian(np.abs(ttp_est - ttp_true))), float(beta_r)


def peak_scaled_scores(hrf_est, times, betas_est, hrfs_true, betas_true):
    """Issue-16 scoring: mean HRF r (active voxels) and pooled beta r (all voxels and conditions)
    with unit-peak HRFs on both sides.

    Each estimated HRF is signed by its correlation with the canonical HRF and scaled to unit
    peak, its betas scaled inversely; the true (unit-norm) HRFs are scaled to unit peak, their
    betas inversely.
    """
    hrf = np.stack([np.interp(GRID, times, h, right=0.0) for h in hrf_est.T], axis=1)
    sign = np.sign(double_gamma_hrf(GRID) @ hrf)
    sign[sign == 0] = 1.0
    peak = np.abs(hrf).max(axis=0)
    peak[peak == 0] = 1.0
    hrf = hrf * (sign / peak)
    betas = betas_est * (sign * peak)
    true_betas = betas_true * hrfs_true.max(axis=0)
    hc = hrf - hrf.mean(0)
    tc = hrfs_true - hrfs_true.mean(0)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = (hc * tc).sum(0) / np.sqrt((hc ** 2).sum(0) * (tc ** 2).sum(0))
    active = np.any(betas_true != 0, axis=0)  # HRF r where there is an HRF to estimate
    return (float(np.nanmean(r[active])),
            float(np.corrcoef(betas.ravel(), true_betas.ravel())[0, 1]))


def best_time(func, repeats):
    best, out = np.inf, None
    for _ in range(repeats):
        start = time.perf_counter()
        out = func()
        best = min(best, time.perf_counter() - start)
    return best, out


def nilearn_fit(sim, t_r, hrf_model, noise_model="ar1"):
    from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

    n_scans = sim["Y"].shape[0]
    frame_times = np.arange(n_scans) * t_r
    events = sim["events"][["onset", "duration", "trial_type"]]
    kwargs = {"fir_delays": list(range(int(32 / t_r)))} if hrf_model == "fir" else {}
    design = make_first_level_design_matrix(frame_times, events, hrf_model=hrf_model,
                                            drift_model="cosine", high_pass=0.01, **kwargs)
    labels, results = run_glm(sim["Y"], design.to_numpy(), noise_model=noise_model)
    coef = np.zeros((design.shape[1], sim["Y"].shape[1]))
    for key, res in results.items():
        coef[:, labels == key] = res.theta
    return design, coef


def nilearn_hrf_betas(design, coef, t_r, hrf_model):
    """HRF (rank-1 SVD of basis x condition coefficients) and betas of a nilearn GLM."""
    from nilearn.glm.first_level import hemodynamic_models as hm

    conditions = [f"c{k}" for k in range(6)]
    if hrf_model == "spm":
        idx = [list(design.columns).index(c) for c in conditions]
        kernel = hm.spm_hrf(t_r, 50, 32.0)
        times = np.linspace(0, 32.0, kernel.size)
        return np.repeat(kernel[:, None], coef.shape[1], 1), times, coef[idx]
    if hrf_model == "fir":
        n_lags = int(32 / t_r)
        idx = [[list(design.columns).index(f"{c}_delay_{d}") for d in range(n_lags)]
               for c in conditions]
        basis = np.eye(n_lags)
        times = np.arange(n_lags) * t_r
    else:
        suffixes = ["", "_derivative", "_dispersion"]
        idx = [[list(design.columns).index(c + s) for s in suffixes] for c in conditions]
        basis = np.column_stack([hm.spm_hrf(t_r, 50, 32.0), hm.spm_time_derivative(t_r, 50, 32.0),
                                 hm.spm_dispersion_derivative(t_r, 50, 32.0)])
        times = np.linspace(0, 32.0, basis.shape[0])
    mats = np.stack([coef[i] for i in idx], axis=0)  # (n_cond, n_basis, n_vox)
    u, s, vt = np.linalg.svd(np.moveaxis(mats, -1, 0), full_matrices=False)  # per voxel
    w = u[:, :, 0]  # (n_vox, n_cond) -> left = conditions
    h_coef = vt[:, 0, :] * s[:, :1]  # (n_vox, n_basis)
    hrf = basis @ h_coef.T
    sign = np.sign(hrf[np.abs(hrf).argmax(0), np.arange(hrf.shape[1])])
    hrf = hrf * sign
    if hrf_model == "fir":
        betas = (w * sign[:, None]).T
    else:
        betas = mats[:, 0, :]
    return hrf, times, betas


def run_reference(sim, t_r, mode, n_voxels, workdir):
    """hrf-estimation 1.1 in its own interpreter; returns (seconds, hrf, times, betas) or None."""
    if not Path(REF_PYTHON).exists():
        return None, f"hrf-estimation skipped: {REF_PYTHON} not found (see the module docstring)"
    workdir = Path(workdir)
    Y = sim["Y"][:, :n_voxels]
    drifts = drift_basis(Y.shape[0], t_r)
    if mode == "r1glms":
        # its r1glms mode ignores drift regressors, so give it drift-free data
        Y = Y - drifts @ (drifts.T @ Y)
    np.save(workdir / "Y.npy", Y)
    np.save(workdir / "drifts.npy", drifts)
    events = sim["events"]
    conditions = (events["trial_type"].to_numpy() if mode == "r1glm"
                  else np.array([f"trial{i:05d}" for i in range(len(events))]))  # sorts in order
    np.save(workdir / "conditions.npy", conditions.astype(str))
    np.save(workdir / "onsets.npy", events["onset"].to_numpy())
    script = f"""
import time, numpy as np, hrf_estimation as he
Y = np.load("{workdir}/Y.npy"); drifts = np.load("{workdir}/drifts.npy")
cond = np.load("{workdir}/conditions.npy"); onsets = np.load("{workdir}/onsets.npy")
start = time.perf_counter()
U, V = he.glm(cond, onsets, {int(t_r) if float(t_r).is_integer() else t_r}, Y,
              drifts={'drifts' if mode == 'r1glm' else 'None'}, basis="3hrf", mode="{mode}",
              n_jobs=1)
elapsed = time.perf_counter() - start
t = np.arange(0, 32.05, 0.1); t20 = np.where(t <= 20, t, 0)
B = np.stack([he.hrf.spmt(t20), he.hrf.dspmt(t20), he.hrf.ddspmt(t20)], 1) * (t <= 20)[:, None]
np.save("{workdir}/hrf.npy", B @ U); np.save("{workdir}/V.npy", V)
print(elapsed)
"""
    env = dict(os.environ, OPENBLAS_NUM_THREADS="1", OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")
    proc = subprocess.run([REF_PYTHON, "-c", script], capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        return None, f"hrf-estimation failed: {proc.stderr.strip().splitlines()[-1:]}"
    elapsed = float(proc.stdout.strip().splitlines()[-1])
    hrf = np.load(workdir / "hrf.npy")
    V = np.load(workdir / "V.npy")
    if mode == "r1glms":
        V = V[: len(events)]
    sign = np.sign(hrf[np.abs(hrf).argmax(0), np.arange(hrf.shape[1])])
    return (elapsed, hrf * sign, GRID, V * sign), None


def row(name, n_voxels, seconds, metrics, anchor_speed=None):
    speed = n_voxels / seconds
    ratio = f"{speed / anchor_speed:.2f}" if anchor_speed else "-"
    r, ttp, beta_r = metrics
    return f"| {name} | {n_voxels} | {speed:,.0f} | {ratio} | {r:.3f} | {ttp:.2f} | {beta_r:.3f} |"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="small sizes (< 1 min)")
    parser.add_argument("--only", nargs="+", choices=SECTIONS, default=list(SECTIONS),
                        help="sections to run (default: all)")
    parser.add_argument("--snrs", nargs="+", type=float, default=None,
                        help="SNRs of the accuracy section (default: 0.5 1 2; --quick: 0.5)")
    parser.add_argument("--inactive", type=float, default=0.0,
                        help="fraction of voxels without response in the accuracy section")
    args = parser.parse_args()
    repeats = 2 if args.quick else 3
    n_acc = 1000 if args.quick else 10000
    n_ref = 50 if args.quick else 300
    numba.set_num_threads(1)
    warnings.filterwarnings("ignore", message=".*null duration.*")

    # compile time, apart from run time
    tiny = simulate(2.0, 100, 100, 1.0)  # enough voxels for the empirical HRF prior
    start = time.perf_counter()
    R1GLM(t_r=2.0, noise_model="ols").fit(tiny["Y"], tiny["events"])
    R1GLM(t_r=2.0).fit(tiny["Y"], tiny["events"])
    print(f"numba compile/load of the first fits: {time.perf_counter() - start:.2f} s\n")

    header = ("| method | voxels | voxels/s (1 core) | speed / nilearn spm+d+d | HRF r | "
              "ttp err (s, median) | pooled beta r |\n|---|---|---|---|---|---|---|")
    if "accuracy" in args.only:
        accuracy_section(args.snrs or ([0.5] if args.quick else [0.5, 1.0, 2.0]), n_acc, n_ref,
                         repeats, args.inactive)
    # speed on large problems
    if "size" in args.only:
        speed_vs_size(args.quick, repeats)
    if "fir" in args.only:
        fir_section(args.quick, header)
    if "r1glms" in args.only:
        r1glms_section(args.quick)
    print(f"\npython {sys.version.split()[0]}, numpy {np.__version__}, numba {numba.__version__}")


def accuracy_section(snrs, n_acc, n_ref, repeats, inactive=0.0):
    """HRF r and pooled beta r (issue-16 scoring) of every method at each SNR."""
    methods = [
        ("neuroopt R1GLM default (ar1, hrf_shrinkage='auto')", {}),
        ("neuroopt R1GLM hrf_shrinkage=0 (ar1)", {"hrf_shrinkage": 0.0}),
        ("neuroopt R1GLM hrf_shrinkage=0 (ols)", {"hrf_shrinkage": 0.0, "noise_model": "ols"}),
    ]
    for snr in snrs:
        sim = simulate(2.0, 400, n_acc, snr, inactive=inactive)
        truth = sim["hrfs"], sim["betas"]
        sub = sim["hrfs"][:, :n_ref], sim["betas"][:, :n_ref]
        extra = (f", {inactive:.0%} of them inactive (SNR of the active ones)" if inactive
                 else "")
        print(f"### Accuracy: TR 2 s, 400 scans, 6 conditions x 20 trials, AR(1) 0.3 + drifts, "
              f"SNR {snr:g}, {n_acc} voxels{extra}\n")
        print(f"| method | voxels/s (1 core) | HRF r, all | pooled beta r, all | "
              f"HRF r, first {n_ref} | pooled beta r, first {n_ref} |\n|---|---|---|---|---|---|")
        rows = []

        def add(name, seconds, n_voxels, hrf, times, betas):
            all_r = ("-", "-")
            if n_voxels == n_acc:
                all_r = [f"{x:.3f}" for x in peak_scaled_scores(hrf, times, betas, *truth)]
            same = peak_scaled_scores(hrf[:, :n_ref], times, betas[:, :n_ref], *sub)
            rows.append(f"| {name} | {n_voxels / seconds:,.0f} | {all_r[0]} | {all_r[1]} | "
                        f"{same[0]:.3f} | {same[1]:.3f} |")

        for name, params in methods:
            seconds, model = best_time(
                lambda: R1GLM(t_r=2.0, **params).fit(sim["Y"], sim["events"]), repeats)
            add(name, seconds, n_acc, model.hrf_, model.hrf_times_, model.betas_)
        seconds, (design, coef) = best_time(lambda: nilearn_fit(sim, 2.0, "spm", "ols"), repeats)
        add("canonical OLS (nilearn spm, ols)", seconds, n_acc,
            *nilearn_hrf_betas(design, coef, 2.0, "spm"))
        seconds, (design, coef) = best_time(lambda: nilearn_fit(sim, 2.0, SDD), repeats)
        add("nilearn spm+derivative+dispersion (ar1)", seconds, n_acc,
            *nilearn_hrf_betas(design, coef, 2.0, SDD))
        with tempfile.TemporaryDirectory() as tmp:
            ref, message = run_reference(sim, 2.0, "r1glm", n_ref, tmp)
        if ref is None:
            print(message)
        else:
            add("hrf-estimation 1.1 r1glm (reference, bounded)", ref[0], n_ref, *ref[1:])
        seconds, oracle = best_time(lambda: oracle_fit(sim, 2.0), 1)
        add("OLS with each voxel's true HRF (oracle)", seconds, n_acc, *oracle)
        print("\n".join(rows) + "\n")


def best_cpu_time(func, repeats):
    """Best wall time and best process CPU time over ``repeats`` calls (1 thread: CPU time is
    the compute cost, without the waiting caused by other processes on a shared machine)."""
    best_wall, best_cpu = np.inf, np.inf
    for _ in range(repeats):
        wall, cpu = time.perf_counter(), time.process_time()
        func()
        best_wall = min(best_wall, time.perf_counter() - wall)
        best_cpu = min(best_cpu, time.process_time() - cpu)
    return best_wall, best_cpu


def speed_vs_size(quick, repeats):
    print("### R1GLM speed vs size (SNR 1, 3hrf, OLS and AR(1), 1 numba thread)\n")
    print(f"load average before the section: {os.getloadavg()[0]:.1f} (2 cores)\n")
    print("| voxels | OLS s (CPU s) | OLS voxels/s (CPU) | AR(1) s (CPU s) | "
          "AR(1) voxels/s (CPU) | nilearn canonical OLS voxels/s (CPU) |\n"
          "|---|---|---|---|---|---|")
    for n_voxels in ([1000, 10000] if quick else [1000, 10000, 100000]):
        sim = simulate(2.0, 400, n_voxels, 1.0, seed=2)
        # the simulation is bound as a default argument: the loop deletes it below
        ols = best_cpu_time(
            lambda sim=sim: R1GLM(t_r=2.0, noise_model="ols").fit(sim["Y"], sim["events"]), repeats)
        ar1 = best_cpu_time(
            lambda sim=sim: R1GLM(t_r=2.0, noise_model="ar1").fit(sim["Y"], sim["events"]), repeats)
        can = best_cpu_time(lambda sim=sim: nilearn_fit(sim, 2.0, "spm", "ols"), repeats)
        print(f"| {n_voxels} | {ols[0]:.2f} ({ols[1]:.2f}) | {n_voxels / ols[0]:,.0f} "
              f"({n_voxels / ols[1]:,.0f}) | {ar1[0]:.2f} ({ar1[1]:.2f}) | "
              f"{n_voxels / ar1[0]:,.0f} ({n_voxels / ar1[1]:,.0f}) | "
              f"{n_voxels / can[0]:,.0f} ({n_voxels / can[1]:,.0f}) |")
        del sim
    print()


def fir_section(quick, header):
    """FIR at TR 1 s."""
    n_fir = 500 if quick else 5000
    sim = simulate(1.0, 800, n_fir, 1.0, seed=3)
    print("### TR 1 s, 800 scans, FIR basis (32 lags), SNR 1\n")
    print(header)
    t_nl, (design, coef) = best_time(lambda: nilearn_fit(sim, 1.0, SDD), 1)
    anchor = n_fir / t_nl
    lines = [row("nilearn spm+deriv+disp (ar1)", n_fir, t_nl,
                 scores(*nilearn_hrf_betas(design, coef, 1.0, SDD), sim), anchor)]
    t_fir, (design, coef) = best_time(lambda: nilearn_fit(sim, 1.0, "fir"), 1)
    lines.append(row("nilearn fir (ar1, rank-1 SVD)", n_fir, t_fir,
                     scores(*nilearn_hrf_betas(design, coef, 1.0, "fir"), sim), anchor))
    for basis in ("fir", "3hrf"):
        t_r1, model = best_time(lambda: R1GLM(t_r=1.0, basis=basis).fit(sim["Y"], sim["events"]), 1)
        lines.append(row(f"neuroopt R1GLM {basis} (ar1)", n_fir, t_r1,
                         scores(model.hrf_, model.hrf_times_, model.betas_, sim), anchor))
    print("\n".join(lines) + "\n")


def r1glms_section(quick):
    """R1GLMS: trial betas."""
    n_trial_vox = 300 if quick else 2000
    sim = simulate(2.0, 400, n_trial_vox, 1.0, seed=4)
    truth = sim["trial_betas"]
    print("### R1GLMS trial betas (TR 2 s, 120 trials, SNR 1)\n")
    print("| method | voxels | voxels/s | trial-beta r (pooled) |\n|---|---|---|---|")
    for per_trial in (False, True):
        t_s, model = best_time(lambda: R1GLMS(t_r=2.0, hrf_per_trial=per_trial).fit(
            sim["Y"], sim["events"]), 1)
        r = np.corrcoef(model.betas_.ravel(), truth.ravel())[0, 1]
        print(f"| neuroopt R1GLMS (hrf_per_trial={per_trial}) | {n_trial_vox} | "
              f"{n_trial_vox / t_s:,.0f} | {r:.3f} |")
    n_ref_s = 0 if quick else 20  # measured 0.2 voxels/s: 20 voxels take ~2 min
    if n_ref_s == 0:
        ref, message = None, "hrf-estimation r1glms skipped in --quick mode (0.2 voxels/s)"
    else:
        with tempfile.TemporaryDirectory() as tmp:
            ref, message = run_reference(sim, 2.0, "r1glms", n_ref_s, tmp)
    if ref is None:
        print(message)
    else:
        r = np.corrcoef(ref[3].ravel(), truth[:, :n_ref_s].ravel())[0, 1]
        print(f"| hrf-estimation 1.1 r1glms | {n_ref_s} | {n_ref_s / ref[0]:,.1f} | {r:.3f} |")
        for per_trial in (False, True):
            model = R1GLMS(t_r=2.0, hrf_per_trial=per_trial).fit(sim["Y"][:, :n_ref_s],
                                                                  sim["events"])
            r = np.corrcoef(model.betas_.ravel(), truth[:, :n_ref_s].ravel())[0, 1]
            print(f"| neuroopt R1GLMS (hrf_per_trial={per_trial}), same voxels | {n_ref_s} | "
                  f"{n_ref_s / model.fit_time_:,.0f} | {r:.3f} |")


if __name__ == "__main__":
    main()
