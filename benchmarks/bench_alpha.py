"""Benchmark of the automatic choice of alpha (SURE, held-out, pivotal default) against MNE's SURE.

Usage::

    python benchmarks/bench_alpha.py [--skip-mne] [--mne-only] [--n-seeds 20] [--skip-sim]

Sections (Markdown tables, one run, anchors in the same run unless ``--skip-mne``):

1. Real data: MNE sample Left Auditory (MEG, free orientation, 0-200 ms, depth 0.8). For every
   estimator (mtl, sqrt, sgcl) and alpha method, the distance of the strongest source of each
   hemisphere to Heschl's gyrus, the number of active sources and the seconds, on the 5 mm and
   10 mm volume grids; and MNE's ``mixed_norm(alpha="sure")`` on the 10 mm grid (its time,
   active sources, and the exact SURE of its solution next to neuroopt's).
2. Simulations with the real 10 mm gain: 2-5 dipoles, several SNRs, ``--n-seeds`` seeds per
   cell; median support F1 (a true source is found when an active source lies within 10 mm)
   and median localisation error for each alpha method.

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
    t0 = time.perf_counter()
    try:
        stc = mne.inverse_sparse.mixed_norm(problem["evoked"], problem["forward"], problem["cov"],
                                            alpha="sure", depth=0.8, random_state=0, verbose="info")
    finally:
        mne_logger.removeHandler(capture)
    seconds = time.perf_counter() - t0
    selected = [m for m in capture.messages if m.startswith("Selected alpha")]
    alpha_pct = float(selected[-1].split(":")[1]) if selected else float("nan")
    return dict(seconds=seconds, alpha_percent=alpha_pct, n_active=int(len(stc.data)),
                distances_mm=heschl_distances(stc, problem))


def mne_result(pos, *, recompute):
    """MNE's SURE on the ``pos`` mm grid, computed now or read back from the cache."""
    fname = CACHE / f"mne_sure_pos{pos:g}.json"
    if recompute or not fname.exists():
        problem = load_real(pos)
        result = run_mne_sure(problem)
        result["measured"] = time.strftime("%Y-%m-%d %H:%M:%S UTC", time.gmtime())
        atomic_write_text(fname, json.dumps(result, indent=1))
        return result, "this run"
    return json.loads(fname.read_text()), f"cached ({fname.name})"


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-mne", action="store_true",
                        help="use the cached MNE result instead of running MNE (~6 min idle)")
    parser.add_argument("--mne-only", action="store_true", help="run and cache MNE's SURE only")
    parser.add_argument("--skip-sim", action="store_true", help="skip the simulations")
    parser.add_argument("--n-seeds", type=int, default=20, help="seeds per simulation cell")
    args = parser.parse_args()
    if args.mne_only:
        result, origin = mne_result(10.0, recompute=True)
        print(json.dumps(result, indent=1), origin)
        return
    from _bench_alpha_sections import real_data_section, simulation_section

    mne_res, origin = mne_result(10.0, recompute=not args.skip_mne)
    real_data_section(load_real, heschl_distances, mne_res, origin)
    if not args.skip_sim:
        simulation_section(load_real, n_seeds=args.n_seeds)


if __name__ == "__main__":
    main()
