"""Sparse source estimates in the subject report: sources on a glass brain, time courses, noise
levels, scores, and a visible note when the estimate is empty or doubtful."""

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


def source_volume(stc, src):
    """Peak amplitude (nA*m) of each active source as a NIfTI image on the source-space grid.

    Uses :meth:`mne.VolSourceEstimate.as_volume` when the source space has its voxel-to-MRI
    transform (source spaces set up on an MRI); otherwise (the sphere-model source spaces of
    :func:`neuroopt.meeg.forward.make_sphere_forward`, in head coordinates, keep no voxel
    transform once written to a ``-fwd.fif``) the image is a regular grid through the used
    source positions, with their spacing (at least 1 mm). Coordinates are in mm, in the frame
    of the source space (MRI scanner RAS for MRI-based source spaces, head otherwise).

    Parameters
    ----------
    stc : mne.VolSourceEstimate | mne.VolVectorSourceEstimate
        Sparse estimate on ``src``.
    src : mne.SourceSpaces | mne.Forward
        Its volume source space.

    Returns
    -------
    img : nibabel.Nifti1Image
        3D image, 0 outside the active sources.
    """
    import nibabel as nib

    grid_src = src["src"] if isinstance(src, mne.Forward) else src
    s = grid_src[0]
    peak = source_amplitudes(stc).max(axis=1) * 1e9 if len(stc.data) else np.zeros(0)
    if s.get("vox_mri_t") is not None:
        amp = mne.VolSourceEstimate(peak[:, None], stc.vertices, 0.0, 1.0)
        img = amp.as_volume(grid_src, mri_resolution=False, format="nifti1")
        return nib.Nifti1Image(np.asarray(img.dataobj)[..., 0], img.affine)
    # no voxel transform (and no grid shape once written to and read from a -fwd.fif): a
    # regular grid through the used source positions, with the grid's own spacing
    rr = s["rr"][s["vertno"]] * 1e3
    step = max(_grid_step(rr), 1.0)
    origin = rr.min(axis=0)
    shape = tuple(np.round((rr.max(axis=0) - origin) / step).astype(int) + 1)
    data = np.zeros(shape, dtype=np.float32)
    if peak.size:
        pos = s["rr"][stc.vertices[0]] * 1e3
        data[tuple(np.round((pos - origin) / step).astype(int).T)] = peak
    affine = np.diag([step, step, step, 1.0])
    affine[:3, 3] = origin
    return nib.Nifti1Image(data, affine)


def _grid_step(rr_mm):
    """Spacing (mm) of a regular grid of positions: the smallest non-zero coordinate step."""
    steps = [np.diff(np.unique(np.round(rr_mm[:, k], 3))) for k in range(3)]
    steps = np.concatenate([d[d > 1e-3] for d in steps])
    return float(steps.min()) if steps.size else 1.0


def plot_sources_on_anatomy(stc, src, *, truth=None, title=None):
    """Active sources on nilearn's glass brain (MNI template shipped with nilearn).

    The peak amplitude of each source is drawn as a voxel of the source grid; true sources
    (``truth``: DataFrame with ``x``, ``y``, ``z`` in m) as blue crosses. Positions are in the
    frame of ``src`` (see :func:`source_volume`); head coordinates of a sphere model are not
    registered to MNI, so the anatomy is a guide, not a co-registration.
    """
    from matplotlib.colors import LinearSegmentedColormap
    from nilearn import plotting

    # orange (weak) to dark red (strong): every active source stays visible on the white brain
    cmap = LinearSegmentedColormap.from_list("sources", ["#fdae61", "#d7191c", "#67001f"])
    fig = plt.figure(figsize=(12, 3.8))
    if not _is_volume(src):
        return _plot_point_sources(fig, stc, src, cmap, truth=truth, title=title)
    img = source_volume(stc, src)
    vmax = float(np.max(img.get_fdata())) if len(stc.data) else 1.0
    display = plotting.plot_glass_brain(img if len(stc.data) else None, display_mode="lyrz",
                                        figure=fig, colorbar=bool(len(stc.data)),
                                        cmap=cmap, vmin=0, vmax=vmax, plot_abs=False,
                                        threshold=1e-6 * vmax, title=title)
    if not len(stc.data):
        fig.text(0.5, 0.5, "no active source", ha="center", va="center", fontsize=16,
                 color="tab:red")
    if truth is not None and len(truth):
        display.add_markers(truth[["x", "y", "z"]].to_numpy(dtype=float) * 1e3,
                            marker_color="tab:blue", marker_size=60, marker="x")
    return fig


def _is_volume(src):
    grid_src = src["src"] if isinstance(src, mne.Forward) else src
    return all(s["type"] == "vol" for s in grid_src)


