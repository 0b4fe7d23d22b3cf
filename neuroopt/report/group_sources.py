"""Group page: where each subject's strongest sparse source is, per estimator and condition."""

from __future__ import annotations

import html

import numpy as np

from ._figures import add_figure, html_table, plt


def strongest_sources(sparse_sections):
    """The strongest source of every subject, estimator and condition.

    Parameters
    ----------
    sparse_sections : list of (str, dict)
        ``(unit, section)`` for each planned ``"sparse"`` report section (``Plan.report_sections``:
        ``summary``, ``forward``, one source file per estimator, ``truth``).

    Returns
    -------
    rows : list of dict
        ``unit``, ``estimator``, ``condition``, ``position_mm`` (3 floats, frame of the
        forward's source space), ``frame``, ``peak_nam`` (nA·m), ``peak_time_s``,
        ``n_sources``, and on the demo ``nearest_true`` and ``distance_mm``; ``position_mm`` is
        None when the estimate is empty.
    truth : dict
        unit -> the demo's true sources (DataFrame with ``name``, ``x``, ``y``, ``z`` in m), or {}.
    """
    import json

    import mne

    from ..meeg.source_scoring import source_amplitudes
    from ..meeg.sources_io import read_source_estimates
    from .sources import _display_positions_mm, _frame_name, _is_volume
    from .subject import _load_truth

    frames = {mne.io.constants.FIFF.FIFFV_COORD_HEAD: "head", mne.io.constants.FIFF.FIFFV_COORD_MRI: "MRI"}

    rows, truths = [], {}
    for unit, section in sparse_sections:
        forward = mne.read_forward_solution(section["forward"], verbose="error")
        # as on the subject page: cortical sources in MRI coordinates, grids in their own frame
        frame = frames.get(forward["src"][0]["coord_frame"], "?") if _is_volume(forward) else _frame_name(forward)
        with open(section["summary"]) as fid:
            estimators = list(json.load(fid)["estimators"])
        truth = _load_truth(section["truth"])
        true_sources = truth["eeg"]["sources"] if truth is not None and "eeg" in truth else None
        if true_sources is not None:
            truths[unit] = true_sources
        for estimator in estimators:
            for condition, estimate in read_source_estimates(section[estimator]).items():
                stc = estimate["stc"]
                row = {"unit": unit, "estimator": estimator, "condition": condition, "frame": frame,
                       "n_sources": int(len(stc.data)), "position_mm": None}
                if len(stc.data):
                    amplitudes = source_amplitudes(stc)
                    best = int(np.argmax(amplitudes.max(axis=1)))
                    position = _display_positions_mm(stc, forward)[best]
                    row.update(position_mm=[float(v) for v in position], peak_nam=float(amplitudes[best].max() * 1e9),
                               peak_time_s=float(stc.times[int(np.argmax(amplitudes[best]))]))
                    if true_sources is not None and len(true_sources):
                        true_mm = true_sources[["x", "y", "z"]].to_numpy(dtype=float) * 1e3
                        distances = np.linalg.norm(true_mm - position, axis=1)
                        row.update(nearest_true=str(true_sources["name"].iloc[int(np.argmin(distances))]),
                                   distance_mm=float(distances.min()))
                rows.append(row)
    return rows, truths


def plot_strongest_sources(rows, truths, estimator):
    """Glass brain of the strongest source of each subject and condition for one estimator.

    Parameters
    ----------
    rows : list of dict
        :func:`strongest_sources` rows.
    truths : dict
        unit -> true sources (drawn as black crosses), from :func:`strongest_sources`.
    estimator : str
        The estimator whose sources are drawn.

    Returns
    -------
    matplotlib.figure.Figure
    """
    from matplotlib.lines import Line2D
    from nilearn import plotting

    rows = [r for r in rows if r["estimator"] == estimator and r["position_mm"] is not None]
    conditions = sorted({r["condition"] for r in rows})
    units = sorted({r["unit"] for r in rows})
    markers = "os^Dvp*h"
    fig = plt.figure(figsize=(12, 4.2))
    display = plotting.plot_glass_brain(None, display_mode="lyrz", figure=fig, axes=[0.0, 0.12, 1.0, 0.8],
                                        title=f"strongest source per subject and condition — {estimator}")
    handles = []
    for c, condition in enumerate(conditions):
        handles.append(Line2D([], [], color=f"C{c}", marker="o", ls="", label=condition))
        for u, unit in enumerate(units):
            coords = [r["position_mm"] for r in rows if r["condition"] == condition and r["unit"] == unit]
            if coords:
                display.add_markers(coords, marker_color=f"C{c}", marker_size=70, marker=markers[u % len(markers)])
    for u, unit in enumerate(units):
        handles.append(Line2D([], [], color="0.3", marker=markers[u % len(markers)], ls="", label=unit))
    seen = set()
    for truth in truths.values():
        coords = [tuple(np.round(p * 1e3, 1)) for p in truth[["x", "y", "z"]].to_numpy(dtype=float)]
        coords = [p for p in coords if p not in seen]
        seen.update(coords)
        if coords:
            display.add_markers(coords, marker_color="k", marker_size=60, marker="x")
    if seen:
        handles.append(Line2D([], [], color="k", marker="x", ls="", label="true source"))
    fig.legend(handles=handles, loc="lower center", ncol=min(len(handles), 8), fontsize="small", frameon=False)
    return fig


def add_group_sources_section(report, sparse_sections, *, section="Sparse sources"):
    """Add the locations of the subjects' strongest sparse sources to the group page.

    Parameters
    ----------
    report : mne.Report
        The group report.
    sparse_sections : list of (str, dict)
        ``(unit, section)`` for each planned ``"sparse"`` report section.
    section : str
        Report section of the entries.

    Returns
    -------
    report : mne.Report
    """
    rows, truths = strongest_sources(sparse_sections)
    if not rows:
        return report
    frames = sorted({r["frame"] for r in rows})
    caveat = (" Head coordinates of a sphere model are not registered to MNI: the glass brain is a guide, "
              "not a co-registration." if "head" in frames else "")
    for estimator in dict.fromkeys(r["estimator"] for r in rows):
        add_figure(report, plot_strongest_sources(rows, truths, estimator), f"Strongest sources ({estimator})", section=section,
                   caption=f"Colour: condition; marker: subject. Positions in {', '.join(frames)} coordinates (mm).{caveat}",
                   tags=("sources", "group"))
    has_truth = any("distance_mm" in r for r in rows)
    table = []
    for r in rows:
        if r["position_mm"] is None:
            cells = [html.escape(r["unit"]), html.escape(r["estimator"]), html.escape(r["condition"]),
                     '<span style="color:#a00">no active source</span>', "—", "—", "0"]
        else:
            x, y, z = r["position_mm"]
            cells = [html.escape(r["unit"]), html.escape(r["estimator"]), html.escape(r["condition"]),
                     f"({x:.0f}, {y:.0f}, {z:.0f})", f"{r['peak_nam']:.1f}", f"{r['peak_time_s']:.3f}", str(r["n_sources"])]
        if has_truth:
            cells.append(f"{html.escape(r['nearest_true'])}: {r['distance_mm']:.0f} mm" if "distance_mm" in r else "—")
        table.append(tuple(cells))
    header = ("subject", "estimator", "condition", f"strongest source ({', '.join(frames)} mm)", "peak (nA·m)", "peak time (s)",
              "active sources") + (("nearest true source",) if has_truth else ())
    report.add_html(html_table(table, header), title="Strongest sources: table", section=section, tags=("sources", "group"))
    return report
