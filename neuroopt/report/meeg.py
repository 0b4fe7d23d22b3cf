"""M/EEG preprocessing section of the subject report (mne.Report)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from ._figures import html_table


def has_sensor_positions(info):
    """Whether MNE can place the channels of ``info`` on a topomap (EEG needs electrode positions).

    Parameters
    ----------
    info : mne.Info
        Measurement info.

    Returns
    -------
    bool
    """
    import mne

    try:
        mne.channels.find_layout(info, exclude=())
    except RuntimeError:  # "No digitization points found." and the like
        return False
    return True


def _ica_components(summary):
    """``ICA000, ICA003 (of 20)``: component names, not numbers that read like counts."""
    if summary.get("ica_n_components") is None:
        return "—"
    names = ", ".join(f"ICA{int(i):03d}" for i in summary["ica_excluded"]) or "none"
    return f"{names} (of {summary['ica_n_components']})"


def _add_figures(report, figs, title, *, section, tags, caption=None):
    """Add one figure, or several (MNE returns one per channel type) as a slider entry."""
    if isinstance(figs, (list, tuple)) and len(figs) == 1:
        figs = figs[0]
    if isinstance(figs, (list, tuple)) and caption is not None:
        caption = [caption] * len(figs)
    report.add_figure(figs, title=title, section=section, tags=tags, caption=caption)
    for fig in figs if isinstance(figs, (list, tuple)) else [figs]:
        plt.close(fig)


def add_meeg_preprocessing_section(
    report, *, title, raws_before=(), raws_clean=(), run_labels=(), summaries=(), icas=(), evokeds=None, cov=None, epochs_summary=None,
    section=None,
):
    """Add the M/EEG preprocessing results of one subject/task to ``report``.

    Shows, per run, the PSD of the raw data before and after cleaning (line noise and drifts
    removed), the bad channels found and the ICA components removed; then the evoked butterflies
    and topographies per condition, and the noise covariance (matrix and spectrum). Every entry
    goes into one report section (the recording's info table once), not one section per raw, ICA
    and evoked as ``Report.add_raw`` / ``add_ica`` / ``add_evokeds`` would make.

    Parameters
    ----------
    report : mne.Report
        Report to extend.
    title : str
        The recording group (``sub-01_task-demo``).
    raws_before, raws_clean : list of mne.io.Raw
        Each run before and after preprocessing.
    run_labels : list of str
        Each run's name.
    summaries : list of dict
        Each run's ``_desc-preproc_summary.json``.
    icas : list of mne.preprocessing.ICA | None
        Each run's ICA (None: no ICA).
    evokeds : list of mne.Evoked | None
        The evoked response per condition.
    cov : mne.Covariance | None
        The noise covariance.
    epochs_summary : dict | None
        The ``_desc-epochs_summary.json``.
    section : str | None
        Report section of every entry; default ``"M/EEG preprocessing — <title>"``.

    Returns
    -------
    report : mne.Report
    """
    section = section or f"M/EEG preprocessing — {title}"
    rows = []
    for label, summary in zip(run_labels, summaries):
        bads = summary["detected_bads"]
        rows.append(
            (
                label,
                ", ".join(summary["bids_bads"]) or "—",
                ", ".join(bads["flat"]) or "—",
                ", ".join(bads["noisy"]) or "—",
                summary["artifact_method"],
                _ica_components(summary)
                + (f" ({summary['artifact_note']})" if summary.get("artifact_note") else ""),
            )
        )
    if rows:
        report.add_html(
            html_table(rows, ("run", "bad in channels.tsv", "flat", "noisy", "artifacts", "ICA components excluded"))
            + "<p>ICA components are named as in MNE (ICA000 is the first); the number fitted is in brackets.</p>",
            title="Bad channels and artifacts",
            section=section,
            tags=("meeg", "preprocessing"),
        )
    if raws_clean:
        report.add_html(raws_clean[0].info._repr_html_(), title=f"Recording info ({run_labels[0]}, cleaned)", section=section,
                        tags=("meeg", "info"))
    for label, before, after, summary in zip(run_labels, raws_before, raws_clean, summaries):
        # the spectra leave out the bad channels found (listed in the table above), or a flat
        # channel's -inf dB hides every other curve
        found = summary["detected_bads"]["flat"] + summary["detected_bads"]["noisy"]
        before = before.copy().drop_channels(sorted(set(before.info["bads"]) | set(found)))
        for raw, when in ((before, "before"), (after, "after")):
            fmax = min(raw.info["lowpass"] * 1.5, raw.info["sfreq"] / 2)
            fig = raw.compute_psd(fmax=fmax, verbose="error").plot(show=False, amplitude=False)
            _add_figures(report, fig, f"PSD {label} ({when} cleaning)", section=section, tags=("meeg", "raw", "psd"))
    for label, ica in zip(run_labels, icas):
        if ica is None:
            continue
        excluded = ", ".join(f"ICA{i:03d}" for i in ica.exclude) or "none"
        if not has_sensor_positions(ica.info):
            report.add_html(f"<p>{ica.n_components_} components, excluded: {excluded}. The recording has no electrode "
                            "positions, so their topographies cannot be drawn.</p>", title=f"ICA {label}: components",
                            section=section, tags=("meeg", "ica"))
            continue
        picks = list(range(min(ica.n_components_, 20)))
        figs = ica.plot_components(picks=picks, show=False)
        _add_figures(report, figs, f"ICA {label}: components", section=section, tags=("meeg", "ica"),
                     caption=f"Topographies of the first {len(picks)} of {ica.n_components_} components; excluded: {excluded}.")
    if epochs_summary is not None:
        rows = sorted(epochs_summary["per_run_condition"].items())
        report.add_html(
            html_table([(k, v) for k, v in rows], ("run/condition", "epochs kept"))
            + f"<p>{epochs_summary['n_epochs']} epochs kept, {epochs_summary['n_dropped']} rejected.</p>",
            title="Epochs",
            section=section,
            tags=("meeg", "epochs"),
        )
    if evokeds:
        from ..meeg.whitening import covariance_rank

        rank = covariance_rank(cov, evokeds[0].info) if cov is not None else None
        rank_text = ", ".join(f"{k} {v}" for k, v in rank.items()) if isinstance(rank, dict) else str(rank)
        positions = has_sensor_positions(evokeds[0].info)
        for evoked in evokeds:
            if positions:
                figs = evoked.plot_joint(show=False, title=f"{evoked.comment} (n = {evoked.nave})")
                caption = "Butterfly plot with the topographies at the peaks of the global field power."
            else:
                figs = evoked.plot(show=False, titles=f"{evoked.comment} (n = {evoked.nave})")
                caption = "Butterfly plot (no electrode positions: no topographies)."
            _add_figures(report, figs, f"Evoked {evoked.comment}", section=section, tags=("meeg", "evoked"),
                         caption=caption)
            if cov is not None:
                # whitened with the covariance's own rank (the info rank is too high when channels
                # were interpolated or ICA components removed)
                fig = evoked.plot_white(cov, rank=rank, show=False, verbose="error")
                _add_figures(report, fig, f"Evoked {evoked.comment}: whitened (rank {rank_text})", section=section,
                             tags=("meeg", "evoked", "whitened"),
                             caption="Whitened by the noise covariance: within ±1.96 in the baseline when the covariance fits.")
    if cov is not None and evokeds:
        fig_cov, fig_svd = cov.plot(evokeds[0].info, show=False, verbose="error")
        _add_figures(report, fig_cov, "Noise covariance (baseline)", section=section, tags=("meeg", "covariance"))
        _add_figures(report, fig_svd, "Noise covariance: singular values", section=section, tags=("meeg", "covariance"))
    return report
