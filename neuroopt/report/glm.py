"""Report sections of the fMRI contrast statistics, laid out as nilearn's GLM report: design and
contrast matrices, thresholded z maps over the MNI template with the threshold and correction in
every title, glass brains and cluster tables; group maps, HRF medians and group decoding."""

from __future__ import annotations

import contextlib
import html
import json
import warnings

import numpy as np

from ._figures import add_figure, html_table, plt


def _background(space):
    """nilearn's shipped MNI152 template (no download) for maps in MNI space, else None."""
    if space != "MNI":
        return None
    from nilearn.datasets import load_mni152_template

    return load_mni152_template(resolution=2)


def _label_colorbar(display, label):
    axes = getattr(display, "_colorbar_ax", None)
    if axes is not None:
        axes.set_ylabel(label, rotation=90, labelpad=4)


@contextlib.contextmanager
def _nothing_drawn():
    """Silence nilearn's "empty mask" of an overlay without a voxel: the figure's title says so."""
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="empty mask", category=UserWarning)
        yield


def plot_thresholded_map(z_img, threshold, title, bg_img=None, unit="z"):
    """Thresholded stat map (3 slices through the peak) and glass brain, one figure.

    Voxels below the threshold (and outside the mask) are not drawn, so the anatomy shows
    through; the title states the threshold and its correction, the colour bar its unit.

    Parameters
    ----------
    z_img : Nifti1Image
    threshold : neuroopt.stats.thresholding.Threshold
    title : str
    bg_img : Nifti1Image | None
        Anatomy under the map (the MNI template for MNI-space maps).
    unit : str
        Label of the colour bars.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    from nilearn import plotting

    data = np.asarray(z_img.get_fdata())
    peak = float(np.nanmax(np.abs(data))) if data.size else 0.0
    passes = np.isfinite(threshold.z) and peak > threshold.z
    # nothing passes: draw nothing over the anatomy rather than an unthresholded map
    level = threshold.z if passes else peak + 1.0
    vmax = max(peak, level + 1e-3)
    fig = plt.figure(figsize=(12, 3.4))
    left = fig.add_axes([0.0, 0.0, 0.58, 0.88])
    right = fig.add_axes([0.6, 0.0, 0.4, 0.88])
    kwargs = dict(threshold=level, vmax=vmax, colorbar=True, cmap="cold_hot")
    with _nothing_drawn():
        if bg_img is not None:
            display = plotting.plot_stat_map(z_img, bg_img=bg_img, axes=left, display_mode="ortho",
                                             cut_coords=None if passes else (0, 0, 0), **kwargs)
        else:
            centre = tuple(z_img.affine[:3, :3] @ ((np.array(z_img.shape[:3]) - 1) / 2) + z_img.affine[:3, 3])
            display = plotting.plot_stat_map(z_img, bg_img=None, axes=left, black_bg=False,
                                             cut_coords=None if passes else centre, **kwargs)
        glass = plotting.plot_glass_brain(z_img, axes=right, plot_abs=False, **kwargs)
    _label_colorbar(display, unit)
    _label_colorbar(glass, unit)
    fig.suptitle(f"{title}\n{threshold.describe()}" + ("" if passes else " — nothing to show"), fontsize=10)
    return fig


def cluster_table_html(table, threshold):
    """The cluster table as HTML, with its threshold."""
    if table.empty:
        if not np.isfinite(threshold.z):
            return f"<p>No cluster: {html.escape(threshold.describe())}.</p>"
        return f"<p>No cluster at {html.escape(threshold.describe())}.</p>"
    table = table.copy()
    for col in ("X", "Y", "Z"):
        table[col] = table[col].map(lambda v: f"{v:.0f}")
    table["Peak Stat"] = table["Peak Stat"].map(lambda v: f"{v:.2f}")
    table = table.rename(columns={"X": "X (mm)", "Y": "Y (mm)", "Z": "Z (mm)", "Peak Stat": "peak z"})
    rows = [tuple(html.escape(str(v)) if str(v) != "nan" else "" for v in row) for row in table.itertuples(index=False)]
    return f"<p>Clusters at {html.escape(threshold.describe())}; MNI/scanner mm.</p>" + html_table(rows, list(table.columns))


def plot_design_and_contrasts(events, t_r, n_scans, contrasts, conditions):
    """Design matrix (canonical HRF) of a run and the contrast matrix over its columns."""
    from nilearn import plotting
    from nilearn.glm.first_level import make_first_level_design_matrix

    design = make_first_level_design_matrix(np.arange(n_scans) * t_r, events, hrf_model="spm",
                                            drift_model="cosine", high_pass=0.01)
    matrix = np.zeros((len(contrasts), design.shape[1]))
    for i, weights in enumerate(contrasts.values()):
        for condition, weight in zip(conditions, weights):
            if condition in design.columns:
                matrix[i, list(design.columns).index(condition)] = weight
    fig = plt.figure(figsize=(11, 5.0))
    fig.suptitle("left: design matrix of run 1 (canonical HRF; the R1-GLM convolves the same events with "
                 "each voxel's HRF); right: contrast matrix", fontsize=9)
    ax1 = fig.add_axes([0.06, 0.05, 0.4, 0.72])
    plotting.plot_design_matrix(design, axes=ax1)
    ax2 = fig.add_axes([0.56, 0.2, 0.36, 0.57])
    image = ax2.imshow(matrix, aspect="auto", cmap="RdBu_r", vmin=-1, vmax=1)
    ax2.set_yticks(range(len(contrasts)), labels=list(contrasts))
    ax2.set_xticks(range(design.shape[1]), labels=list(design.columns), rotation=90, fontsize=7)
    fig.colorbar(image, ax=ax2, label="weight", fraction=0.04)
    return fig


def add_subject_contrast_section(report, *, title, contrasts, maps, events, t_r, n_scans, space=None, section=None):
    """Add one subject's contrast maps (R1-GLM, and canonical when given) to ``report``.

    Parameters
    ----------
    report : mne.Report
    title : str
    contrasts : dict
        Name -> weights over ``conditions`` (sidecar order).
    maps : dict
        Name -> ``{"z": img, "threshold": Threshold, "table": DataFrame,
        "canonical": None | same three}``.
    events : DataFrame
        Events of the first run (for the design matrix).
    t_r : float
    n_scans : int
    space : "MNI" | None
        Draw over nilearn's MNI template when "MNI".
    section : str | None
        Report section of every entry; default ``"fMRI contrasts — <title>"``.
    """
    section = section or f"fMRI contrasts — {title}"
    bg_img = _background(space)
    conditions = sorted(events["trial_type"].astype(str).unique())
    first = next(iter(maps.values()))
    conditions = first.get("conditions", conditions)
    fig = plot_design_and_contrasts(events, t_r, n_scans, contrasts, conditions)
    add_figure(report, fig, f"Design and contrasts — {title}", section=section, tags=("fmri", "contrast"))
    rows = []
    for name, item in maps.items():
        fig = plot_thresholded_map(item["z"], item["threshold"], f"{name}: R1-GLM z (voxel-wise HRF)", bg_img)
        add_figure(report, fig, f"{name} — R1-GLM z map", section=section, tags=("fmri", "contrast"))
        html_parts = ["<h5>R1-GLM</h5>" + cluster_table_html(item["table"], item["threshold"])]
        n_r1 = _n_suprathreshold(item["z"], item["threshold"])
        n_can = ""
        if item.get("canonical"):
            can = item["canonical"]
            fig = plot_thresholded_map(can["z"], can["threshold"], f"{name}: canonical GLM z (nilearn, spm HRF)", bg_img)
            add_figure(report, fig, f"{name} — canonical GLM z map", section=section, tags=("fmri", "contrast"))
            html_parts.append("<h5>Canonical GLM</h5>" + cluster_table_html(can["table"], can["threshold"]))
            n_can = str(_n_suprathreshold(can["z"], can["threshold"]))
        rows.append((html.escape(name), str(n_r1), n_can or "—"))
        report.add_html("".join(html_parts), title=f"{name} — clusters", section=section, tags=("fmri", "clusters"))
    report.add_html(html_table(rows, ("contrast", "voxels passing, R1-GLM", "voxels passing, canonical GLM")),
                    title=f"Suprathreshold voxels — {title}", section=section, tags=("fmri", "contrast"))


def _n_suprathreshold(z_img, threshold):
    if not np.isfinite(threshold.z):
        return 0
    data = np.asarray(z_img.get_fdata())
    return int((np.abs(data) > threshold.z).sum() if threshold.two_sided else (data > threshold.z).sum())


def add_group_sections(report, sections, space="MNI"):
    """Group page: one section per contrast (group z map, clusters), HRF medians, fMRI decoding.

    Parameters
    ----------
    report : mne.Report
    sections : list of dict
        From ``Plan.group_glm_results``: ``kind`` "contrast" (paths ``z``, ``clusters``),
        "hrf" (``hrf_peak``, ``hrf_fwhm``) or "decoding" (``result``).
    space : "MNI" | None
    """
    import nibabel as nib

    from ..stats.second_level import GroupTrialDecodingResult
    from ..stats.thresholding import read_cluster_table

    bg_img = _background(space)
    decoding_rows = []
    for sec in sections:
        if sec["kind"] == "contrast":
            table, threshold = read_cluster_table(sec["clusters"])
            name = f"Group {sec['title']}"
            with open(sec["z"].replace(".nii.gz", ".json")) as fid:
                info = json.load(fid)
            fig = plot_thresholded_map(nib.load(sec["z"]), threshold, f"{name}: one-sample z, {sec['n_subjects']} subjects", bg_img)
            add_figure(report, fig, f"{name} — z map", section=f"Group contrast {sec['title']}", tags=("fmri", "group"))
            weights = ", ".join(f"{w:+g} {c}" for c, w in zip(info["Contrast"]["Conditions"], info["Contrast"]["Weights"]) if w)
            dof = float(info["DegreesOfFreedom"])
            few = ""
            if dof < 4:  # the t distribution's heavy tails: say why a group map of few subjects is empty
                from scipy import stats

                few = (f" With {sec['n_subjects']} subjects the one-sample t test has {dof:.0f} degree(s) of freedom: "
                       f"p < 0.05 two-sided, uncorrected, needs |t| > {stats.t.ppf(0.975, dof):.1f}, so few or no voxels "
                       "can pass a corrected threshold; the subjects' maps are on their pages.")
            report.add_html(f"<p>Contrast: {html.escape(weights)}; subjects' effect maps, SecondLevelModel "
                            f"(dof {dof:.0f}).{few}</p>" + cluster_table_html(table, threshold),
                            title=f"{name} — clusters", section=f"Group contrast {sec['title']}", tags=("fmri", "group"))
        elif sec["kind"] == "hrf":
            fig = plt.figure(figsize=(12, 6))
            for row, (key, what) in enumerate((("hrf_peak", "time to peak"), ("hrf_fwhm", "FWHM"))):
                _plot_positive(nib.load(sec[key]), f"median HRF {what} (s) over subjects, voxels active in half of "
                               f"them — {sec['title']}",
                               fig.add_axes([0.0, 0.5 * (1 - row), 1.0, 0.45]), bg_img)
            add_figure(report, fig, f"Group HRF — {sec['title']}", section="Group HRF", tags=("fmri", "hrf"))
        elif sec["kind"] == "decoding":
            res = GroupTrialDecodingResult.load(sec["result"])
            decoding_rows.append((html.escape(sec["title"]), res.scoring, f"{res.mean_scores:.3f}", f"{res.chance:.3f}",
                                  ", ".join(f"{s:.2f}" for s in res.scores), f"{res.p_value:.4f}", str(res.n_permutations)))
    if decoding_rows:
        from ..stats import smallest_sign_flip_p

        n_subjects = len(res.scores)
        report.add_html("<p>Each subject's cross-validated score of the R1-GLMS trial betas against chance; "
                        "one-sided sign-flip permutation test of the mean over subjects (every sign pattern when there are "
                        f"at most as many as the permutations asked for). With {n_subjects} subjects the smallest possible p "
                        f"is 1/2^{n_subjects} = {smallest_sign_flip_p(n_subjects):.2g}.</p>"
                        + html_table(decoding_rows, ("contrast", "score", "mean", "chance", "subjects", "p", "sign flips")),
                        title="Group fMRI decoding", section="Group decoding", tags=("fmri", "decoding"))


def _plot_positive(img, title, axes, bg_img):
    """A map of positive values (s); zeros (outside every mask) are left transparent."""
    from nilearn import plotting

    data = np.asarray(img.get_fdata())
    values = data[data > 0]
    vmin, vmax = (np.percentile(values, [2, 98]) if values.size else (0.0, 1.0))
    if not values.size:
        title += " — no active voxel, nothing to show"
    with _nothing_drawn():
        display = plotting.plot_stat_map(img, bg_img=bg_img, axes=axes, threshold=1e-6, cmap="viridis",
                                         vmin=float(vmin), vmax=float(vmax), symmetric_cbar=False, colorbar=True,
                                         title=title, display_mode="z", cut_coords=7,
                                         **({} if bg_img is not None else {"black_bg": False}))
    _label_colorbar(display, "s")
