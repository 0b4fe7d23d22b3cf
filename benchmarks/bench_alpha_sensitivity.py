"""Does the real-data localisation hold near the default alpha? A scan of fixed alphas.

Usage::

    python benchmarks/bench_alpha_sensitivity.py [--grid 5] [--condition "Left Auditory"]
        [--estimators mtl sqrt sgcl] [--fractions 0.50 0.53 0.60] [--selection relocate]
        [--window 0.05 0.13] [--n-reweighting 1] [--reweighting log] [--mne]

For each estimator, ``sparse_inverse`` with ``alpha="auto"`` and with each fixed fraction of
``alpha_max`` on MNE's sample data (MEG, 0-200 ms, volume grid, depth 0.8, as
``bench_alpha.py``): the distance (mm) of the strongest source of each hemisphere to Heschl's
gyrus, the latency (ms) of that source's peak, the ratio of the peak amplitude of the strongest
source within 30 mm of Heschl's gyrus to that of the strongest source of the hemisphere (1: the
hemisphere passes; below 1: by how much its auditory source loses), the sources kept and, for
the concomitant estimators, the fitted noise level. First
the whitened RMS of the baseline (-200-0 ms) and of the window, next to what the covariance
predicts (``1 / sqrt(nave)``). Prints a Markdown table. ``--window`` fits a shorter window than
the target's 0-200 ms (e.g. the N100m, 50-130 ms), to see which latency decides the strongest
source. ``--n-reweighting`` is ``sparse_inverse``'s number of reweighted fits (irMxNE; 1: the
convex fit only, the default) and ``--reweighting`` its penalty (``log`` or MNE's ``l05``);
``--mne`` adds MNE's ``mixed_norm`` with ``n_mxne_iter`` equal to ``--n-reweighting`` at each
fraction (its defaults otherwise, debiased); ``--estimators`` with no name runs only those.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_alpha import DATA, _whitened_problem, heschl_distances, load_real


def strongest_peaks(stc, problem, limit_mm=30.0):
    """Per hemisphere: peak latency (ms) of the strongest source, and the near / strongest ratio.

    The ratio is the peak amplitude of the strongest source within ``limit_mm`` of Heschl's
    gyrus over the peak amplitude of the strongest source of the hemisphere (0 when no source
    lies that close).
    """
    forward = problem["forward"]
    positions = forward["source_rr"][np.searchsorted(forward["src"][0]["vertno"],
                                                     stc.vertices[0])]
    magnitude = np.abs(stc.data)
    amplitude = magnitude.max(axis=1)
    out = {}
    for hemi, side in (("lh", positions[:, 0] < 0), ("rh", positions[:, 0] > 0)):
        if not side.any():
            out[hemi] = (np.nan, 0.0)
            continue
        strongest = int(np.argmax(np.where(side, amplitude, -1.0)))
        near = side & (1e3 * np.linalg.norm(positions - problem["seeds"][hemi], axis=1)
                       < limit_mm)
        ratio = amplitude[near].max() / amplitude[strongest] if near.any() else 0.0
        out[hemi] = (1e3 * stc.times[np.argmax(magnitude[strongest])], float(ratio))
    return out


def main():
    """Run the scan (see the module docstring)."""
    from neuroopt.meeg.inverse import sparse_inverse
    from neuroopt.sparse import warmup

    from sample_forward_utils import read_sample_evoked

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--grid", type=float, default=5.0, help="volume grid spacing (mm)")
    parser.add_argument("--condition", default="Left Auditory")
    parser.add_argument("--estimators", nargs="*", default=["mtl", "sqrt", "sgcl"])
    parser.add_argument("--fractions", type=float, nargs="+", default=[0.5, 0.53, 0.6, 0.64])
    parser.add_argument("--selection", default="relocate", help="none | prune | relocate")
    parser.add_argument("--window", type=float, nargs=2, default=[0.0, 0.2],
                        metavar=("TMIN", "TMAX"), help="fitted window (s), default 0 0.2")
    parser.add_argument("--n-reweighting", type=int, default=1,
                        help="sparse_inverse's n_reweighting (irMxNE steps; 1: convex fit only)")
    parser.add_argument("--reweighting", default="log", help="log | l05 (MNE's irMxNE penalty)")
    parser.add_argument("--mne", action="store_true",
                        help="also MNE's mixed_norm(n_mxne_iter=N) at each fraction (anchor)")
    args = parser.parse_args()
    warmup()
    problem = load_real(args.grid, args.condition)
    problem["evoked"] = problem["evoked"].copy().crop(*args.window)
    nave = problem["evoked"].nave
    start, stop = args.window
    for label, (tmin, tmax) in (("baseline -200-0 ms", (-0.2, 0.0)),
                                (f"window {1e3 * start:.0f}-{1e3 * stop:.0f} ms", (start, stop))):
        _, Y = _whitened_problem(problem, read_sample_evoked(DATA, args.condition, tmin=tmin,
                                                             tmax=tmax))
        print(f"{args.condition}, {label}: whitened RMS {np.sqrt(np.mean(Y ** 2)):.3f} "
              f"(covariance: {1 / np.sqrt(nave):.3f})")
    print(f"\nselection {args.selection}, n_reweighting {args.n_reweighting} "
          f"({args.reweighting})")
    print("\n| estimator | alpha | alpha/alpha_max | sources | lh (mm) | rh (mm) | both < 30 mm "
          "| lh / rh peak (ms) | lh / rh near/strongest | fitted sigma | CPU s |\n"
          "|---|---|---|---|---|---|---|---|---|---|---|")
    if args.mne:
        mne_rows(problem, args.fractions, args.n_reweighting)
    for estimator in args.estimators:
        for alpha in ["auto", *args.fractions]:
            cpu0 = time.process_time()
            sol = sparse_inverse(problem["evoked"], problem["forward"], problem["cov"],
                                 estimator=estimator, alpha=alpha, depth=0.8,
                                 selection=args.selection, n_reweighting=args.n_reweighting,
                                 reweighting=args.reweighting,
                                 verbose="warning")
            cpu = time.process_time() - cpu0
            dist = heschl_distances(sol.stc, problem)
            peaks = strongest_peaks(sol.stc, problem)
            est = sol.estimator
            sigma = getattr(est, "sigma_", getattr(est, "sigmas_", None))
            sigma = "-" if sigma is None else " / ".join(f"{s:.3f}" for s in np.atleast_1d(sigma))
            print(f"| {estimator} | {alpha} | {sol.alpha_fraction:.3f} | {len(sol.stc.data)} | "
                  f"{dist['lh']:.0f} | {dist['rh']:.0f} | "
                  f"{'yes' if max(dist.values()) < 30 else 'no'} | "
                  f"{peaks['lh'][0]:.0f} / {peaks['rh'][0]:.0f} | "
                  f"{peaks['lh'][1]:.2f} / {peaks['rh'][1]:.2f} | {sigma} | {cpu:.1f} |",
                  flush=True)


def mne_rows(problem, fractions, n_mxne_iter):
    """MNE's ``mixed_norm`` (irMxNE with ``n_mxne_iter`` > 1, its defaults otherwise) per fraction."""
    import mne

    for fraction in fractions:
        cpu0 = time.process_time()
        stc = mne.inverse_sparse.mixed_norm(problem["evoked"], problem["forward"], problem["cov"],
                                            alpha=100 * fraction, loose=1.0, depth=0.8,
                                            n_mxne_iter=n_mxne_iter, verbose="warning")
        cpu = time.process_time() - cpu0
        dist = heschl_distances(stc, problem)
        peaks = strongest_peaks(stc, problem)
        print(f"| MNE mixed_norm | {fraction} | {fraction:.3f} | {len(stc.data)} | "
              f"{dist['lh']:.0f} | {dist['rh']:.0f} | "
              f"{'yes' if max(dist.values()) < 30 else 'no'} | "
              f"{peaks['lh'][0]:.0f} / {peaks['rh'][0]:.0f} | "
              f"{peaks['lh'][1]:.2f} / {peaks['rh'][1]:.2f} | - | {cpu:.1f} |", flush=True)


if __name__ == "__main__":
    main()
