"""fMRI preprocessing section of the subject report."""

from __future__ import annotations

import numpy as np

from ._figures import add_figure, legend_outside, plt


def add_fmri_preprocessing_section(report, *, title, mask_img, runs, section=None):
    """Add the fMRI preprocessing results of one subject/task to ``report``.

    Parameters
    ----------
    report : mne.Report
    title : str
    mask_img : Nifti1Image
        The brain mask used for all runs.
    runs : list of dict
        Per run: ``label``, ``raw_img`` (4D), ``clean_img`` (4D), ``events`` (DataFrame), ``t_r``.
    section : str | None
        Report section of every entry; default ``"fMRI preprocessing — <title>"``.

    Shows the mask over the mean image, a carpet plot of the cleaned data, the global signal
    before/after cleaning, and the events with the canonical-HRF design matrix.
    """
    from nilearn import image, masking, plotting
    from nilearn.glm.first_level import make_first_level_design_matrix

    section = section or f"fMRI preprocessing — {title}"
    n_voxels = int(np.asarray(mask_img.dataobj).astype(bool).sum())
    for run in runs:
        label = run["label"]
        mean_img = image.mean_img(run["raw_img"], copy_header=True)
        fig = plt.figure(figsize=(9, 3))
        plotting.plot_roi(mask_img, bg_img=mean_img, figure=fig, title=f"mask over mean ({n_voxels} voxels)", alpha=0.4)
        add_figure(report, fig, f"Brain mask — {label}", section=section, tags=("fmri", "mask"))

        fig = plt.figure(figsize=(9, 4))
        plotting.plot_carpet(run["clean_img"], mask_img, t_r=run["t_r"], figure=fig, title=f"carpet (cleaned) — {label}")
        fig.subplots_adjust(bottom=0.15)  # room for the time axis label
        add_figure(report, fig, f"Carpet plot — {label}", section=section, tags=("fmri", "carpet"))

        before = masking.apply_mask(run["raw_img"], mask_img).mean(axis=1)
        after = masking.apply_mask(run["clean_img"], mask_img).mean(axis=1)
        times = np.arange(len(before)) * run["t_r"]
        fig, ax = plt.subplots(figsize=(9, 2.5), layout="constrained")
        ax.plot(times, before - before.mean(), label="raw")
        ax.plot(times, after - after.mean(), label="cleaned")
        ax.set(xlabel="time (s)", ylabel="global signal (demeaned)")
        legend_outside(ax)
        add_figure(report, fig, f"Global signal — {label}", section=section, tags=("fmri", "confounds"))

        frame_times = times
        design = make_first_level_design_matrix(frame_times, run["events"], hrf_model="spm", drift_model="cosine", high_pass=0.01)
        fig, ax = plt.subplots(figsize=(6, 5))
        plotting.plot_design_matrix(design, axes=ax)
        add_figure(report, fig, f"Design matrix (canonical HRF) — {label}", section=section, tags=("fmri", "design"))
        fig = plotting.plot_event(run["events"], figsize=(9, 2.5))
        add_figure(report, fig, f"Events — {label}", section=section, tags=("fmri", "events"))
    return report
