"""Benchmark of neuroopt.sparse against MNE, celer, skglm and scikit-learn on the real sample gain.

Usage::

    python benchmarks/bench_sparse.py [--quick] [--only path|concomitant|multitask]
        [--problem mxne|visual]

Problems: ``mxne`` (default) is the one ``mne.inverse_sparse.mixed_norm`` solves on the sample
data (Left Auditory, gain whitened and depth-weighted by MNE's own preparation; see
``sample_mxne.py``); ``visual`` is Left visual with the whitened gain and no depth weighting.

Prints Markdown tables (seconds, best of several runs, relative duality gap certified by
neuroopt's own gap function for every library). The forward model (volume source space on a
5 mm grid, MEG only, whitened with the noise covariance) is built once (~1 min) and cached in
``benchmarks/results/`` (gitignored).
"""

from __future__ import annotations

import argparse
import contextlib
import time
from pathlib import Path

import numpy as np

from neuroopt.utils import atomic_path, pin_blas_threads

pin_blas_threads(1)

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "meg_sample"
CACHE = Path(__file__).resolve().parent / "results"


def load_sample_problem(pos=5.0, condition="Left visual", tmin=0.0, tmax=0.2):
    """Whitened free-orientation gain, whitened evoked data and sensor types of the sample subject.

    Returns a dict with ``G_free`` (n_sensors, 3 * n_sources), ``G_fixed`` (n_sensors, n_sources),
    ``M`` (n_sensors, n_times), ``ch_types`` (n_sensors,) and ``src_pos`` (n_sources, 3). The
    fixed-orientation gain is derived from the free one (no cortical surface is available): for
    each source we keep the orientation of largest gain (first right singular vector of its
    n_sensors x 3 block), so it has the size of a fixed-orientation problem, not its anatomy.
    """
    import mne

    cache = CACHE / f"sample_gain_pos{pos:g}_{condition.replace(' ', '_')}.npz"
    if cache.exists():
        loaded = np.load(cache)
        return {key: loaded[key] for key in loaded.files}
    evoked = mne.read_evokeds(DATA / "test-ave.fif.gz", condition=condition, verbose=False)
    evoked.pick("meg", exclude="bads")
    noise_cov = mne.read_cov(DATA / "test-cov.fif", verbose=False)
    trans = DATA / "sample_audvis_trunc-trans.fif"
    bem = mne.read_bem_solution(DATA / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    src = mne.setup_volume_source_space(None, pos=pos, bem=bem, verbose=False)
    fwd = mne.make_forward_solution(evoked.info, trans, src, bem, meg=True, eeg=False,
                                    verbose=False)
    fwd = mne.convert_forward_solution(fwd, surf_ori=False, force_fixed=False, verbose=False)
    info = evoked.info
    gain_names = fwd["sol"]["row_names"]
    picks = [info["ch_names"].index(name) for name in gain_names]
    whitener, _ = mne.cov.compute_whitener(noise_cov, info, picks=picks, pca=True, verbose=False)
    gain = whitener @ fwd["sol"]["data"]
    evoked.crop(tmin, tmax)
    data = whitener @ evoked.data[picks]
    n_sources = gain.shape[1] // 3
    fixed = np.empty((gain.shape[0], n_sources))
    for k in range(n_sources):
        block = gain[:, 3 * k:3 * k + 3]
        u, s, _ = np.linalg.svd(block, full_matrices=False)
        fixed[:, k] = u[:, 0] * s[0]
    ch_types = np.array(evoked.get_channel_types(picks=picks))
    # the whitener mixes channels (PCA); keep each output row's dominant input channel type
    dominant = np.abs(whitener).argmax(axis=1)
    out = dict(G_free=gain, G_fixed=fixed, M=data, ch_types=ch_types[dominant],
               src_pos=fwd["source_rr"])
    with atomic_path(cache, suffix=".npz") as tmp:
        np.savez(tmp, **out)
    return out



# --------------------------------------------------------------------------------------------
# certificates, shared by every library


def objective(X, Y, B, alpha, n_orient):
    """MultiTaskLasso objective (neuroopt scaling) at B (n_features, n_times)."""
    from neuroopt.sparse.penalties import group_norms

    R = Y - X @ B
    return float(np.vdot(R, R)) / (2 * X.shape[0]) + alpha * float(group_norms(B, n_orient).sum())


CPU_SECONDS = {}  # best CPU seconds of the last best_of call ("last"), for loaded machines


def best_of(fn, repeats):
    """Run ``fn`` ``repeats`` times; return (best wall seconds, last result).

    The best CPU seconds (``time.process_time``) of the same runs are left in
    ``CPU_SECONDS["last"]``: on a loaded machine wall times are inflated, CPU times much less.
    """
    best, best_cpu, out = np.inf, np.inf, None
    for _ in range(repeats):
        t0, c0 = time.perf_counter(), time.process_time()
        out = fn()
        best = min(best, time.perf_counter() - t0)
        best_cpu = min(best_cpu, time.process_time() - c0)
    CPU_SECONDS["last"] = best_cpu
    return best, out


def _repeats(first_seconds, quick):
    return 1 if quick or first_seconds > 5 else 2


# --------------------------------------------------------------------------------------------
# runners: each returns B (n_features, n_times) and library-specific info


def run_neuroopt(X, Y, alpha, n_orient, tol):
    from neuroopt.sparse import MultiTaskLasso

    est = MultiTaskLasso(alpha, n_orient=n_orient, tol=tol).fit(X, Y)
    return est.coef_.T, {"passes": f"{est.n_gradient_passes_}+{est.n_gram_passes_}g",
                         "gap": est.dual_gap_ / est.objective_at_zero_,
                         "epochs": est.n_epochs_}


PHASES = ("bcd", "newton", "ws_gram")


@contextlib.contextmanager
def timed_phases():
    """Accumulate the CPU seconds and calls of neuroopt's solver phases while active.

    Yields a dict filled with ``key: (cpu seconds, calls)`` for ``bcd`` (numba epochs),
    ``newton`` (Newton steps on the support) and ``ws_gram`` (working-set Gram matrices); the
    rest of a solve is passes over X (gaps, screening), Anderson steps and gap checks.
    """
    from neuroopt.sparse.solvers import gram, working_set

    acc = {}
    patched = [(working_set, "bcd_gram_epochs", "bcd"),
               (working_set, "support_newton_step", "newton"),
               (gram._WorkingSetGram, "set_columns", "ws_gram"),
               (gram._WorkingSetGram, "metric", "ws_gram")]
    originals = [getattr(obj, name) for obj, name, _ in patched]

    def timed(fn, key):
        def inner(*args, **kwargs):
            t0 = time.process_time()
            try:
                return fn(*args, **kwargs)
            finally:
                cpu, calls = acc.get(key, (0.0, 0))
                acc[key] = (cpu + time.process_time() - t0, calls + 1)
        return inner

    for (obj, name, key), fn in zip(patched, originals):
        setattr(obj, name, timed(fn, key))
    try:
        yield acc
    finally:
        for (obj, name, _), fn in zip(patched, originals):
            setattr(obj, name, fn)


def neuroopt_phases(X, Y, alpha, n_orient, tol):
    """CPU seconds of each phase of one neuroopt solve (a separate, instrumented run).

    Returns a dict: ``total``, ``bcd`` (numba epochs, with their count), ``newton`` (Newton
    steps on the support, with their count), ``ws_gram`` (working-set Gram matrices),
    ``other`` (passes over X for the gap and screening, Anderson steps, gap checks) and
    ``trace``, the solver's :class:`~neuroopt.sparse.solvers.working_set.OuterStep` list.
    """
    from neuroopt.sparse import MultiTaskLasso, _base

    results = []
    original = _base.solve_working_set

    def solve(*args, **kwargs):
        results.append(original(*args, **kwargs))
        return results[-1]

    _base.solve_working_set = solve
    try:
        with timed_phases() as acc:
            t0 = time.process_time()
            MultiTaskLasso(alpha, n_orient=n_orient, tol=tol).fit(X, Y)
            total = time.process_time() - t0
    finally:
        _base.solve_working_set = original
    out = {"total": (total, 1)}
    out.update({key: acc.get(key, (0.0, 0)) for key in PHASES})
    out["other"] = (total - sum(out[k][0] for k in PHASES), 1)
    out["trace"] = [step for res in results for step in res.trace]
    return out


def table_outer_trace(rows):
    """Per outer iteration of neuroopt's solver, for each case (the instrumented run)."""
    lines = ["| case | rho | outer | groups kept | X^T Theta from | violating outside the "
             "last working set | inner gap (rel.) | outer gap (rel.) | next working set "
             "(added) | epochs | CPU s: evaluation / working-set problem |",
             "|---|---|---|---|---|---|---|---|---|---|---|"]
    for row in rows:
        P0 = row["P0"]
        for step in row["phases"]["trace"]:
            lines.append(
                f"| {row['case']} | {row['rho']} | {step.n_iter} | {step.n_kept} | "
                f"{step.source} | {step.n_violating_outside} | {step.inner_gap / P0:.1e} | "
                f"{step.gap / P0:.1e} | {step.ws_size} ({step.n_added}) | {step.epochs} | "
                f"{step.eval_cpu:.4f} / {step.inner_cpu:.4f} |")
    return "\n".join(lines)


def run_mne(X, Y, alpha, n_orient, tol, active_set_size):
    from mne.inverse_sparse.mxne_optim import mixed_norm_solver

    n = X.shape[0]
    P0 = float(np.vdot(Y, Y)) / (2 * n)
    # MNE minimises 0.5 ||M - G X||^2 + alpha ||X||_21 (absolute gap tol): both n times ours
    sol, active, _, gap = mixed_norm_solver(
        Y, X, alpha * n, maxit=3000, tol=tol * P0 * n, active_set_size=active_set_size,
        debias=False, n_orient=n_orient, solver="bcd", return_gap=True, verbose=False)
    B = np.zeros((X.shape[1], Y.shape[1]))
    B[active] = sol
    return B, {"gap": gap / (n * P0)}


def run_celer(X, Y, alpha, tol):
    from celer.homotopy import mtl_path

    # celer stops when gap <= tol * ||Y||^2 / n = 2 tol * P0
    _, coefs, gaps = mtl_path(X, Y, alphas=[alpha], tol=tol / 2, max_epochs=200_000,
                              max_iter=200)
    n = X.shape[0]
    return np.ascontiguousarray(coefs[:, :, 0].T), {
        "gap": gaps[0] / (float(np.vdot(Y, Y)) / (2 * n))}


def run_skglm(X, Y, alpha, tol):
    from skglm import MultiTaskLasso as SkglmMTL

    est = SkglmMTL(alpha, fit_intercept=False, tol=tol, max_iter=200, max_epochs=200_000)
    est.fit(X, Y)
    return np.ascontiguousarray(est.coef_.T), {"kkt": est.stopping_crit}


def run_sklearn(X, Y, alpha, tol):
    from sklearn.linear_model import MultiTaskLasso as SkMTL

    # sklearn stops when its gap (n times ours) <= tol ||Y||^2, i.e. ours <= 2 tol P0
    est = SkMTL(alpha, fit_intercept=False, tol=tol / 2, max_iter=100_000).fit(X, Y)
    return np.ascontiguousarray(est.coef_.T), {}


def time_to_target(run, X, Y, alpha, n_orient, p_star, P0, target, quick, ladder=None,
                   time_cap=None):
    """Best time of ``run`` to reach (P - P*) / P0 <= target.

    Libraries with a gap certificate are run once at the tolerance matching ``target``; for
    the others (``ladder`` of tolerances) the loosest tolerance that reaches the target
    suboptimality is timed. Returns (seconds or nan, subopt, info).
    """
    tols = ladder if ladder is not None else [target]
    for tol in tols:
        t_first, (B, info) = best_of(lambda: run(tol), 1)
        cpu = CPU_SECONDS["last"]
        subopt = (objective(X, Y, B, alpha, n_orient) - p_star) / P0
        if subopt <= target * 1.0001 or ladder is None:
            reps = _repeats(t_first, quick)
            t_best = t_first
            if reps > 1:
                t2, _ = best_of(lambda: run(tol), reps - 1)
                t_best = min(t_first, t2)
                cpu = min(cpu, CPU_SECONDS["last"])
            info = dict(info, tol=tol, cpu=cpu)
            return t_best, subopt, info
        if time_cap is not None and t_first > time_cap:
            break
    return np.nan, subopt, dict(info, tol=tol, cpu=np.nan)


def fmt_time(t):
    return "-" if not np.isfinite(t) else (f"{t:.3f}" if t < 1 else f"{t:.2f}")


def bench_multitask_lasso(problem, quick, rhos, target=1e-6):
    """Rows of the MultiTaskLasso table (times in seconds)."""
    from neuroopt.sparse import MultiTaskLasso

    Y = np.ascontiguousarray(problem["M"])
    rows = []
    cases = [("fixed", problem["G_fixed"], 1), ("free", problem["G_free"], 3)]
    for name, X, n_orient in cases:
        X = np.ascontiguousarray(X)
        n, p = X.shape
        P0 = float(np.vdot(Y, Y)) / (2 * n)
        amax = MultiTaskLasso(n_orient=n_orient).alpha_max(X, Y)
        # one full pass X^T Y, the cost unit: times divided by it are pass-equivalents
        pass_s, _ = best_of(lambda: X.T @ Y, 5)
        for rho in rhos:
            alpha = rho * amax
            # reference optimum from a tight solve (its own certified gap is reported)
            ref = MultiTaskLasso(alpha, n_orient=n_orient, tol=1e-10, max_iter=500).fit(X, Y)
            p_star = ref.primal_
            ours_t, (B, info) = best_of(lambda: run_neuroopt(X, Y, alpha, n_orient, target),
                                        1 if quick else 3)
            row = {"case": f"{name} {n}x{p}", "rho": rho, "ours": ours_t,
                   "ours_cpu": CPU_SECONDS["last"], "epochs": info["epochs"],
                   "phases": neuroopt_phases(X, Y, alpha, n_orient, target),
                   "ours_gap": info["gap"], "passes": info["passes"],
                   "active": int((np.abs(B).sum(axis=1) > 0).sum()) // n_orient,
                   "pass_s": pass_s, "P0": P0}
            anchors = {}
            for as_size, label in ((50, "mne_as50"), (10, "mne_as10")):
                if quick and as_size == 10:
                    continue
                t, sub, inf = time_to_target(
                    lambda tol, a=as_size: run_mne(X, Y, alpha, n_orient, tol, a),
                    X, Y, alpha, n_orient, p_star, P0, target, quick)
                anchors[label] = (t, sub, inf.get("gap"), inf["cpu"])
            if n_orient == 1:
                t, sub, inf = time_to_target(lambda tol: run_celer(X, Y, alpha, tol),
                                             X, Y, alpha, 1, p_star, P0, target, quick)
                anchors["celer"] = (t, sub, inf.get("gap"), inf["cpu"])
                t, sub, inf = time_to_target(lambda tol: run_skglm(X, Y, alpha, tol),
                                             X, Y, alpha, 1, p_star, P0, target, quick,
                                             ladder=[1e-4, 1e-5, 1e-6, 1e-7, 1e-8, 1e-9])
                anchors["skglm"] = (t, sub, inf.get("tol"), inf["cpu"])
                if not quick and rho >= 0.2:
                    t, sub, inf = time_to_target(lambda tol: run_sklearn(X, Y, alpha, tol),
                                                 X, Y, alpha, 1, p_star, P0, target, quick)
                    anchors["sklearn"] = (t, sub, None, inf["cpu"])
            row["anchors"] = anchors
            row["ref_gap"] = ref.dual_gap_ / ref.objective_at_zero_
            rows.append(row)
            print(f"  done {name} rho={rho}: ours {ours_t:.3f}s", flush=True)
    return rows


def table_multitask_lasso(rows):
    names = ["mne_as50", "mne_as10", "celer", "skglm", "sklearn"]
    head = ("| case | rho | neuroopt s | passes (+cached) | rel. gap | active | "
            + " | ".join(f"{n} s (subopt)" for n in names)
            + " | x MNE best | x celer | x skglm | one pass s | pass-equiv. neuroopt / MNE best |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        anc = row["anchors"]
        cells = []
        for nm in names:
            if nm in anc:
                t, sub = anc[nm][:2]
                cells.append(f"{fmt_time(t)} ({sub:.1e})")
            else:
                cells.append("n/a")
        mne_best = np.nanmin([anc[k][0] for k in ("mne_as50", "mne_as10") if k in anc])

        def ratio(t):
            return f"{t / row['ours']:.1f}" if np.isfinite(t) else "-"
        lines.append(
            f"| {row['case']} | {row['rho']} | {fmt_time(row['ours'])} | {row['passes']} | "
            f"{row['ours_gap']:.1e} | {row['active']} | " + " | ".join(cells)
            + f" | {ratio(mne_best)} | {ratio(anc['celer'][0]) if 'celer' in anc else 'n/a'} | "
            f"{ratio(anc['skglm'][0]) if 'skglm' in anc else 'n/a'} | {row['pass_s']:.4f} | "
            f"{row['ours'] / row['pass_s']:.1f} / {mne_best / row['pass_s']:.0f} |")
    return "\n".join(lines)


def table_cpu_and_phases(rows):
    """CPU seconds (best of the same runs) and ratios, then neuroopt's phases per case."""
    names = ["mne_as50", "mne_as10", "celer", "skglm"]
    head = ("| case | rho | neuroopt CPU s | epochs | " + " | ".join(f"{n} CPU s" for n in names)
            + " | x MNE best (CPU) | x celer (CPU) | x skglm (CPU) | phases CPU s: bcd (epochs) /"
            " newton (attempts) / ws Gram / other (passes, gaps, Anderson) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for row in rows:
        anc, ours = row["anchors"], row["ours_cpu"]
        cpu = {nm: anc[nm][3] if nm in anc else np.nan for nm in names}
        mne_best = np.nanmin([cpu["mne_as50"], cpu["mne_as10"]])

        def ratio(t):
            return f"{t / ours:.1f}" if np.isfinite(t) else "-"
        ph = row["phases"]
        lines.append(
            f"| {row['case']} | {row['rho']} | {fmt_time(ours)} | {row['epochs']} | "
            + " | ".join(fmt_time(cpu[nm]) for nm in names)
            + f" | {ratio(mne_best)} | {ratio(cpu['celer'])} | {ratio(cpu['skglm'])} | "
            f"{ph['bcd'][0]:.2f} ({ph['bcd'][1]}) / {ph['newton'][0]:.2f} ({ph['newton'][1]}) / "
            f"{ph['ws_gram'][0]:.2f} / {ph['other'][0]:.2f} of {ph['total'][0]:.2f} |")
    return "\n".join(lines)


def path_phases(X, Y, estimator, n_alphas, eps):
    """Per-alpha cost of one instrumented ``lasso_path`` run (CPU seconds).

    Returns ``(rows, total, output)``: one dict per alpha (``ratio`` = alpha / alpha_max,
    ``active`` groups, outer ``iters``, ``passes`` reading X, ``cached`` passes served by the
    gradient cache, ``epochs``, ``cpu`` of the solve and its phases ``bcd`` / ``newton`` /
    ``ws_gram`` / ``other``), the path's CPU seconds and those outside the solves (the spectral
    norms of the groups and writing the dense ``coefs``).
    """
    from neuroopt.sparse import _base, lasso_path
    from neuroopt.sparse.penalties import group_norms

    rows = []
    original = _base.solve_working_set

    def solve(X_, Y_, datafit, penalty, *args, **kwargs):
        before = {key: acc.get(key, (0.0, 0))[0] for key in PHASES}
        t0 = time.process_time()
        res = original(X_, Y_, datafit, penalty, *args, **kwargs)
        cpu = time.process_time() - t0
        row = {"alpha": penalty.alpha, "cpu": cpu, "iters": res.n_iter,
               "passes": res.n_gradient_passes, "cached": res.n_gram_passes,
               "epochs": res.n_epochs,
               "active": int((group_norms(res.B, penalty.n_orient) > 0).sum())}
        for key in PHASES:
            row[key] = acc.get(key, (0.0, 0))[0] - before[key]
        row["other"] = cpu - sum(row[key] for key in PHASES)
        rows.append(row)
        return res

    _base.solve_working_set = solve
    try:
        with timed_phases() as acc:
            t0 = time.process_time()
            alphas = lasso_path(X, Y, n_alphas=n_alphas, eps=eps, estimator=estimator)[0]
            total = time.process_time() - t0
    finally:
        _base.solve_working_set = original
    for row in rows:
        row["ratio"] = row["alpha"] / alphas[0]
    return rows, total, total - sum(row["cpu"] for row in rows)


def table_path_phases(rows, total, output):
    """Markdown table of :func:`path_phases`."""
    lines = ["| alpha / alpha_max | active | outer iters | passes (+cached) | epochs | CPU s | "
             "bcd / newton / ws Gram / other (passes, gaps) |", "|---|---|---|---|---|---|---|"]
    for row in rows:
        lines.append(
            f"| {row['ratio']:.3f} | {row['active']} | {row['iters']} | "
            f"{row['passes']}+{row['cached']}g | {row['epochs']} | {row['cpu']:.3f} | "
            f"{row['bcd']:.2f} / {row['newton']:.2f} / {row['ws_gram']:.2f} / "
            f"{row['other']:.2f} |")
    sums = {key: sum(row[key] for row in rows)
            for key in ("iters", "passes", "cached", "epochs", "cpu") + PHASES + ("other",)}
    lines.append(
        f"| all | | {sums['iters']} | {sums['passes']}+{sums['cached']}g | {sums['epochs']} | "
        f"{sums['cpu']:.2f} | {sums['bcd']:.2f} / {sums['newton']:.2f} / {sums['ws_gram']:.2f}"
        f" / {sums['other']:.2f} |")
    lines.append(f"\nPath CPU {total:.2f} s: the solves {sums['cpu']:.2f} s, the rest (group "
                 f"spectral norms, writing the dense coefs) {output:.2f} s.")
    return "\n".join(lines)


def bench_path(problem, quick, n_alphas=20, alpha_min_ratio=0.1):
    from neuroopt.sparse import MultiTaskLasso, lasso_path

    Y = np.ascontiguousarray(problem["M"])
    lines = ["| case | n_alphas | alpha range | neuroopt path s | CPU s | total passes (reading X) | "
             "max rel. gap |",
             "|---|---|---|---|---|---|---|"]
    phases = []
    for name, X, n_orient in (("fixed", problem["G_fixed"], 1), ("free", problem["G_free"], 3)):
        X = np.ascontiguousarray(X)
        est = MultiTaskLasso(n_orient=n_orient, tol=1e-6)
        P0 = float(np.vdot(Y, Y)) / (2 * X.shape[0])
        t, (alphas, _, gaps, extras) = best_of(
            lambda: lasso_path(X, Y, n_alphas=n_alphas, eps=alpha_min_ratio, estimator=est,
                               return_extras=True), 1 if quick else 2)
        passes = extras["n_gradient_passes"]
        lines.append(f"| {name} {X.shape[0]}x{X.shape[1]} | {n_alphas} | 1 .. {alpha_min_ratio}"
                     f" x alpha_max | {fmt_time(t)} | {fmt_time(CPU_SECONDS['last'])} | "
                     f"{int(passes.sum())} | "
                     f"{(gaps / P0).max():.1e} |")
        if n_orient == 3:
            phases.append("\nPer alpha, free orientation (one separate instrumented run, CPU "
                          "seconds):\n\n" + table_path_phases(
                              *path_phases(X, Y, est, n_alphas, alpha_min_ratio)))
    return "\n".join(lines + phases)


def _concomitant_objective(est_cls, X, Y, B, alpha, kwargs):
    """Objective of a concomitant estimator at B, with the noise minimised in closed form."""
    from neuroopt.sparse.penalties import group_norms

    est = est_cls(alpha, **kwargs)
    prepared = est._prepare(X, Y)
    datafit = prepared[-1]
    datafit.initialize(prepared[1])
    R = prepared[1] - X @ B
    return datafit.value(R) + alpha * float(group_norms(B, kwargs.get("n_orient", 1)).sum())


def composed_skglm(X, Y, alpha, group_index, sigma_min, tol_inner, stop, max_outer=100):
    """What a user can build today: skglm's multitask BCD, warm-started, alternated with the
    closed-form noise updates of SGCL (one group: the square-root Lasso).

    With the noise levels fixed the SGCL objective times T is a MultiTaskLasso on the rows of
    X and Y divided by sqrt(sigma_k), with alpha' = alpha * T.
    """
    from skglm.datafits import QuadraticMultiTask
    from skglm.penalties import L2_1
    from skglm.solvers import MultiTaskBCD

    n, T = Y.shape
    sizes = np.bincount(group_index)
    W = None

    def noise(R):
        sq = np.bincount(group_index, weights=(R ** 2).sum(axis=1))
        return np.maximum(sigma_min, np.sqrt(sq / (sizes * T)))

    sig = noise(Y)
    for it in range(max_outer):
        w = 1.0 / np.sqrt(sig[group_index])
        Xt = np.asfortranarray(X * w[:, None])
        Yt = Y * w[:, None]
        XW = None if W is None else Xt @ W
        solver = MultiTaskBCD(max_iter=200, max_epochs=100_000, tol=tol_inner, fit_intercept=False,
                              warm_start=W is not None)
        W, _, _ = solver.solve(Xt, Yt, QuadraticMultiTask(), L2_1(alpha * T), W, XW)
        W = np.ascontiguousarray(W)
        sig = noise(Y - X @ W)
        if stop(W):
            return W, it + 1
    return W, max_outer


def bench_concomitant(problem, quick, rhos, target=1e-6):
    from neuroopt.sparse import SGCL, CLaR, MultiTaskLasso, MultiTaskSqrtLasso

    Y = np.ascontiguousarray(problem["M"])
    X = np.ascontiguousarray(problem["G_fixed"])
    n, T = Y.shape
    types = problem["ch_types"]
    lines = ["| estimator | rho | neuroopt s | passes (+cached) | rel. gap | noise | MTL s (same rho) | "
             "x MTL | composed skglm s (subopt, inner tol) | x composed |",
             "|---|---|---|---|---|---|---|---|---|---|"]
    amax_mtl = MultiTaskLasso().alpha_max(X, Y)
    specs = [("MultiTaskSqrtLasso", MultiTaskSqrtLasso, {}, np.zeros(n, dtype=int)),
             ("SGCL (mag/grad)", SGCL, {"sensor_groups": types},
              np.unique(types, return_inverse=True)[1])]
    for label, cls, kwargs, gidx in specs:
        amax = cls(**kwargs).alpha_max(X, Y)
        for rho in rhos:
            alpha = rho * amax
            ref = cls(alpha, tol=1e-10, max_iter=500, **kwargs).fit(X, Y)
            P0 = ref.objective_at_zero_
            t, est = best_of(lambda: cls(alpha, tol=target, **kwargs).fit(X, Y),
                             1 if quick else 3)
            noise = (f"sigma={est.sigma_:.3f}" if hasattr(est, "sigma_")
                     else "sigmas=" + "/".join(f"{s:.3f}" for s in est.sigmas_))
            t_mtl, _ = best_of(lambda: MultiTaskLasso(rho * amax_mtl, tol=target).fit(X, Y),
                               1 if quick else 2)

            def stop(W):
                obj = _concomitant_objective(cls, X, Y, W, alpha, kwargs)
                return (obj - ref.primal_) / P0 <= target

            best = (np.nan, np.nan, None)
            for tol_in in ([1e-6] if quick else [1e-5, 1e-6, 1e-7, 1e-8]):
                t_c, (W, _) = best_of(
                    lambda: composed_skglm(X, Y, alpha, gidx, est.sigma_min, tol_in, stop), 1)
                sub = (_concomitant_objective(cls, X, Y, W, alpha, kwargs) - ref.primal_) / P0
                if sub <= target and not (best[0] <= t_c):
                    best = (t_c, sub, tol_in)
                    break
                best = best if np.isfinite(best[0]) else (np.nan, sub, tol_in)
            t_c, sub, tol_in = best
            lines.append(
                f"| {label} | {rho} | {fmt_time(t)} | "
                f"{est.n_gradient_passes_}+{est.n_gram_passes_}g | "
                f"{est.dual_gap_ / est.objective_at_zero_:.1e} | {noise} | {fmt_time(t_mtl)} | "
                f"{t / t_mtl:.2f} | {fmt_time(t_c)} ({sub:.1e}, {tol_in}) | "
                f"{(t_c / t) if np.isfinite(t_c) else float('nan'):.1f} |")
            print(f"  done {label} rho={rho}", flush=True)
    # CLaR on simulated repetitions with the real gain (the sample data has no epochs), with
    # unit-norm gain columns (full depth weighting, as sparse_inverse applies): on the raw gain
    # deep sources need large coefficients and no L21 estimator finds them (bench_clar.py
    # shows MultiTaskLasso failing the same way; it also compares CLaR with a composed anchor)
    X = X / np.linalg.norm(X, axis=0)
    rng = np.random.default_rng(0)
    n_epochs = 20
    support = rng.choice(X.shape[1], 5, replace=False)
    W_true = np.zeros((X.shape[1], T))
    W_true[support] = 10 * rng.standard_normal((5, T))  # sensor-space norm 10 per source
    noise_scale = np.where(types == "mag", 2.0, 1.0)[:, None]
    reps = (X @ W_true)[None] + noise_scale * rng.standard_normal((n_epochs, n, T))
    clar = CLaR(sigma_min=1e-3)
    amax = clar.alpha_max(X, reps)
    for rho in rhos[:1] if quick else rhos:
        t, est = best_of(lambda: CLaR(rho * amax, sigma_min=1e-3, tol=target).fit(X, reps),
                         1 if quick else 2)
        found = np.flatnonzero(est.active_set_)
        src_pos = problem["src_pos"]
        near = sum(np.linalg.norm(src_pos[found] - src_pos[s], axis=1).min() <= 0.0101
                   for s in support) if found.size else 0
        lines.append(
            f"| CLaR ({n_epochs} simulated epochs) | {rho} | {fmt_time(t)} | "
            f"{est.n_gradient_passes_}+{est.n_gram_passes_}g | "
            f"{est.dual_gap_ / est.objective_at_zero_:.1e} | "
            f"true sources: {np.isin(support, found).sum()}/5 exact, {near}/5 within 1 cm, "
            f"{found.size} active | "
            "- | - | see bench_clar.py (the authors' code is not on PyPI) | - |")
        print(f"  done CLaR rho={rho}", flush=True)
    return "\n".join(lines)


def load_mxne_problem(pos=5.0):
    """The standard MxNE problem (``sample_mxne.py``) with the keys of :func:`load_sample_problem`."""
    from sample_mxne import mxne_problem

    free = mxne_problem("Left Auditory", pos=pos, orientation="free")
    fixed = mxne_problem("Left Auditory", pos=pos, orientation="fixed")
    return dict(G_free=free["X"], G_fixed=fixed["X"], M=free["Y"], ch_types=free["ch_types"],
                src_pos=free["src_pos"])


def main(quick, only=None, problem_name="mxne"):
    from neuroopt.sparse import warmup

    compile_s = warmup()
    # compile the anchors' numba code too (skglm), outside the timings
    rng = np.random.default_rng(0)
    Xs, Ys = rng.standard_normal((20, 30)), rng.standard_normal((20, 4))
    run_skglm(Xs, Ys, 0.1, 1e-6)
    composed_skglm(Xs, Ys, 0.1, np.zeros(20, dtype=int), 1e-6, 1e-6, lambda W: True)
    print(f"numba compilation (or cache load) of the BCD kernel: {compile_s:.2f} s "
          "(not included below)\n")
    pos = 10.0 if quick else 5.0
    problem = load_mxne_problem(pos) if problem_name == "mxne" else load_sample_problem(pos=pos)
    print(f"problem: {problem_name}, gain {problem['G_free'].shape}, data {problem['M'].shape}\n")
    rhos = (0.5, 0.2) if quick else (0.5, 0.2, 0.1)
    if only == "path":
        print("## Regularization path (warm starts)\n\n" + bench_path(problem, quick))
        return
    if only == "concomitant":
        print("## Concomitant estimators (fixed orientation, alpha = rho x own alpha_max)\n\n"
              + bench_concomitant(problem, quick, rhos))
        return
    rows = bench_multitask_lasso(problem, quick, rhos)
    if only == "multitask":
        print(table_multitask_lasso(rows) + "\n\n" + table_cpu_and_phases(rows) + "\n\n"
              + "Per outer iteration (the instrumented run; gaps relative to P(0)):\n\n"
              + table_outer_trace(rows))
        return
    out = ["## MultiTaskLasso, certified relative gap 1e-6 (seconds, best of runs)", "",
           "subopt = (P - P*) / P(0) of each anchor's solution against a tol=1e-10 neuroopt "
           "solve; anchors with their own gap certificate (MNE, celer, sklearn) are run at the "
           "tolerance matching a relative gap of 1e-6, skglm (no certificate) at the loosest "
           "tol of 1e-4..1e-9 reaching subopt <= 1e-6. passes (+cached): X^T Theta "
           "evaluations that read X (over the features not screened) + those served from X^T Y "
           "and the cached Gram columns of the non-zero features. pass-equiv.: seconds divided "
           "by the seconds of one X^T Y product measured in the same run.", "",
           table_multitask_lasso(rows), "",
           "CPU seconds (time.process_time) of the same runs, best of runs: on a loaded machine "
           "wall times are inflated, CPU times much less. Phases: one separate instrumented "
           "neuroopt run.", "", table_cpu_and_phases(rows), "",
           "Per outer iteration of neuroopt's solver (the instrumented run; gaps relative to "
           "P(0)): where X^T Theta came from, the groups violating their dual constraint "
           "outside the last working set (a missing group costs another round), the gap the "
           "working-set problem reached and the outer gap.", "", table_outer_trace(rows), "",
           "## Regularization path (warm starts)", "", bench_path(problem, quick), "",
           "## Concomitant estimators (fixed orientation, alpha = rho x own alpha_max)", "",
           bench_concomitant(problem, quick, rhos)]
    text = "\n".join(out)
    print(text)
    if not quick:
        from neuroopt.utils import atomic_write_text

        atomic_write_text(CACHE / "bench_sparse.md", text + "\n")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--quick", action="store_true", help="10 mm grid, 2 rhos, < 1 min")
    parser.add_argument("--only", choices=("path", "concomitant", "multitask"), default=None,
                        help="run one table only (quick iteration; not written to results/)")
    parser.add_argument("--problem", choices=("mxne", "visual"), default="mxne",
                        help="mxne: Left Auditory prepared as MNE's mixed_norm (default); "
                             "visual: Left visual, whitened gain without depth weighting")
    args = parser.parse_args()
    main(args.quick, args.only, args.problem)
