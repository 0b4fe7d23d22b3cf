"""Sparse source estimates in the subject report: locations, time courses, noise levels, scores."""

from __future__ import annotations

import matplotlib.pyplot as plt
import mne
import numpy as np

from ..meeg.source_scoring import source_amplitudes, source_positions
from ._figures import add_figure, html_table

_VIEWS = (("x", "y", "axial (from above)"), ("x", "z", "coronal (from behind)"),
          ("y", "z", "sagittal (from the right)"))
_AXIS = {"x": 0, "y": 1, "z": 2}


def plot_source_locations(stc, src, *, truth=None, title=None):
    """Three orthogonal projections of the active sources over the source-space grid.

    Marker area grows with the peak amplitude; true sources (``truth``: DataFrame with ``x``,
    ``y``, ``z`` and ``name``) are drawn as crosses. Coordinates in mm, frame of ``src``.
    """
    grid_src = src["src"] if isinstance(src, mne.Forward) else src
    grid = np.concatenate([s["rr"][s["vertno"]] for s in grid_src]) * 1e3
    positions = source_positions(stc, grid_src) * 1e3
    peak = source_amplitudes(stc).max(axis=1) if len(stc.data) else np.zeros(0)
    sizes = 20 + 280 * peak / peak.max() if peak.size and peak.max() > 0 else []
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    for ax, (h, v, label) in zip(axes, _VIEWS):
        ax.scatter(grid[:, _AXIS[h]], grid[:, _AXIS[v]], s=2, c="0.85", lw=0)
        if len(positions):
            ax.scatter(positions[:, _AXIS[h]], positions[:, _AXIS[v]], s=sizes, c="tab:red",
                       alpha=0.7, edgecolor="k", lw=0.5, label="estimated")
        if truth is not None and len(truth):
            true_mm = truth[["x", "y", "z"]].to_numpy(dtype=float) * 1e3
            ax.scatter(true_mm[:, _AXIS[h]], true_mm[:, _AXIS[v]], marker="x", s=80,
                       c="tab:blue", lw=2, label="true")
        ax.set(xlabel=f"{h} (mm)", ylabel=f"{v} (mm)", title=label, aspect="equal")
    axes[0].legend(loc="lower left", fontsize="small")
    if title:
        fig.suptitle(title)
    return fig


def plot_source_time_courses(stc, src, *, n_sources=6, title=None):
    """Time courses (nA*m) of the ``n_sources`` strongest sources, labelled by position (mm)."""
    fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    if len(stc.data):
        positions = source_positions(stc, src) * 1e3
        # signed for fixed-orientation / amplitude stcs, the norm for vector stcs
        courses = stc.data if stc.data.ndim == 2 else source_amplitudes(stc)
        order = np.argsort(np.abs(courses).max(axis=1))[::-1][:n_sources]
        for i in order:
            x, y, z = positions[i]
            ax.plot(stc.times * 1e3, courses[i] * 1e9, label=f"({x:.0f}, {y:.0f}, {z:.0f}) mm")
        ax.legend(fontsize="small", loc="upper right")
    else:
        ax.text(0.5, 0.5, "no active source", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="time (ms)", ylabel="amplitude (nA·m)", title=title or "Source time courses")
    return fig


def add_sources_section(report, stc, src, *, noise_levels=None, truth=None, scores=None,
                        dipoles=None, title="Sparse sources", tags=("sources",)):
    """Add a sparse source estimate to an ``mne.Report``.

    Parameters
    ----------
    report : mne.Report
        Report to extend.
    stc : mne.VolSourceEstimate
        Estimated sources (``sparse_inverse(...).stc``).
    src : mne.SourceSpaces | mne.Forward
        Source space of ``stc`` (``forward["src"]``, head coordinates).
    noise_levels : pandas.DataFrame | None
        ``sparse_inverse(...).noise_levels``, shown as a table.
    truth : pandas.DataFrame | None
        True sources (``name``, ``x``, ``y``, ``z`` in m), drawn over the estimate.
    scores : dict | None
        ``score_sources_against_truth`` output, shown as a table.
    dipoles : list of mne.Dipole | None
        If given, their peak goodness of fit is listed.
    title : str
        Section title.
    tags : tuple of str
        Report tags.

    Returns
    -------
    report : mne.Report
    """
    section = title
    add_figure(report, plot_source_locations(stc, src, truth=truth),
               title=f"{title}: locations", section=section, tags=tags,
               caption=f"{stc.data.shape[0]} active sources (red, area ~ peak amplitude); "
                       "crosses: true sources.")
    add_figure(report, plot_source_time_courses(stc, src), title=f"{title}: time courses",
               section=section, tags=tags)
    if noise_levels is not None and len(noise_levels):
        rows = [(r.ch_type, r.n_channels, f"{r.sigma_whitened:.3f}", f"{r.sigma_expected:.3f}",
                 f"{r.noise_to_cov_ratio:.2f}", f"{r.noise_std:.3g} {r.unit}", r.kind)
                for r in noise_levels.itertuples()]
        report.add_html(
            html_table(rows, ("channels", "n", "σ whitened", "σ expected (1/√nave)",
                              "ratio to covariance", "noise std", "kind"))
            + "<p>Noise level per channel type. A ratio of 1 means the data are as noisy as "
              "the noise covariance predicts.</p>",
            title=f"{title}: noise levels", section=section, tags=tags)
    if scores is not None:
        rows = [(name, f"{err * 1e3:.1f}") for name, err in scores["localization_error_m"].items()]
        summary = (f"<p>{scores['n_detected']}/{scores['n_true']} true sources found, "
                   f"{scores['n_estimated']} estimated, {scores['n_spurious']} spurious.</p>")
        report.add_html(html_table(rows, ("true source", "localisation error (mm)")) + summary,
                        title=f"{title}: scores against the truth", section=section, tags=tags)
    if dipoles:
        rows = [(f"({d.pos[0, 0] * 1e3:.0f}, {d.pos[0, 1] * 1e3:.0f}, {d.pos[0, 2] * 1e3:.0f})",
                 f"{np.abs(d.amplitude).max() * 1e9:.1f}", f"{np.max(d.gof):.1f}")
                for d in dipoles]
        report.add_html(html_table(rows, ("position (mm)", "peak (nA·m)", "max GOF (%)")),
                        title=f"{title}: dipoles", section=section, tags=tags)
    return report
