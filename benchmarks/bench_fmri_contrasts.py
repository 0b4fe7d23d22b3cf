"""Sensitivity of contrast maps: R1-GLM (voxel-wise HRFs) against the canonical-HRF GLM.

At FDR q = 0.05 (two-sided, Benjamini-Hochberg over the mask, nilearn ``threshold_stats_img``),
counts the truly active voxels found (TP) and the inactive voxels declared active (FP) for each
condition-vs-baseline contrast, summed over contrasts, on:

- a simulation: voxels with HRFs drawn from a library of double gammas (time to peak 4-7.5 s,
  dispersion 0.8-1.3, undershoot ratio 0.1-0.35), 2 runs x 200 scans, TR 2 s, 4 conditions,
  1-s events 3-9 s apart, AR(1) noise (rho 0.3) plus slow drifts; 30 % of the voxels active,
  each active voxel responding to each condition with probability 0.6 (betas 7.5-22.5 on the
  unit-norm HRF sampled every 0.1 s: a task signal of sd about 1); at noise sd 1, 2 and 3;
- the demo dataset (1 subject, 2 runs, 4 mm MNI grid, realistic HRF regions; truth = voxels
  with a nonzero true beta of the condition).

Columns: TP, FP and false discovery proportion at FDR q = 0.05, and "TP at canonical's FP": the
truly active voxels found when each contrast's threshold lets through exactly as many inactive
voxels as the canonical GLM did at q = 0.05 (sensitivity at equal false positives). Calibration
of the null: "null z sd", the sd of z over the inactive voxels of each contrast (1 when the null
z maps are calibrated), and the TP / FP at the fixed threshold |z| > 3.29 (two-sided p < 0.001),
which unlike the FDR threshold does not move with the number of discoveries.

Methods: ``R1-GLM (LORO HRF)``, the default of :func:`neuroopt.fmri.contrast_maps.r1glm_contrasts`
(each run's regressors use the HRF fitted on the other runs); ``R1-GLM (same-data HRF)``;
``canonical GLM``: nilearn ``run_glm`` / ``FirstLevelModel`` with the 'spm' HRF, cosine drifts and
AR(1), the runs combined by fixed effects. All fits use AR(1) noise.

``--null``: the null distribution of the z maps instead (:func:`run_null`: the same simulation
with no active voxel, true AR(1) 0.3 and 0, both noise models; and one run of 400 scans, where
``R1-GLM (split-run HRF)`` gives each half of the run the HRF fitted on the other half).

Usage: python benchmarks/bench_fmri_contrasts.py [--quick] [--null] [--single-run]
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

from neuroopt.utils import pin_blas_threads

pin_blas_threads(1)

import nibabel as nib  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402

from neuroopt.fmri.contrast_maps import r1glm_contrasts  # noqa: E402
from neuroopt.fmri.design import simulate_bold  # noqa: E402
from neuroopt.fmri.estimators import R1GLM  # noqa: E402
from neuroopt.stats.thresholding import threshold_z_map  # noqa: E402

CONDITIONS = ("a", "b", "c", "d")
T_R, N_SCANS = 2.0, 200
#: fixed, uncorrected threshold of the calibration columns (two-sided p < 0.001)
FIXED_Z = 3.29


def _events(rng, n_scans=N_SCANS):
    onsets, t = [], 6.0
    while t < n_scans * T_R - 30:
        onsets.append(t)
        t += 1.0 + rng.uniform(3.0, 9.0)
    kinds = rng.permutation(np.resize(np.arange(len(CONDITIONS)), len(onsets)))
    return pd.DataFrame({"onset": onsets, "duration": 1.0, "trial_type": np.array(CONDITIONS)[kinds]})


def simulate(n_voxels, noise_sd, seed=0, active_fraction=0.3, ar1=0.3, n_runs=2, n_scans=N_SCANS):
    """Runs of simulated BOLD, their events and the true betas (n_conditions, n_voxels)."""
    rng = np.random.default_rng(seed)
    library = np.column_stack([rng.uniform(4.0, 7.5, 40), rng.uniform(0.8, 1.3, 40), rng.uniform(0.1, 0.35, 40)])
    shapes = rng.integers(0, len(library), n_voxels)
    active = rng.random(n_voxels) < active_fraction
    betas = np.where(active & (rng.random((len(CONDITIONS), n_voxels)) < 0.6),
                     rng.uniform(7.5, 22.5, (len(CONDITIONS), n_voxels)), 0.0)
    runs, events = [], []
    for _ in range(n_runs):
        ev = _events(rng, n_scans)
        y, _ = simulate_bold(ev, T_R, n_scans, library, shapes, betas, noise_sd=noise_sd, ar1=ar1,
                             drift_sd=noise_sd, random_state=rng.integers(2 ** 31))
        runs.append(y + 100.0)
        events.append(ev)
    return runs, events, betas


def canonical_z(runs, events, contrasts):
    """nilearn run_glm (spm HRF, cosine drifts, AR(1)), fixed effects over runs: name -> z."""
    from nilearn.glm.contrasts import compute_contrast
    from nilearn.glm.first_level import make_first_level_design_matrix, run_glm

    total = {}
    for y, ev in zip(runs, events):
        design = make_first_level_design_matrix(np.arange(y.shape[0]) * T_R, ev, hrf_model="spm",
                                                drift_model="cosine", high_pass=0.01)
        labels, results = run_glm(y, design.to_numpy(), noise_model="ar1")
        for name, weights in contrasts.items():
            vector = np.array([weights.get(c, 0.0) for c in design.columns])
            con = compute_contrast(labels, results, vector, stat_type="t")
            total[name] = con if name not in total else total[name] + con
    return {name: con.z_score() for name, con in total.items()}


def _fdr_mask(z):
    img = nib.Nifti1Image(z.reshape(-1, 1, 1).astype(np.float32), np.eye(4))
    mask = nib.Nifti1Image(np.ones((z.size, 1, 1), np.int8), np.eye(4))
    _, threshold = threshold_z_map(img, mask, correction="fdr", alpha=0.05)
    return np.abs(z) > threshold.z if np.isfinite(threshold.z) else np.zeros(z.size, bool)


def score(z_maps, truth):
    """TP and FP summed over the condition-vs-baseline contrasts; truth (n_conditions, n_voxels).

    Also returns, per contrast, the FP count and the |z| of the inactive voxels (for
    :func:`tp_at_fp`), and the calibration of the null: the sd of z over the inactive voxels
    (pooled over contrasts; 1 when calibrated) and the TP / FP at the fixed, uncorrected
    threshold |z| > 3.29 (two-sided p < 0.001), which does not depend on how many voxels are
    found elsewhere (unlike the FDR threshold).
    """
    tp = fp = n_true = 0
    per_contrast, null_z = [], []
    fixed = [0, 0]
    for k, name in enumerate(CONDITIONS):
        z = np.abs(np.nan_to_num(z_maps[name]))
        found = _fdr_mask(z)
        active = truth[k] != 0
        tp += int((found & active).sum())
        fp += int((found & ~active).sum())
        n_true += int(active.sum())
        per_contrast.append((int((found & ~active).sum()), z, active))
        null_z.append(np.nan_to_num(z_maps[name])[~active])
        fixed[0] += int((z[active] > FIXED_Z).sum())
        fixed[1] += int((z[~active] > FIXED_Z).sum())
    null_sd = float(np.std(np.concatenate(null_z)))
    return tp, fp, n_true, per_contrast, (null_sd, *fixed)


def tp_at_fp(per_contrast, reference):
    """Truly active voxels found when each contrast's threshold lets through exactly as many
    inactive voxels as the reference method did at FDR q = 0.05 (sensitivity at equal FP)."""
    tp = 0
    for (_, z, active), (fp_ref, _, _) in zip(per_contrast, reference):
        null = np.sort(z[~active])[::-1]
        level = null[fp_ref] if fp_ref < null.size else 0.0
        tp += int((z[active] > level).sum())
    return tp


def _rows(data, setting, scored):
    reference = scored["canonical GLM (nilearn)"][3]
    return [(data, setting, label, tp, fp, n_true, tp_at_fp(per, reference), *null)
            for label, (tp, fp, n_true, per, null) in scored.items()]


def run_simulation(n_voxels, noise_levels, single_run=False):
    """Sensitivity on the simulation; ``single_run``: one run of 400 scans instead of 2 x 200,
    where the held-out HRF is the split-run one (2 or 3 segments, each fitted on the others)."""
    rows = []
    contrasts = {c: {c: 1.0} for c in CONDITIONS}
    for noise_sd in noise_levels:
        if single_run:
            runs, events, betas = simulate(n_voxels, noise_sd, n_runs=1, n_scans=2 * N_SCANS)
        else:
            runs, events, betas = simulate(n_voxels, noise_sd)
        start, cpu = time.perf_counter(), time.process_time()
        est = R1GLM(T_R, noise_model="ar1").fit(runs, events)
        scored = {}
        fits = ((("split-run", 2), ("split-run", 3), ("same-data", 3)) if single_run else
                (("leave-one-run-out", 3), ("same-data", 3)))
        for hrf_fit, n_segments in fits:
            maps = r1glm_contrasts(est, runs, events, contrasts, hrf_fit=hrf_fit, n_segments=n_segments)
            label = {"same-data": "R1-GLM (same-data HRF)", "leave-one-run-out": "R1-GLM (LORO HRF)",
                     "split-run": f"R1-GLM (split-run HRF, {n_segments} segments)"}[hrf_fit]
            scored[label] = score({k: m.z for k, m in maps.items()}, betas)
        r1_time, r1_cpu = time.perf_counter() - start, time.process_time() - cpu
        scored["canonical GLM (nilearn)"] = score(canonical_z(runs, events, contrasts), betas)
        data = "simulation, 1 run x 400" if single_run else "simulation"
        rows += _rows(data, f"noise sd {noise_sd:g}", scored)
        print(f"noise sd {noise_sd:g}: R1-GLM fit + contrasts {r1_time:.1f} s wall, {r1_cpu:.1f} s CPU",
              flush=True)
    return rows


def run_demo(resolution):
    from nilearn.masking import apply_mask

    from neuroopt.datasets import load_demo_truth, make_demo_dataset
    from neuroopt.fmri.contrast_maps import canonical_contrast_images, r1glm_contrast_images
    from neuroopt.fmri.maps import fit_r1glm_images
    from neuroopt.fmri.preprocessing import clean_bold, compute_mask, load_bold

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        root = make_demo_dataset(Path(tmp) / "demo", n_subjects=1, n_runs=2, eeg=False, fmri_resolution=resolution)
        func = Path(root) / "sub-01" / "func"
        bolds = sorted(func.glob("*_bold.nii.gz"))
        events = [pd.read_csv(str(b).replace("_bold.nii.gz", "_events.tsv"), sep="\t") for b in bolds]
        raw = [load_bold(b) for b in bolds]
        mask = compute_mask(raw)
        t_r = 2.0
        clean = [clean_bold(img, t_r, mask, high_pass=0.01, detrend=True, standardize=False) for img in raw]
        truth = load_demo_truth(root, "01")["fmri"]
        contrasts = {c: {c: 1.0} for c in truth["conditions"]}
        fit = fit_r1glm_images(clean, events, mask, t_r, noise_model="ar1")
        true_betas = apply_mask(truth["betas_img"], mask)
        r1 = r1glm_contrast_images(fit, clean, events, contrasts)
        same = {k: m for k, m in r1glm_contrasts(
            fit.estimator, [fit.masker.transform(c) for c in clean], events, contrasts, hrf_fit="same-data").items()}
        can = canonical_contrast_images(clean, events, mask, t_r, contrasts, noise_model="ar1")
        global CONDITIONS
        saved, CONDITIONS = CONDITIONS, tuple(truth["conditions"])
        try:
            scored = {label: score(z, true_betas) for label, z in (
                ("R1-GLM (LORO HRF)", {k: apply_mask(v["z"], mask) for k, v in r1.items()}),
                ("R1-GLM (same-data HRF)", {k: v.z for k, v in same.items()}),
                ("canonical GLM (nilearn)", {k: apply_mask(v["z"], mask) for k, v in can.items()}))}
            rows += _rows("demo", f"{resolution:g} mm, 1 subject", scored)
        finally:
            CONDITIONS = saved
    return rows


def run_null(n_voxels, ar1_values=(0.3, 0.0)):
    """Null distribution of the z maps: the same simulation without any active voxel.

    For each true AR(1) coefficient, each fit's noise model and each method: the mean and sd of z
    over all voxels and contrasts (also on one run of 400 scans, AR(1) fits: the split-run HRF
    with 2 and 3 segments against the same-data HRF), its two-sided tail rates at |z| > 1.96 and 3.29 (5 % and
    0.1 % for N(0, 1)) and its 0.1 % / 99.9 % quantiles (N(0, 1): -3.09 / 3.09), the points of a
    QQ plot against N(0, 1) where false positives are decided.
    """
    contrasts = {c: {c: 1.0} for c in CONDITIONS}
    rows = []
    for ar1 in ar1_values:
        runs, events, _ = simulate(n_voxels, 1.0, seed=1, active_fraction=0.0, ar1=ar1)
        methods = {}
        for noise_model in ("ar1", "ols"):
            est = R1GLM(T_R, noise_model=noise_model).fit(runs, events)
            for hrf_fit, label in (("leave-one-run-out", "LORO HRF"), ("same-data", "same-data HRF")):
                maps = r1glm_contrasts(est, runs, events, contrasts, hrf_fit=hrf_fit)
                methods[f"R1-GLM ({label}), {noise_model}"] = [m.z for m in maps.values()]
            if noise_model == "ar1":
                rho = f"{est.rho_.mean():.3f}"
        methods["canonical GLM (nilearn), ar1"] = list(canonical_z(runs, events, contrasts).values())
        # one run of 400 scans (the two runs' length): the split-run HRF instead of the other runs'
        single, single_events, _ = simulate(n_voxels, 1.0, seed=1, active_fraction=0.0, ar1=ar1, n_runs=1,
                                            n_scans=2 * N_SCANS)
        est = R1GLM(T_R, noise_model="ar1").fit(single, single_events)
        for hrf_fit, k in (("split-run", 2), ("split-run", 3), ("same-data", 2)):
            maps = r1glm_contrasts(est, single, single_events, contrasts, hrf_fit=hrf_fit, n_segments=k)
            label = f"split-run HRF, {k} segments" if hrf_fit == "split-run" else "same-data HRF"
            methods[f"1 run: R1-GLM ({label}), ar1"] = [m.z for m in maps.values()]
        methods["1 run: canonical GLM (nilearn), ar1"] = list(
            canonical_z(single, single_events, contrasts).values())
        for label, z in methods.items():
            z = np.nan_to_num(np.concatenate(z))
            q_low, q_high = np.quantile(z, [0.001, 0.999])
            rows.append((ar1, rho, label, z.mean(), z.std(), np.mean(np.abs(z) > 1.96),
                         np.mean(np.abs(z) > FIXED_Z), q_low, q_high))
    table = pd.DataFrame(rows, columns=["true AR(1)", "R1GLM rho_ mean", "method", "z mean", "z sd",
                                        "P(|z|>1.96)", f"P(|z|>{FIXED_Z})", "z 0.1 %", "z 99.9 %"])
    return table.round({"z mean": 3, "z sd": 3, "P(|z|>1.96)": 4, f"P(|z|>{FIXED_Z})": 5,
                        "z 0.1 %": 2, "z 99.9 %": 2})


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="2000 voxels, demo at 6 mm")
    parser.add_argument("--null", action="store_true",
                        help="only the null distribution of the z maps (no active voxel)")
    parser.add_argument("--single-run", action="store_true",
                        help="only the simulation, as one run of 400 scans (split-run HRF)")
    args = parser.parse_args()
    if args.null:
        print(run_null(2000 if args.quick else 6000).to_markdown(index=False))
        return
    rows = run_simulation(2000 if args.quick else 6000, (1.0, 2.0, 3.0), single_run=args.single_run)
    if not args.single_run:
        rows += run_demo(6.0 if args.quick else 4.0)
    table = pd.DataFrame(rows, columns=["data", "setting", "method", "TP", "FP", "truly active",
                                        "TP at canonical's FP", "null z sd",
                                        f"TP at |z|>{FIXED_Z}", f"FP at |z|>{FIXED_Z}"])
    table["sensitivity"] = (table["TP"] / table["truly active"]).round(3)
    table["FDP"] = (table["FP"] / (table["TP"] + table["FP"])).round(3)
    table["null z sd"] = table["null z sd"].round(3)
    print(table.to_markdown(index=False))


if __name__ == "__main__":
    main()