def _display_positions_mm(stc, src):
    """Source positions (mm) for the glass brain: MRI coordinates when a forward gives the
    head<->MRI transform of a head-frame source space (cortical surfaces), else the frame of ``src``."""
    head = mne.io.constants.FIFF.FIFFV_COORD_HEAD
    positions = source_positions(stc, src)
    if isinstance(src, mne.Forward) and src["src"][0]["coord_frame"] == head and src.get("mri_head_t") is not None:
        to_mri = src["mri_head_t"]
        if to_mri["from"] != head:
            to_mri = mne.transforms.invert_transform(to_mri)
        positions = mne.transforms.apply_trans(to_mri, positions)
    return positions * 1e3


def _plot_point_sources(fig, stc, src, cmap, *, truth=None, title=None):
    """Glass brain with one marker per active source, for source spaces without a voxel grid
    (cortical surfaces, discrete positions): area and colour grow with the peak amplitude."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize
    from nilearn import plotting

    # the brain leaves the right edge to the colour bar
    display = plotting.plot_glass_brain(None, display_mode="lyrz", figure=fig, axes=(0.0, 0.0, 0.93, 1.0),
                                        title=title)
    if len(stc.data):
        peak = source_amplitudes(stc).max(axis=1) * 1e9
        norm = Normalize(vmin=0.0, vmax=float(peak.max()) or 1.0)
        order = np.argsort(peak)  # strongest drawn last, on top
        display.add_markers(_display_positions_mm(stc, src)[order], marker_color=cmap(norm(peak[order])),
                            marker_size=20 + 120 * norm(peak[order]), edgecolor="k", linewidths=0.5)
        fig.colorbar(ScalarMappable(norm, cmap), cax=fig.add_axes([0.935, 0.12, 0.012, 0.72]), label="peak (nA·m)")
    else:
        fig.text(0.5, 0.5, "no active source", ha="center", va="center", fontsize=16, color="tab:red")
    if truth is not None and len(truth):
        display.add_markers(truth[["x", "y", "z"]].to_numpy(dtype=float) * 1e3,
                            marker_color="tab:blue", marker_size=60, marker="x")
    return fig


def fit_note(fit):
    """HTML note with alpha / alpha_max, the explained variance and the fit's warnings."""
    warnings_ = list(fit.get("warnings") or [])
    selection = f", selection: {fit['selection']}" if fit.get("selection") else ""
    text = (f"alpha = {fit['alpha_fraction']:.3g} alpha_max ({fit.get('alpha_method', '')}{selection}); "
            f"{fit['n_sources']} active sources explain {100 * fit['explained_variance']:.1f} % "
            "of the whitened data.")
    if not warnings_:
        return f"<p>{text}</p>"
    items = "".join(f"<li>{w}</li>" for w in warnings_)
    return ('<div class="alert alert-warning" role="alert" style="border:2px solid #c60;'
            'background:#fff3e0;padding:0.6em"><strong>Check this estimate.</strong> '
            f"{text}<ul>{items}</ul></div>")


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
            ax.plot(stc.times, courses[i] * 1e9, label=f"({x:.0f}, {y:.0f}, {z:.0f}) mm")
        ax.legend(fontsize="small", loc="upper left", bbox_to_anchor=(1.01, 1.0))
    else:
        ax.text(0.5, 0.5, "no active source", ha="center", va="center", transform=ax.transAxes)
    ax.set(xlabel="time (s)", ylabel="amplitude (nA·m)", title=title or "Source time courses")
    return fig


def sparse_inverse_fit(solution):
    """The ``fit`` argument of :func:`add_sources_section` from a ``SparseInverseSolution``."""
    return dict(alpha_fraction=float(solution.alpha_fraction),
                alpha_method=solution.alpha_method, selection=solution.selection,
                explained_variance=float(solution.explained_variance),
                n_sources=int(len(solution.stc.data)), warnings=list(solution.warnings))


def _frame_name(src):
    grid_src = src["src"] if isinstance(src, mne.Forward) else src
    if not _is_volume(src):
        # a sphere-model forward (no MRI) carries an identity head<->MRI transform: its frame is the head's
        if (isinstance(src, mne.Forward) and src.get("mri_head_t") is not None
                and not np.allclose(src["mri_head_t"]["trans"], np.eye(4))):
            return "MRI (FreeSurfer surface RAS)"  # _display_positions_mm goes through mri_head_t
    if grid_src[0].get("vox_mri_t") is not None:
        return "MRI (scanner RAS)"  # source_volume goes through as_volume
    frame = grid_src[0]["coord_frame"]
    return {mne.io.constants.FIFF.FIFFV_COORD_HEAD: "head",
            mne.io.constants.FIFF.FIFFV_COORD_MRI: "MRI"}.get(frame, str(frame))


