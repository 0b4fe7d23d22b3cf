"""Report sections for decoding: score over time with chance and clusters, generalisation matrix."""

from __future__ import annotations

import numpy as np

from ._figures import add_figure, legend_outside, plt

_LABELS = {"roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy"}


def cluster_test_note(n_subjects, alpha=0.05, tail=1):
    """What a sign-flip cluster test of ``n_subjects`` can show at ``alpha``: a sentence for
    figures and captions, or None when clusters with ``p < alpha`` are possible."""
    from ..stats import smallest_sign_flip_p

    smallest = smallest_sign_flip_p(n_subjects, tail)
    if smallest < alpha:
        return None
    needed = next(n for n in range(n_subjects, 64) if smallest_sign_flip_p(n, tail) < alpha)
    return (f"{n_subjects} subjects: the sign-flip cluster test has {2 ** (n_subjects - (tail == 0))} sign patterns, "
            f"so its smallest p is {smallest:.2g} and no cluster can reach p < {alpha:g} (that needs {needed} subjects or more)")


def plot_decoding_curve(result, ax=None, alpha=0.05):
    """Score over time with the chance line; group results add the SEM band and significant clusters.

    Parameters
    ----------
    result : TemporalDecodingResult | GroupDecodingResult
    ax : matplotlib Axes | None
    alpha : float
        Cluster p-value threshold (group results).

    Returns
    -------
    matplotlib.figure.Figure
    """
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(7.5, 3.2), layout="constrained")
    times = result.times
    if hasattr(result, "curves"):  # group
        curves = result.curves
        mean = curves.mean(axis=0)
        sem = curves.std(axis=0, ddof=1) / np.sqrt(curves.shape[0])
        ax.fill_between(times, mean - sem, mean + sem, alpha=0.3, color="C0", lw=0)
        label = f"mean of {curves.shape[0]} subjects (± SEM)"
        mask = result.significant_mask(alpha)
        if mask.any():
            y_sig = np.full(times.size, np.nan)
            y_sig[mask] = result.chance - 0.02 * (mean.max() - result.chance + 1e-9) - 0.01
            ax.plot(times, y_sig, color="k", lw=4, solid_capstyle="butt", label=f"cluster p < {alpha}")
        note = cluster_test_note(curves.shape[0], alpha)
        if note is not None:  # said on the figure, where a reader looks for the cluster bars
            ax.set_title(note.replace(", so", ",\nso"), fontsize=8, loc="left")
    else:
        mean = result.mean_scores if result.scores.ndim == 2 else np.diag(result.mean_scores)
        label = f"mean over {result.scores.shape[0]} folds"
    ax.plot(times, mean, color="C0", label=label)
    ax.axhline(result.chance, color="k", ls="--", lw=1, label="chance")
    ax.axvline(0, color="k", lw=0.5)
    ax.set(xlabel="time (s)", ylabel=_LABELS.get(result.scoring, result.scoring))
    legend_outside(ax)
    return fig


def plot_generalization(result, ax=None):
    """Temporal generalisation matrix (training time x testing time)."""
    scores = result.mean_scores
    if scores.ndim != 2:
        raise ValueError("plot_generalization needs a result computed with generalization=True.")
    fig, ax = (ax.figure, ax) if ax is not None else plt.subplots(figsize=(4.5, 4), layout="constrained")
    times = result.times
    span = max(abs(scores.max() - result.chance), abs(scores.min() - result.chance), 1e-6)
    image = ax.imshow(scores, origin="lower", cmap="RdBu_r", vmin=result.chance - span,
                      vmax=result.chance + span, extent=[times[0], times[-1], times[0], times[-1]],
                      aspect="auto")
    ax.axhline(0, color="k", lw=0.5)
    ax.axvline(0, color="k", lw=0.5)
    ax.set(xlabel="testing time (s)", ylabel="training time (s)")
    fig.colorbar(image, ax=ax, label=_LABELS.get(result.scoring, result.scoring))
    return fig


def plot_pattern_topomaps(result, n_times=5):
    """Topomaps of the Haufe patterns at the score's peak and at evenly spaced times after 0.

    Parameters
    ----------
    result : TemporalDecodingResult
        A result with patterns and channel locations (from ``decode_epochs``).
    n_times : int
        Number of topomaps.

    Returns
    -------
    matplotlib.figure.Figure
    """
    evoked = result.patterns_as_evoked()
    curve = result.mean_scores if result.mean_scores.ndim == 1 else np.diag(result.mean_scores)
    times = result.times
    after = times[times >= 0] if (times >= 0).sum() >= n_times else times
    shown = set(np.round(np.linspace(after[0], after[-1], n_times - 1), 3)) | {round(float(times[np.argmax(curve)]), 3)}
    ch_type = result.ch_types[0] if result.ch_types else None
    return evoked.plot_topomap(times=sorted(shown), ch_type=ch_type, units="a.u.", show=False)


def add_decoding_section(report, result, *, title="Decoding", section="Decoding", tags=("decoding",)):
    """Add the decoding figures of one subject or of the group to an ``mne.Report``."""
    classes = getattr(result, "classes", None)
    classes = " vs ".join(str(c) for c in classes) if classes is not None else ""
    caption = f"Cross-validated {_LABELS.get(result.scoring, result.scoring)}" + (
        f" for {classes}" if classes else "") + "; dashed line: chance."
    if hasattr(result, "curves"):  # group: what the cluster test found, or why it cannot find anything
        note = cluster_test_note(result.curves.shape[0])
        n_significant = int(np.sum(np.asarray(result.cluster_p_values) < 0.05))
        caption += (f" {note}." if note is not None else
                    f" Black bars: clusters above chance with p < 0.05 (one-sided sign-flip cluster permutation test over "
                    f"subjects); {n_significant} of {len(result.clusters)} cluster(s).")
    add_figure(report, plot_decoding_curve(result), f"{title}: score over time", section=section,
               caption=caption, tags=tags)
    scores = result.scores
    if scores.ndim == 3:
        add_figure(report, plot_generalization(result), f"{title}: temporal generalization",
                   section=section, caption="Score of classifiers trained at one time and tested at another.",
                   tags=tags)
    patterns = getattr(result, "patterns", None)
    if patterns is not None and getattr(result, "ch_locs", None) is not None:
        add_figure(report, plot_pattern_topomaps(result), f"{title}: patterns", section=section,
                   caption="Haufe patterns (data covariance x classifier weights, arbitrary units) at the "
                           "peak of the decoding score and at evenly spaced times after 0.", tags=tags)
    elif patterns is not None and len(getattr(result, "ch_names", [])) == patterns.shape[0]:
        fig, ax = plt.subplots(figsize=(6, 3.2), layout="constrained")
        span = np.abs(patterns).max() or 1.0
        image = ax.imshow(patterns, aspect="auto", cmap="RdBu_r", vmin=-span, vmax=span,
                          extent=[result.times[0], result.times[-1], patterns.shape[0], 0])
        ax.set(xlabel="time (s)", ylabel="channel")
        fig.colorbar(image, ax=ax, label="Haufe pattern (a.u.)")
        add_figure(report, fig, f"{title}: patterns", section=section,
                   caption="Haufe patterns (data covariance x classifier weights) over time.", tags=tags)
    return report
