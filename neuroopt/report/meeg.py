"""M/EEG preprocessing section of the subject report (mne.Report)."""

from __future__ import annotations

import matplotlib.pyplot as plt

from ._figures import html_table


def _ica_components(summary):
    """``ICA000, ICA003 (of 20)``: component names, not numbers that read like counts."""
    if summary.get("ica_n_components") is None:
        return "—"
    names = ", ".join(f"ICA{int(i):03d}" for i in summary["ica_excluded"]) or "none"
    return f"{names} (of {summary['ica_n_components']})"


def add_meeg_preprocessing_section(
    report, *, title, raws_before=(), raws_clean=(), run_labels=(), summaries=(), icas=(), evokeds=None, cov=None, epochs_summary=None
):
    """Add the M/EEG preprocessing results of one subject/task to ``report``.

    Shows, per run, the PSD of the raw data before and after cleaning (line noise and drifts
    removed), the bad channels found and the ICA components removed; then the evoked butterflies
    and topographies per condition, and the noise covariance (matrix and spectrum).
    """
    section = f"M/EEG preprocessing — {title}"
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
    for label, before, after, summary in zip(run_labels, raws_before, raws_clean, summaries):
        # the report's spectra include bad channels: drop the ones found (listed in the table above),
        # or a flat channel's -inf dB hides every other curve
        found = summary["detected_bads"]["flat"] + summary["detected_bads"]["noisy"]
        before = before.copy().drop_channels(sorted(set(before.info["bads"]) | set(found)))
        report.add_raw(before, title=f"Raw {label} (before)", psd=True, butterfly=False, tags=("raw", "before"))
        report.add_raw(after, title=f"Raw {label} (cleaned)", psd=True, butterfly=False, tags=("raw", "cleaned"))
    for label, ica, after in zip(run_labels, icas, raws_clean):
        if ica is not None:
            report.add_ica(ica, title=f"ICA {label}", inst=None, n_components=min(ica.n_components_, 20), tags=("ica",))
    if epochs_summary is not None:
        rows = sorted(epochs_summary["per_run_condition"].items())
        report.add_html(
            html_table([(k, v) for k, v in rows], ("run/condition", "epochs kept"))
            + f"<p>{epochs_summary['n_epochs']} epochs kept, {epochs_summary['n_dropped']} rejected.</p>",
            title="Epochs",
            section=section,
            tags=("epochs",),
        )
    if evokeds:
        # the whitened evokeds are drawn here, with the covariance's own rank: MNE's add_evokeds
        # whitens with the "info" rank, too high when channels were interpolated or ICA removed
        report.add_evokeds(evokeds, n_time_points=5, tags=("evoked",))
        if cov is not None:
            from ..meeg.whitening import covariance_rank

            rank = covariance_rank(cov, evokeds[0].info)
            for evoked in evokeds:
                fig = evoked.plot_white(cov, rank=rank, show=False, verbose="error")
                report.add_figure(fig, title=f"{evoked.comment}: whitened (rank {rank})", section=section,
                                  tags=("evoked", "whitened"))
                plt.close(fig)
    if cov is not None and evokeds:
        report.add_covariance(cov, info=evokeds[0].info, title="Noise covariance (baseline)", tags=("covariance",))
    return report
