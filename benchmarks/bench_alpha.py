"""Benchmark of the automatic choice of alpha (SURE, held-out, pivotal default) against MNE's SURE.

Usage::

    python benchmarks/bench_alpha.py [--skip-mne] [--mne-only] [--n-seeds 20] [--skip-sim]
        [--skip-real] [--criteria-seeds 5] [--sim-variants auto:1:- auto:1:0.05 ...]
        [--sim-cells 2:1 5:3] [--mne-cells 2:1 5:3] [--grids 10 5] [--methods auto sure]
        [--condition "Right Auditory"] [--estimators mtl sgcl] [--real-selection]
        [--skip-evidence]

Sections (Markdown tables, one run, anchors in the same run unless ``--skip-mne``):

1. Real data: MNE sample Left Auditory (MEG, free orientation, 0-200 ms, depth 0.8). For every
   estimator (mtl, sqrt, sgcl) and alpha method, the distance of the strongest source of each
   hemisphere to Heschl's gyrus, the number of active sources, the CPU and wall seconds, on the
   5 mm and 10 mm volume grids; and MNE's ``mixed_norm(alpha="sure")`` on the 10 mm grid (its
   time, active sources). The SURE column is the exact SURE of the multitask Lasso (MxNE)
   solution at the alpha chosen (:func:`exact_mtl_sure`), for neuroopt's mtl and for the alpha
   MNE's Monte-Carlo SURE chose, so the two choices are scored by the same criterion.
   Then the evidence table of the localisation target (:func:`data_support_section`): does
   each condition's 0-200 ms window stand out from its baseline, and where and when is the
   strongest right-hemisphere source.
2. Simulations with the real 10 mm gain: 2-5 dipoles, several SNRs, ``--n-seeds`` seeds per
   cell; median support F1 (a true source is found when an active source lies within 10 mm),
   precision, recall and median localisation error for each variant (alpha method,
   reweighting, backward elimination, relocation; ``--sim-variants``), next to MNE's
   ``mixed_norm(alpha="sure")`` run step for step on the same arrays (cached per seed in
   ``results/mne_sim/``, computed for ``--mne-cells``).

The forwards (~15 s for 10 mm, ~1 min for 5 mm) are cached in ``benchmarks/results/``
(gitignored), as MNE's result (``--mne-only`` computes and stores it).
"""

from __future__ import annotations

import argparse
import json
import logging
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

from neuroopt.utils import atomic_write_text, pin_blas_threads

pin_blas_threads(1)

HERE = Path(__file__).resolve().parent
DATA = HERE.parents[1] / "shared" / "data" / "meg_sample"
CACHE = HERE / "results"
sys.path.insert(0, str(HERE.parent / "tests" / "meeg"))


def load_real(pos, condition="Left Auditory"):
    """Evoked (0-200 ms, MEG), volume forward (``pos`` mm), covariance and Heschl seeds."""
    import mne

    from sample_forward_utils import (
        cached_volume_forward,
        heschl_seeds_head,
        read_sample_evoked,
        sample_subjects_dir,
    )

    CACHE.mkdir(exist_ok=True)
    subjects_dir = sample_subjects_dir(DATA, tempfile.mkdtemp())
    forward = cached_volume_forward(DATA, CACHE, subjects_dir, pos=pos)
    return dict(evoked=read_sample_evoked(DATA, condition), forward=forward,
                cov=mne.read_cov(DATA / "test-cov.fif", verbose=False),
                seeds=heschl_seeds_head(DATA, subjects_dir))


def _whitened_problem(problem, evoked=None):
    """Whitened, depth-weighted gain and whitened data, as ``sparse_inverse`` builds them."""
    import mne

    from neuroopt.meeg import _mne_private
    from neuroopt.meeg.whitening import covariance_rank

    evoked = problem["evoked"] if evoked is None else evoked
    rank = covariance_rank(problem["cov"], evoked.info)
    with mne.utils.use_log_level("warning"):
        _, gain, gain_info, whitener, _ = _mne_private.prepare_gain(
            problem["forward"], evoked.info, problem["cov"], depth=0.8, loose="auto",
            rank=rank)
    sel = [evoked.ch_names.index(name) for name in gain_info["ch_names"]]
    return gain, whitener @ evoked.data[sel]


