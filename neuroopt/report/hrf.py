"""Report section of the rank-1 GLM stage: HRF shapes, time-to-peak, betas, gain over canonical."""

from __future__ import annotations

import html

import numpy as np

from ..utils import logger

SECTION = "HRF estimation (rank-1 GLM)"


def _best_voxels(estimator, n_voxels):
    """Indices of the voxels best explained by the rank-1 model."""
    order = np.argsort(-np.nan_to_num(estimator.r2_))
    return order[:n_voxels]


def plot_hrf_shapes(result, n_voxels=4, truth_hrfs=None, truth_times=None, top_fraction=0.01):
    """HRFs of the best-fitted voxels, and the median HRF of the best voxels vs the canonical.

    Parameters
    ----------
    result : R1GLMImages
    n_voxels : int
        Number of single voxels to draw.
    truth_hrfs : ndarray (n_truth_times, n_voxels) in the fit's voxel order, or None
        True HRFs to overlay (dashed).
    truth_times : ndarray or None
    top_fraction : float
        Fraction of voxels (best R²) summarised in the right panel.

    Returns
    -------
    fig : matplotlib.figure.Figure
    """
    import matplotlib.pyplot as plt

    est = result.estimator
    times = est.hrf_times_
    best = _best_voxels(est, n_voxels)
    top = _best_voxels(est, max(1, int(top_fraction * est.r2_.size)))
    fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), constrained_layout=True)
    colors = plt.rcParams["axes.prop_cycle"].by_key()["color"]
    for i, v in enumerate(best):
        color = colors[i % len(colors)]
        axes[0].plot(times, est.hrf_[:, v], color=color,
                     label=f"voxel {v}: peak {est.hrf_peak_time_[v]:.1f} s, R² {est.r2_[v]:.2f}")
        if truth_hrfs is not None:
            scale = np.abs(est.hrf_[:, v]).max() / max(np.abs(truth_hrfs[:, v]).max(), 1e-12)
            axes[0].plot(truth_times, truth_hrfs[:, v] * scale, "--", color=color, lw=1)
    axes[0].set(title="Best-fitted voxels" + (" (dashed: truth)" if truth_hrfs is not None else ""),
                xlabel="time since onset (s)", ylabel="HRF (unit norm)")
    axes[0].legend(fontsize=7)
    hrf_top = est.hrf_[:, top]
    q25, q50, q75 = np.percentile(hrf_top, [25, 50, 75], axis=1)
    axes[1].fill_between(times, q25, q75, alpha=0.3, label="interquartile range")
    axes[1].plot(times, q50, label=f"median of top {top.size} voxels")
    canonical = est.basis_.canonical() if est.basis_.kind == "3hrf" else None
    if canonical is None:
        from ..fmri.hrf_basis import HRFBasis

        ref = HRFBasis("3hrf", t_r=est.t_r, hrf_length=est.hrf_length)
        canonical = np.interp(times, ref.times, ref.canonical())
    canonical = canonical * q50.max() / canonical.max()
    axes[1].plot(times, canonical, "k--", label="canonical (SPM), scaled")
    axes[1].set(title=f"HRF of the best {100 * top_fraction:g} % voxels (R²)",
                xlabel="time since onset (s)")
    axes[1].legend(fontsize=7)
    return fig


def _stat_map_figure(imgs, titles, cmap, symmetric, vmax=None, threshold=None):
    import matplotlib.pyplot as plt
    from nilearn import plotting

    n = len(imgs)
    n_slices = imgs[0].shape[2]
    fig, axes = plt.subplots(n, 1, figsize=(10, 2.2 * n), squeeze=False)
    for ax, img, title in zip(axes[:, 0], imgs, titles):
        plotting.plot_stat_map(img, bg_img=None, display_mode="z",
                               cut_coords=min(6, n_slices), axes=ax, title=title, cmap=cmap,
                               symmetric_cbar=symmetric, vmax=vmax, threshold=threshold,
                               colorbar=True, black_bg=False)
    return fig