def plot_criterion_curve(criterion_path, *, title=None):
    """Criterion (SURE or held-out error) against ``alpha / alpha_max``, the chosen alpha marked.

    ``criterion_path``: ``SparseInverseSolution.criterion_path`` (a DataFrame) or its
    ``to_dict("list")`` form from the ``_desc-sparse_summary.json``.
    """
    fraction = np.asarray(criterion_path["alpha_fraction"], dtype=float)
    value = np.asarray(criterion_path["criterion"], dtype=float)
    chosen = np.asarray(criterion_path["chosen"], dtype=bool)
    active = np.asarray(criterion_path["n_active"])
    order = np.argsort(fraction)
    fig, ax = plt.subplots(figsize=(6, 3.5), layout="constrained")
    ax.plot(fraction[order], value[order], "o-", c="0.3", ms=4, label="alphas tried")
    ax.plot(fraction[chosen], value[chosen], "*", c="tab:red", ms=14,
            label=f"chosen: {fraction[chosen][0]:.3f} alpha_max, {active[chosen][0]} active"
            if chosen.any() else "chosen")
    ax.set(xscale="log", xlabel="alpha / alpha_max", ylabel="criterion",
           title=title or "Choice of alpha")
    ax.legend(fontsize="small")
    return fig


def add_sources_section(report, stc, src, *, noise_levels=None, truth=None, scores=None,
                        dipoles=None, fit=None, criterion_path=None, title="Sparse sources",
                        tags=("sources",), section=None):
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
    fit : dict | None
        ``alpha_fraction``, ``explained_variance``, ``n_sources``, ``warnings`` (and
        ``alpha_method``), as in the ``_desc-sparse_summary.json`` rows: shown in the caption,
        and as a highlighted note first in the section when there are warnings (empty or
        near-empty estimate, ...). :func:`sparse_inverse_fit` builds it from a solution.
    criterion_path : pandas.DataFrame | dict | None
        The search of ``alpha="sure"`` / ``"cv"``, drawn as a curve (:func:`plot_criterion_curve`).
    title : str
        Section title.
    tags : tuple of str
        Report tags.
    section : str | None
        Report section of every entry; default ``title``.

    Returns
    -------
    report : mne.Report
    """
    section = section or title
    if fit is not None and fit.get("warnings"):
        report.add_html(fit_note(fit), title=f"{title}: check this estimate", section=section,
                        tags=tags)
    frame = _frame_name(src)
    caption = (f"{stc.data.shape[0]} active sources, colour = peak amplitude (nA·m), on the "
               f"glass brain of nilearn's MNI template; positions in {frame} coordinates"
               + (" (sphere model, not registered to MNI: approximate)" if frame == "head"
                  else "") + "; blue crosses: true sources.")
    if fit is not None:
        caption += (f" alpha = {fit['alpha_fraction']:.3g} alpha_max, explained variance "
                    f"{100 * fit['explained_variance']:.1f} %.")
    add_figure(report, plot_sources_on_anatomy(stc, src, truth=truth),
               title=f"{title}: locations", section=section, tags=tags, caption=caption)
    add_figure(report, plot_source_time_courses(stc, src), title=f"{title}: time courses",
               section=section, tags=tags)
    if criterion_path is not None:
        add_figure(report, plot_criterion_curve(criterion_path), title=f"{title}: choice of alpha",
                   section=section, tags=tags,
                   caption="Criterion at every alpha tried by the search (coarse warm-started "
                           "path, then hypergradient steps); the star is the alpha used.")
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
        summary = (f"<p>{scores['n_detected']}/{scores['n_true']} true sources found. Of the "
                   f"{stc.data.shape[0]} active sources, the {scores['n_estimated']} whose peak "
                   "reaches 10 % of the strongest are scored; "
                   f"{scores['n_spurious']} of them are spurious (more than 20 mm from every true "
                   "source).</p>")
        report.add_html(html_table(rows, ("true source", "localisation error (mm)")) + summary,
                        title=f"{title}: scores against the truth", section=section, tags=tags)
    if dipoles:
        rows = [(f"({d.pos[0, 0] * 1e3:.0f}, {d.pos[0, 1] * 1e3:.0f}, {d.pos[0, 2] * 1e3:.0f})",
                 f"{np.abs(d.amplitude).max() * 1e9:.1f}", f"{np.max(d.gof):.1f}")
                for d in dipoles]
        report.add_html(html_table(rows, ("position (mm)", "peak (nA·m)", "max GOF (%)")),
                        title=f"{title}: dipoles", section=section, tags=tags)
    return report
