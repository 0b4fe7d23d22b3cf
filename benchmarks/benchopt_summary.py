"""Summarise a benchopt result file as a Markdown table: time for each solver to reach each level.

Usage::

    python benchmarks/benchopt_summary.py RESULT.parquet [--levels 1e-2 1e-4 1e-6]

For every dataset, objective parameter set and solver, prints the first (smallest) time at which
the solver's result reached a relative suboptimality ``(P - P*) / P(0)`` below each level, where
``P*`` is the best objective value any solver reached in the file, and the time to a certified
relative duality gap of 1e-6 (when the objective reports ``relative_duality_gap``). ``-`` means
the level was not reached within the run (timeout or ``--max-runs``). The last column is the
smallest certified relative duality gap the solver reached.
"""

from __future__ import annotations

import argparse

import numpy as np
import pandas as pd


def _first_time(frame, column, level):
    reached = frame.loc[frame[column] <= level, "time"]
    return float(reached.min()) if len(reached) else np.nan


def summarise(df, levels=(1e-2, 1e-4, 1e-6), gap_level=1e-6):
    """Markdown table of times to each suboptimality level (see the module docstring)."""
    has_gap = "objective_relative_duality_gap" in df.columns
    p0_col = "objective_value_at_zero" if "objective_value_at_zero" in df.columns else None
    head = ("| dataset | objective | solver | "
            + " | ".join(f"subopt {lv:.0e} s" for lv in levels)
            + (f" | rel. gap {gap_level:.0e} s" if has_gap else "") + " | best rel. gap |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    # benchopt's dataset and objective names carry their parameters, e.g. "Simulated[n_orient=1]"
    for (dataset, objective), problem in df.groupby(["dataset_name", "objective_name"], sort=True):
        p_star = problem["objective_value"].min()
        p0 = problem[p0_col].iloc[0] if p0_col else problem["objective_value"].max()
        problem = problem.assign(subopt=(problem["objective_value"] - p_star) / p0)
        for solver, runs in problem.groupby("solver_name", sort=True):
            # several repetitions: the median time of each stop value
            runs = runs.groupby("stop_val", as_index=False).agg(
                time=("time", "median"), subopt=("subopt", "max"),
                **({"gap": ("objective_relative_duality_gap", "max")} if has_gap else {}))
            cells = [_first_time(runs, "subopt", lv) for lv in levels]
            row = f"| {dataset} | {objective} | {solver} | "
            row += " | ".join("-" if np.isnan(t) else f"{t:.3g}" for t in cells)
            if has_gap:
                t_gap = _first_time(runs, "gap", gap_level)
                row += " | " + ("-" if np.isnan(t_gap) else f"{t_gap:.3g}")
                row += f" | {runs['gap'].min():.1e} |"
            else:
                row += " | - |"
            lines.append(row)
    return "\n".join(lines)


def main():
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("results", nargs="+", help="benchopt .parquet result file(s)")
    parser.add_argument("--levels", nargs="+", type=float, default=[1e-2, 1e-4, 1e-6])
    args = parser.parse_args()
    df = pd.concat([pd.read_parquet(path) for path in args.results], ignore_index=True)
    print(summarise(df, levels=args.levels))


if __name__ == "__main__":
    main()