def exact_mtl_sure(problem, fraction):
    """Exact SURE (neuroopt's criterion) of the MxNE solution at ``fraction`` x alpha_max.

    The multitask Lasso is solved at that alpha (tol 1e-8), polished on its support, and
    scored with the noise std ``1 / sqrt(nave)`` and the temporal noise correlation that
    ``sparse_inverse(alpha="sure")`` uses; the solution is the convex one (no debiasing).
    """
    from neuroopt.sparse import MultiTaskLasso
    from neuroopt.sparse.criteria import NoiseModel, noise_time_correlation, polish, sure

    gain, Y = _whitened_problem(problem)
    est = MultiTaskLasso(1.0, n_orient=3, tol=1e-8)
    alpha = float(fraction) * est.alpha_max(gain, Y)
    B = est.set_params(alpha=alpha).fit(gain, Y).coef_.T
    B = polish(gain, Y, B, alpha, 3, NoiseModel())
    return sure(gain, Y, B, alpha, 3, NoiseModel(), 1 / np.sqrt(problem["evoked"].nave),
                noise_time_correlation(Y)).value


def heschl_distances(stc, problem):
    """Distance (mm) of the strongest source of each hemisphere to Heschl's gyrus."""
    from sample_forward_utils import strongest_source_per_hemisphere

    strongest = strongest_source_per_hemisphere(stc, problem["forward"])
    return {hemi: (np.inf if p is None else 1e3 * float(np.linalg.norm(p - problem["seeds"][hemi])))
            for hemi, p in strongest.items()}


class _Capture(logging.Handler):
    def __init__(self):
        super().__init__()
        self.messages = []

    def emit(self, record):
        self.messages.append(record.getMessage())


def run_mne_sure(problem):
    """MNE ``mixed_norm(alpha="sure")`` with its defaults: seconds, selected alpha (% alpha_max)."""
    import mne

    capture = _Capture()
    mne_logger = logging.getLogger("mne")
    mne_logger.addHandler(capture)
    t0, cpu0 = time.perf_counter(), time.process_time()
    try:
        stc = mne.inverse_sparse.mixed_norm(problem["evoked"], problem["forward"], problem["cov"],
                                            alpha="sure", depth=0.8, random_state=0, verbose="info")
    finally:
        mne_logger.removeHandler(capture)
    seconds, cpu_seconds = time.perf_counter() - t0, time.process_time() - cpu0
    selected = [m for m in capture.messages if m.startswith("Selected alpha")]
    alpha_pct = float(selected[-1].split(":")[1]) if selected else float("nan")
    return dict(seconds=seconds, cpu_seconds=cpu_seconds, alpha_percent=alpha_pct, n_active=int(len(stc.data)),
                distances_mm=heschl_distances(stc, problem))


