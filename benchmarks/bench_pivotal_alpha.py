"""The pivotal alpha of sqrt / sgcl in MxNE units, next to the multitask Lasso's threshold.

Usage::

    python benchmarks/bench_pivotal_alpha.py [--cases "5:Left Auditory" "10:Right Auditory" ...]

The square-root Lasso at ``alpha`` has the multitask Lasso's solution at ``alpha * T * sigma``
(``sigma``: its fitted noise level), so ``alpha * T * sigma / alpha_max(mtl)`` is its alpha in
MxNE units. For each case (MNE's sample data, MEG, 0-200 ms, volume grid, depth 0.8, whitened as
``sparse_inverse`` does; convex fits, no selection): the multitask Lasso's quantile universal
threshold (QUT, noise level ``1 / sqrt(nave)``), then for sqrt and sgcl their QUT,
``sparse_inverse``'s ``alpha="auto"`` (the QUT times ``sqrt(s / sigma(QUT))``) and the
calibration in MxNE units (:func:`~neuroopt.sparse.alpha_search.bias_corrected_pivotal_alpha`,
not the default: the demo loses a condition with it, see the README), each as a fraction of its
own ``alpha_max``, with the fitted sigma, the sources and the MxNE-unit alpha. ``s``: the noise
level of the data's noise subspace. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from bench_alpha import _whitened_problem, load_real


def main():
    """Run the comparison (see the module docstring)."""
    import mne
    from sklearn.base import clone

    from neuroopt.meeg import _mne_private
    from neuroopt.meeg.inverse import _whitened_row_groups
    from neuroopt.meeg.whitening import covariance_rank
    from neuroopt.sparse import SGCL, MultiTaskLasso, MultiTaskSqrtLasso, warmup
    from neuroopt.sparse.alpha_search import (
        bias_corrected_pivotal_alpha,
        pooled_noise_level,
        quantile_universal_alpha,
        subspace_noise_std,
        time_colour_matrix,
    )
    from neuroopt.sparse.criteria import noise_time_correlation

    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", nargs="+", default=["5:Left Auditory", "10:Left Auditory",
                                                       "5:Right Auditory", "10:Right Auditory"])
    args = parser.parse_args()
    warmup()
    print("| grid | condition | estimator | alpha | alpha/alpha_max | fitted sigma | noise level s "
          "| sources | MxNE units (/ mtl alpha_max) | CPU s |\n|---|---|---|---|---|---|---|---|---|---|")
    for case in args.cases:
        pos, condition = case.split(":", 1)
        problem = load_real(float(pos), condition)
        gain, Y = _whitened_problem(problem)
        ev = problem["evoked"]
        with mne.utils.use_log_level("warning"):
            _, _, gain_info, whitener, _ = _mne_private.prepare_gain(
                problem["forward"], ev.info, problem["cov"], depth=0.8, loose="auto",
                rank=covariance_rank(problem["cov"], ev.info))
        groups = _whitened_row_groups(whitener, gain_info)
        T = Y.shape[1]
        colour = time_colour_matrix(noise_time_correlation(Y))
        s = float(subspace_noise_std(Y, time_colour=colour)[0])
        noise_cov = 1 / np.sqrt(ev.nave)
        mtl = MultiTaskLasso(1.0, n_orient=3, noise_std=noise_cov)
        mtl_max = mtl.alpha_max(gain, Y)
        q = quantile_universal_alpha(mtl, gain, Y.shape, noise_std=noise_cov, time_colour=colour)
        row = f"| {pos} mm | {condition} |"
        print(f"{row} mtl | QUT (noise {noise_cov:.3f}) | {q / mtl_max:.3f} | - | - | - | "
              f"{q / mtl_max:.3f} | - |", flush=True)
        sigma_min = 1e-3 * float(np.sqrt(np.mean(Y ** 2)))
        for name, est in (("sqrt", MultiTaskSqrtLasso(1.0, n_orient=3, sigma_min=sigma_min)),
                          ("sgcl", SGCL(1.0, n_orient=3, sigma_min=sigma_min,
                                        sensor_groups=groups))):
            amax = est.alpha_max(gain, Y)
            cpu = time.process_time()
            qut = quantile_universal_alpha(est, gain, Y.shape, time_colour=colour)
            fit = clone(est).set_params(alpha=qut).fit(gain, Y)
            rows = [("QUT", qut, fit, time.process_time() - cpu)]
            cpu = time.process_time()
            damped = qut * np.sqrt(min(1.0, s / pooled_noise_level(fit)))
            rows.append(("auto (damped)", damped, clone(est).set_params(alpha=damped).fit(gain, Y),
                         time.process_time() - cpu + rows[0][3]))
            cpu = time.process_time()
            res = bias_corrected_pivotal_alpha(est, gain, Y, time_colour=colour)
            rows.append((f"MxNE-calibrated ({res.n_fits} fits)", res.alpha, res.estimator,
                         time.process_time() - cpu))
            for label, alpha, fitted, seconds in rows:
                sigma = pooled_noise_level(fitted)
                print(f"{row} {name} | {label} | {alpha / amax:.3f} | {sigma:.3f} | {s:.3f} | "
                      f"{int(fitted.active_set_.sum())} | {alpha * T * sigma / mtl_max:.3f} | "
                      f"{seconds:.1f} |", flush=True)


if __name__ == "__main__":
    main()