def add_hrf_section(report, result, truth=None, n_voxels=4, max_conditions=6,
                    section=SECTION, replace=True):
    """Add the rank-1 GLM figures (and truth scores) to an MNE report.

    Parameters
    ----------
    report : mne.Report
    result : R1GLMImages
        From :func:`neuroopt.fmri.maps.fit_r1glm_images`.
    truth : dict | None
        ``load_demo_truth(root, subject)``: adds a scores table and true HRFs to the plots.
    n_voxels : int
        Single-voxel HRFs to draw.
    max_conditions : int
        Beta maps drawn (first conditions in sorted order).
    section : str
        Report section name.
    replace : bool
        Replace existing elements with the same titles.

    Returns
    -------
    report : mne.Report
    scores : dict | None
        :func:`~neuroopt.fmri.maps.score_against_truth` output when ``truth`` is given.
    """
    import matplotlib.pyplot as plt
    from nilearn.image import index_img

    est = result.estimator
    tags = ("fmri", "hrf")
    truth_hrfs = truth_times = None
    scores = None
    if truth is not None:
        from ..fmri.maps import score_against_truth

        scores = score_against_truth(result, truth)
        truth_hrfs, truth_times = truth_hrfs_in_fit_order(result, truth)
    fig = plot_hrf_shapes(result, n_voxels=n_voxels, truth_hrfs=truth_hrfs,
                          truth_times=truth_times)
    report.add_figure(fig, title="HRF shapes", section=section, tags=tags, replace=replace,
                      caption=f"{est.basis_.kind} basis over {est.hrf_length:g} s, "
                              f"noise model {est.noise_model}.")
    plt.close(fig)

    active = est.r2_ >= np.percentile(est.r2_, 75)
    peak = np.where(active, np.nan_to_num(est.hrf_peak_time_), 0.0)
    vmax = float(np.nanmax(est.hrf_peak_time_[active])) if active.any() else None
    fig = _stat_map_figure([result.masker.inverse_transform(peak)],
                           ["HRF time to peak (s), top 25 % R² voxels"], "viridis", False,
                           vmax=vmax)
    report.add_figure(fig, title="Time-to-peak map", section=section, tags=tags, replace=replace,
                      caption=f"Median {np.nanmedian(est.hrf_peak_time_[active]):.2f} s in the "
                              "shown voxels.")
    plt.close(fig)

    conditions = result.conditions[:max_conditions]
    imgs = [index_img(result.betas, k) for k in range(len(conditions))]
    vmax = float(np.percentile(np.abs(result.masker.transform(result.betas)), 99)) or None
    fig = _stat_map_figure(imgs, [f"beta {c}" for c in conditions], "RdBu_r", True, vmax=vmax)
    report.add_figure(fig, title="Condition beta maps", section=section, tags=tags,
                      replace=replace)
    plt.close(fig)

    gain = est.r2_ - est.r2_canonical_
    fig, ax = plt.subplots(1, 1, figsize=(5, 3.2), constrained_layout=True)
    ax.hist(gain, bins=50)
    ax.axvline(0, color="k", lw=1)
    ax.set(xlabel="R² rank-1 GLM - R² canonical GLM", ylabel="voxels",
           title=f"Explained variance gain (median {np.median(gain):.3f})")
    report.add_figure(fig, title="Gain over the canonical GLM (histogram)", section=section,
                      tags=tags, replace=replace)
    plt.close(fig)
    fig = _stat_map_figure([result.r2_gain], ["R² gain over canonical-HRF GLM"], "RdBu_r", True)
    report.add_figure(fig, title="Gain over the canonical GLM (map)", section=section, tags=tags,
                      replace=replace)
    plt.close(fig)

    rows = {"voxels": est.r2_.size, "conditions": len(result.conditions),
            "median R² rank-1": f"{np.median(est.r2_):.3f}",
            "median R² canonical": f"{np.median(est.r2_canonical_):.3f}",
            "median ALS iterations": int(np.median(est.n_iter_)),
            "fit time (s)": f"{est.fit_time_:.2f}"}
    rows = {k: (v, "") for k, v in rows.items()}
    if scores is not None:
        from ..datasets.scores import format_truth_score

        for key, value in scores.items():
            label, text, meaning = format_truth_score(key, value)
            rows[f"truth: {label}"] = (text, meaning)
    table = "".join(f"<tr><th>{html.escape(str(k))}</th><td>{html.escape(str(v))}</td>"
                    f"<td>{html.escape(meaning)}</td></tr>" for k, (v, meaning) in rows.items())
    guide = ("<p>Rows marked <em>truth</em> compare the fit with the demo's simulated HRFs and betas "
             "(r: Pearson correlation, 1 is perfect).</p>" if scores is not None else "")
    report.add_html(f"<table class='table table-sm'>{table}</table>{guide}", title="Fit summary",
                    section=section, tags=tags, replace=replace)
    logger.info("added %s to the report", section)
    return report, scores


def truth_hrfs_in_fit_order(result, truth):
    """True HRFs of ``load_demo_truth`` re-indexed to the fit's voxels.

    Returns
    -------
    hrfs : ndarray (n_truth_times, n_fit_voxels) or None
        NaN columns where the truth has no voxel; None if the grids differ.
    times : ndarray or None
    """
    fmri = truth["fmri"] if "fmri" in truth else truth
    truth_mask = np.asarray(fmri["mask_img"].get_fdata()) != 0
    fit_mask = np.asarray(result.masker.mask_img_.get_fdata()) != 0
    if truth_mask.shape != fit_mask.shape:
        return None, None
    hrfs = np.asarray(fmri["hrfs"])
    out = np.full((hrfs.shape[0], int(fit_mask.sum())), np.nan)
    index_in_truth = np.cumsum(truth_mask.ravel()) - 1
    fit_voxels = np.flatnonzero(fit_mask.ravel())
    has_truth = truth_mask.ravel()[fit_voxels]
    out[:, has_truth] = hrfs[:, index_in_truth[fit_voxels[has_truth]]]
    return out, np.asarray(fmri["hrf_times"], dtype=float)