def mne_result(pos, *, recompute, required=True):
    """MNE's SURE on the ``pos`` mm grid, computed now or read back from the cache.

    Not cached and not ``required``: ``(None, "not cached")``.
    """
    fname = CACHE / f"mne_sure_pos{pos:g}.json"
    if not recompute and not required and not fname.exists():
        return None, "not cached"
    if recompute or not fname.exists():
        problem = load_real(pos)
        result = run_mne_sure(problem)
        result["measured"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        atomic_write_text(fname, json.dumps(result, indent=1))
        return result, "this run"
    return json.loads(fname.read_text()), f"cached ({fname.name})"


def real_data_section(mne_res, origin, *, positions=(10.0, 5.0), methods=("auto", "sure"),
                      condition="Left Auditory", estimators=("mtl", "sqrt", "sgcl"),
                      selection=False):
    """Table: estimator x alpha method x grid -> Heschl distances, active sources, seconds.

    ``selection``: each fit also with the post-selection (``prune_level=0.05``,
    ``relocate=True``). ``mne_res`` None: no MNE row (not cached, ``--skip-mne``).
    """
    from neuroopt.meeg.inverse import sparse_inverse
    from neuroopt.sparse import warmup

    warmup()
    print(f"\n### Real data: sample {condition} (MEG, free orientation, 0-200 ms)\n")
    print("| grid | estimator | alpha | selection | alpha/alpha_max | active | lh (mm) | rh (mm) "
          "| both < 30 mm | SURE (MxNE, exact) | CPU s | wall s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|")
    rows = []
    selections = ((None, False), (0.05, True)) if selection else ((None, False),)
    for pos in positions:
        problem = load_real(pos, condition)
        for estimator in estimators:
            for method in methods:
                for level, relocate in selections:
                    t0, cpu0 = time.perf_counter(), time.process_time()
                    sol = sparse_inverse(problem["evoked"], problem["forward"], problem["cov"],
                                         estimator=estimator, alpha=method, depth=0.8,
                                         selection="relocate" if relocate else "none",
                                         prune_level=level or 0.05)
                    seconds, cpu = time.perf_counter() - t0, time.process_time() - cpu0
                    dist = heschl_distances(sol.stc, problem)
                    ok = max(dist.values()) < 30
                    score = (f"{exact_mtl_sure(problem, sol.alpha_fraction):.1f}"
                             if estimator == "mtl" and not relocate else "")
                    rows.append((pos, estimator, method, sol, dist, seconds))
                    print(f"| {pos:g} mm | {estimator} | {method} | "
                          f"{'elimination 0.05 + relocation' if relocate else '-'} | "
                          f"{sol.alpha_fraction:.3f} | "
                          f"{len(sol.stc.data)} | {dist['lh']:.0f} | {dist['rh']:.0f} | "
                          f"{'yes' if ok else 'no'} | {score} | {cpu:.1f} | {seconds:.1f} |",
                          flush=True)
        if pos == 10.0 and mne_res is not None and condition == "Left Auditory":
            d = mne_res["distances_mm"]
            fraction = mne_res["alpha_percent"] / 100
            cpu = mne_res.get("cpu_seconds", float("nan"))
            print(f"| 10 mm | MNE mixed_norm | sure (MC, 15-point grid) | - | "
                  f"{fraction:.3f} | {mne_res['n_active']} | "
                  f"{d['lh']:.0f} | {d['rh']:.0f} | "
                  f"{'yes' if max(d.values()) < 30 else 'no'} | "
                  f"{exact_mtl_sure(problem, fraction):.1f} | {cpu:.1f} | "
                  f"{mne_res['seconds']:.1f} ({origin}) |", flush=True)
    return rows


def data_support_section(pos=5.0):
    """Evidence for the localisation target: signal over baseline, and the right source.

    For each condition (MEG, whitened as the inverse whitens it): the RMS of the whitened data
    in the baseline (-200-0 ms) and in 0-200 ms against the noise level the covariance
    predicts (``1 / sqrt(nave)``), and the ratio of ``alpha_max`` per time sample
    (``alpha_max / sqrt(T)``, the strongest single-source fit) of 0-200 ms to the baseline's:
    about 1 means that no source stands out from the baseline. Then, for Left Auditory on the
    ``pos`` mm grid (mtl, ``alpha="auto"``), where (MNI, mm) and when the strongest source of
    each hemisphere peaks.
    """
    import mne

    from neuroopt.meeg.inverse import sparse_inverse
    from neuroopt.sparse import MultiTaskLasso

    from sample_forward_utils import read_sample_evoked

    problem = load_real(pos)
    print(f"\n### Does the 0-200 ms window stand out from the baseline? ({pos:g} mm grid)\n")
    print("| condition | nave | whitened RMS baseline / 0-200 ms (noise 1/sqrt(nave)) "
          "| alpha_max per sample, 0-200 ms / baseline |")
    print("|---|---|---|---|")
    est = MultiTaskLasso(1.0, n_orient=3)
    for condition in ("Left Auditory", "Right Auditory", "Left visual", "Right visual"):
        parts = []
        for tmin, tmax in ((-0.2, 0.0), (0.0, 0.2)):
            evoked = read_sample_evoked(DATA, condition, tmin=tmin, tmax=tmax)
            gain, Y = _whitened_problem(problem, evoked)
            parts.append((np.sqrt(np.mean(Y ** 2)), est.alpha_max(gain, Y) / np.sqrt(Y.shape[1])))
        nave = read_sample_evoked(DATA, condition).nave
        print(f"| {condition} | {nave} | {parts[0][0]:.2f} / {parts[1][0]:.2f} "
              f"({1 / np.sqrt(nave):.2f}) | {parts[1][1] / parts[0][1]:.2f} |", flush=True)
    sol = sparse_inverse(problem["evoked"], problem["forward"], problem["cov"], estimator="mtl",
                         alpha="auto", depth=0.8, pick_ori="vector")
    vertno = problem["forward"]["src"][0]["vertno"]
    positions = problem["forward"]["source_rr"][np.searchsorted(vertno, sol.stc.vertices[0])]
    amplitude = np.linalg.norm(sol.stc.data, axis=1)
    to_mni = _head_to_mni()
    print(f"\nLeft Auditory, mtl auto ({sol.alpha_fraction:.3f} alpha_max), strongest source of "
          "each hemisphere:\n")
    print("| hemisphere | MNI (mm) | peak (ms) | distance to Heschl (mm) |")
    print("|---|---|---|---|")
    for hemi, side in (("lh", positions[:, 0] < 0), ("rh", positions[:, 0] > 0)):
        i = int(np.argmax(np.where(side, amplitude.max(axis=1), -1.0)))
        mni = 1e3 * mne.transforms.apply_trans(to_mni, positions[i])
        peak = 1e3 * sol.stc.times[int(np.argmax(amplitude[i]))]
        dist = 1e3 * np.linalg.norm(positions[i] - problem["seeds"][hemi])
        print(f"| {hemi} | ({mni[0]:.0f}, {mni[1]:.0f}, {mni[2]:.0f}) | {peak:.0f} | "
              f"{dist:.0f} |", flush=True)


def _head_to_mni():
    """Head -> MNI transform of the sample subject (through its Talairach transform)."""
    import mne

    from sample_forward_utils import sample_subjects_dir

    subjects_dir = sample_subjects_dir(DATA, tempfile.mkdtemp())
    head_to_mri = mne.read_trans(DATA / "sample_audvis_trunc-trans.fif")
    return mne.transforms.combine_transforms(head_to_mri,
                                             mne.read_talxfm("sample", subjects_dir),
                                             "head", "mni_tal")


def _simulate(gain, src_rr, n_sources, snr, n_epochs, n_times, rng):
    """Epochs of ``n_sources`` free-orientation dipoles >= 30 mm apart + white noise (std 1)."""
    n_src = src_rr.shape[0]
    chosen = []
    while len(chosen) < n_sources:
        i = int(rng.integers(n_src))
        if all(np.linalg.norm(src_rr[i] - src_rr[j]) > 0.03 for j in chosen):
            chosen.append(i)
    B = np.zeros((gain.shape[1], n_times))
    t = np.arange(n_times)
    for i in chosen:
        ori = rng.standard_normal(3)
        centre, width = rng.uniform(0.3, 0.7) * n_times, n_times / 6
        wave = np.exp(-0.5 * ((t - centre) / width) ** 2)
        B[3 * i:3 * i + 3] = ori[:, None] / np.linalg.norm(ori) * wave
    signal = gain @ B
    noise_avg = 1.0 / np.sqrt(n_epochs)
    signal *= snr * noise_avg * np.sqrt(signal.size) / np.linalg.norm(signal)
    epochs = signal[None] + rng.standard_normal((n_epochs,) + signal.shape)
    return epochs, np.array(chosen)


def run_mne_sim_sure(gain, M, n_orient=3, seed=0):
    """MNE's ``mixed_norm(alpha="sure")`` on whitened arrays, step for step with its defaults.

    ``mixed_norm`` whitens the evoked, replaces it by its time PCA (``time_pca=True``), scales
    the gain so that alpha is in percent of ``alpha_max``, then runs ``_compute_mxne_sure``
    (15 alphas from 100 to 10 %, Monte-Carlo finite-difference SURE with ``sigma=1``, two
    solves per alpha, ``debias=True``). The simulated evoked is already whitened with the
    epochs' noise covariance, as ``mixed_norm`` does with the covariance a user passes.
    Returns the active sources (indices), the seconds and the selected alpha (% alpha_max).
    """
    from mne.inverse_sparse.mxne_inverse import _compute_mxne_sure
    from mne.inverse_sparse.mxne_optim import norm_l2inf

    t0, c0 = time.perf_counter(), time.process_time()
    U, s, _ = np.linalg.svd(M, full_matrices=False)
    M = U * s
    tol = 1e-4 * float(np.sum(M ** 2))
    G = gain / (0.01 * norm_l2inf(gain.T @ M, n_orient, copy=False))
    X, active, alpha = _compute_mxne_sure(
        M, G, np.geomspace(100, 10, num=15), sigma=1, n_mxne_iter=1, maxit=3000, tol=tol,
        n_orient=n_orient, active_set_size=10, debias=True, solver="auto", dgap_freq=10,
        rng=np.random.default_rng(seed), verbose=False)
    active = np.flatnonzero(np.asarray(active).reshape(-1, n_orient).any(axis=1))
    return dict(active=active.tolist(), seconds=time.perf_counter() - t0,
                cpu_seconds=time.process_time() - c0, alpha_percent=float(alpha))


def mne_sim_result(gain, M, key):
    """:func:`run_mne_sim_sure` of one simulation, read back from ``results/mne_sim/`` if cached."""
    fname = CACHE / "mne_sim" / f"{key}.json"
    if fname.exists():
        return json.loads(fname.read_text())
    fname.parent.mkdir(parents=True, exist_ok=True)
    result = run_mne_sim_sure(gain, M)
    atomic_write_text(fname, json.dumps(result))
    return result


def _support_scores(active, truth, src_rr, radius=0.010):
    """F1, precision, recall of the active sources, and each true source's distance (m).

    A true source is found when an active source lies within ``radius`` of it; an active
    source is correct when it lies within ``radius`` of a true source. "Within" includes the
    radius up to 1 um: on the 10 mm grid the face neighbours are exactly 10 mm apart, and the
    positions read back from a -fwd.fif (float32) put them at 10 mm +- 1e-9 m, so without the
    tolerance a neighbour counted or not by rounding (MNE's median F1 at 2 sources, SNR 1 was
    0.50 from a freshly computed forward and 0.67 from the cached one).
    """
    est = np.flatnonzero(active)
    if est.size == 0:
        return 0.0, 0.0, 0.0, np.full(truth.size, np.inf)
    dist = np.linalg.norm(src_rr[truth][:, None] - src_rr[est][None], axis=2)
    within = radius + 1e-6
    recall = (dist.min(axis=1) <= within).mean()
    precision = (dist.min(axis=0) <= within).mean()
    f1 = 0.0 if recall + precision == 0 else 2 * recall * precision / (recall + precision)
    return f1, precision, recall, dist.min(axis=1)


def sqrt_mxne_calibrated(sqrt, gain, Y):
    """The square-root Lasso at its alpha calibrated in MxNE units (not ``sparse_inverse``'s default).

    :func:`~neuroopt.sparse.alpha_search.bias_corrected_pivotal_alpha`, with noise simulated with
    the temporal correlation of the data's noise subspace as ``sparse_inverse`` does; the
    elimination, if any, at the fitted noise level.
    """
    from neuroopt.sparse.alpha_search import bias_corrected_pivotal_alpha, time_colour_matrix
    from neuroopt.sparse.criteria import noise_time_correlation

    res = bias_corrected_pivotal_alpha(sqrt, gain, Y,
                                       time_colour=time_colour_matrix(noise_time_correlation(Y)))
    return sqrt.set_params(alpha=res.alpha).fit(gain, Y)


# (alpha method, irMxNE reweightings, backward-elimination level or None, relocation)
SIM_VARIANTS = (("auto", 1, None, False), ("auto", 1, 0.05, False), ("auto", 1, 0.05, True),
                ("auto", 10, None, False), ("sure", 1, None, False), ("cv", 1, None, False),
                ("pivotal", 1, None, False))


def parse_variant(text):
    """``alpha:reweightings:level[:r]`` -> (alpha, reweightings, level or None, relocate)."""
    method, rw, level, *rest = text.split(":")
    return method, int(rw), None if level == "-" else float(level), rest == ["r"]


def simulation_section(*, n_seeds=20, criteria_seeds=None,
                       cells=((2, 1.0), (2, 3.0), (5, 1.0), (5, 3.0)), n_epochs=20, n_times=20,
                       mne_cells=(), variants=SIM_VARIANTS):
    """Support F1 / localisation error of each alpha method on the real 10 mm gain.

    Each variant is an alpha method of the multitask Lasso (``auto``: the quantile universal
    threshold of white noise; ``sure``; ``cv``), ``pivotal`` (the square-root Lasso with its
    own ``alpha="auto"``, which needs no noise level) or ``calibrated`` (the square-root Lasso
    at its alpha calibrated in MxNE units, :func:`sqrt_mxne_calibrated`), the number of irMxNE reweightings
    (``n_reweighting``, log penalty; the table shows ``n_reweighting - 1``), the level
    of the backward elimination (``prune_level``, :mod:`neuroopt.sparse.selection`) and
    whether the sources are relocated (``relocate``). The
    searches (``sure``, ``cv``) run on the first ``criteria_seeds`` seeds only (default: all).
    MNE's ``mixed_norm(alpha="sure")`` (:func:`run_mne_sim_sure`) is read from
    ``results/mne_sim/`` for every seed cached, and computed for the cells of ``mne_cells``
    (``(n_sources, snr)`` pairs; ~1 min per fit).
    """
    from neuroopt.meeg import _mne_private
    from neuroopt.sparse import (
        MultiTaskLasso,
        MultiTaskSqrtLasso,
        quantile_universal_alpha,
        search_alpha,
        warmup,
    )

    warmup()
    criteria_seeds = n_seeds if criteria_seeds is None else criteria_seeds
    problem = load_real(10.0)
    ev = problem["evoked"]
    _, gain, _, _, _ = _mne_private.prepare_gain(problem["forward"], ev.info, problem["cov"],
                                                 depth=0.8, loose="auto", rank=None)
    src_rr = problem["forward"]["source_rr"]
    print(f"\n### Simulations, real 10 mm gain ({gain.shape[1] // 3} sources, free orientation), "
          f"{n_epochs} epochs x {n_times} samples, white noise; {n_seeds} seeds per cell "
          f"({criteria_seeds} for sure / cv)\n")
    print("| sources | SNR | alpha | reweightings | elimination | relocation | seeds | median F1 "
          "| median precision | median recall | median loc. error (mm) | median active "
          "| mean CPU s |")
    print("|---|---|---|---|---|---|---|---|---|---|---|---|---|")
    overall = {}
    for k, snr in cells:
        stats = {}
        for seed in range(n_seeds):
            rng = np.random.default_rng(1000 * k + seed)
            epochs, truth = _simulate(gain, src_rr, k, snr, n_epochs, n_times, rng)
            Y = epochs.mean(axis=0)
            noise_std = 1 / np.sqrt(n_epochs)
            est = MultiTaskLasso(n_orient=3, noise_std=noise_std)
            alphas = {}
            for method, rw, level, relocate in variants:
                name = (method, rw, level, relocate)
                if method in ("sure", "cv") and seed >= criteria_seeds:
                    continue
                t0 = time.process_time()
                if method in ("pivotal", "calibrated"):
                    sqrt = MultiTaskSqrtLasso(n_orient=3, n_reweighting=rw, prune_level=level,
                                              relocate=relocate)
                    # "pivotal": the estimator's own "auto"; "calibrated": in MxNE units
                    fit = (sqrt.fit(gain, Y) if method == "pivotal"
                           else sqrt_mxne_calibrated(sqrt, gain, Y))
                    *scores, errors = _support_scores(fit.active_set_, truth, src_rr)
                    stats.setdefault(name, []).append(
                        (*scores, np.median(errors) * 1e3, fit.active_set_.sum(),
                         time.process_time() - t0))
                    continue
                if method not in alphas:
                    if method == "auto":
                        alpha = quantile_universal_alpha(est, gain, Y.shape,
                                                         noise_std=noise_std)
                    else:
                        alpha = search_alpha(est, gain, Y if method == "sure" else epochs,
                                             criterion=method, noise_std=noise_std).alpha
                    alphas[method] = (alpha, time.process_time() - t0)
                alpha, t_alpha = alphas[method]
                t1 = time.process_time()
                fit = MultiTaskLasso(alpha, n_orient=3, noise_std=noise_std,
                                     n_reweighting=rw, prune_level=level,
                                     relocate=relocate).fit(gain, Y)
                seconds = t_alpha + time.process_time() - t1
                *scores, errors = _support_scores(fit.active_set_, truth, src_rr)
                stats.setdefault(name, []).append(
                    (*scores, np.median(errors) * 1e3, fit.active_set_.sum(), seconds))
            key = f"k{k}_snr{snr:g}_seed{seed}"
            if (k, snr) in mne_cells or (CACHE / "mne_sim" / f"{key}.json").exists():
                res = mne_sim_result(gain, Y, key)
                active = np.zeros(gain.shape[1] // 3, bool)
                active[res["active"]] = True
                *scores, errors = _support_scores(active, truth, src_rr)
                stats.setdefault(("MNE mixed_norm sure", 1, None, False), []).append(
                    (*scores, np.median(errors) * 1e3, active.sum(), res.get("cpu_seconds", np.nan)))
        for (method, rw, level, relocate), rows in stats.items():
            v = np.array(rows, dtype=float)
            overall.setdefault((method, rw, level, relocate), []).append(v)
            print(f"| {k} | {snr:g} | {method} | {rw - 1} | {level or '-'} | "
                  f"{'yes' if relocate else '-'} | {len(v)} | "
                  f"{np.median(v[:, 0]):.2f} | {np.median(v[:, 1]):.2f} | "
                  f"{np.median(v[:, 2]):.2f} | {np.median(v[:, 3]):.1f} | "
                  f"{np.median(v[:, 4]):.0f} | {np.mean(v[:, 5]):.1f} |", flush=True)
    print("\nAll cells pooled:\n")
    print("| alpha | reweightings | elimination | relocation | fits | median F1 | mean F1 "
          "| median loc. error (mm) |")
    print("|---|---|---|---|---|---|---|---|")
    for (method, rw, level, relocate), parts in overall.items():
        v = np.concatenate(parts)
        print(f"| {method} | {rw - 1} | {level or '-'} | {'yes' if relocate else '-'} | "
              f"{len(v)} | {np.median(v[:, 0]):.2f} | "
              f"{np.mean(v[:, 0]):.2f} | {np.median(v[:, 3]):.1f} |", flush=True)


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mne", action="store_true",
                        help="use the cached MNE result instead of running MNE (~6 min idle); "
                             "without a cache, the real-data table has no MNE row")
    parser.add_argument("--mne-only", action="store_true", help="run and cache MNE's SURE only")
    parser.add_argument("--skip-sim", action="store_true", help="skip the simulations")
    parser.add_argument("--skip-real", action="store_true", help="skip the real-data table")
    parser.add_argument("--grids", type=float, nargs="+", default=[10.0, 5.0],
                        help="volume grid spacings (mm) of the real-data table")
    parser.add_argument("--methods", nargs="+", default=["auto", "sure"],
                        help="alpha methods of the real-data table")
    parser.add_argument("--condition", default="Left Auditory",
                        help="condition of the real-data table (e.g. 'Right Auditory')")
    parser.add_argument("--estimators", nargs="+", default=["mtl", "sqrt", "sgcl"],
                        help="estimators of the real-data table")
    parser.add_argument("--real-selection", action="store_true",
                        help="real-data table: each fit also with prune_level=0.05, relocate=True")
    parser.add_argument("--skip-evidence", action="store_true",
                        help="skip the evidence table after the real-data table")
    parser.add_argument("--n-seeds", type=int, default=20, help="seeds per simulation cell")
    parser.add_argument("--criteria-seeds", type=int, default=None,
                        help="seeds per cell for the sure / cv searches (default: --n-seeds)")
    parser.add_argument("--sim-variants", nargs="+", default=None,
                        help="simulation variants alpha:reweightings:level[:r] (r: relocation), "
                             "e.g. auto:1:- auto:1:0.05 auto:1:0.05:r sure:1:- "
                             "(default: SIM_VARIANTS)")
    parser.add_argument("--sim-cells", nargs="+", default=["2:1", "2:3", "5:1", "5:3"],
                        help="simulation cells n_sources:snr")
    parser.add_argument("--mne-cells", nargs="*", default=["2:1", "5:3"],
                        help="simulation cells n_sources:snr where MNE's SURE is computed "
                             "(others: read from the cache when present)")
    args = parser.parse_args()
    if args.mne_only:
        result, origin = mne_result(10.0, recompute=True)
        print(json.dumps(result, indent=1), origin)
        return
    if not args.skip_real:
        mne_res, origin = mne_result(10.0, recompute=not args.skip_mne,
                                     required=not args.skip_mne)
        real_data_section(mne_res, origin, positions=tuple(args.grids),
                          methods=tuple(args.methods), condition=args.condition,
                          estimators=tuple(args.estimators), selection=args.real_selection)
        if not args.skip_evidence:
            data_support_section(min(args.grids))
    if not args.skip_sim:
        cells = [(int(c.split(":")[0]), float(c.split(":")[1])) for c in args.mne_cells]
        variants = SIM_VARIANTS if args.sim_variants is None else tuple(
            parse_variant(v) for v in args.sim_variants)
        sim_cells = [(int(c.split(":")[0]), float(c.split(":")[1])) for c in args.sim_cells]
        simulation_section(n_seeds=args.n_seeds, criteria_seeds=args.criteria_seeds,
                           mne_cells=cells, variants=variants, cells=sim_cells)


if __name__ == "__main__":
    main()
