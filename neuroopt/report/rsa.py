"""Report sections for RSA: RDMs at chosen times, model fits over time with the noise ceiling."""

from __future__ import annotations

import numpy as np

from ._figures import add_figure, html_table, legend_outside, plt

# fewer subjects than this: no bootstrap p-value is shown (see add_model_comparison_section)
MIN_SUBJECTS_FOR_BOOTSTRAP_P = 5


def plot_rdms(stack, times=None, n_snapshots=4):
    """Square RDMs of an :class:`neuroopt.rsa.RDMStack` at a few time points.

    Parameters
    ----------
    stack : RDMStack
    times : list of float | None
        Times (s) to show; default ``n_snapshots`` evenly spaced after 0 (or along the axis).
    n_snapshots : int
        Number of RDMs when ``times`` is None.
    """
    is_time = stack.axis_name == "time"
    axis = np.asarray(stack.axis, dtype=float) if is_time else np.asarray(stack.axis)
    if times is None:
        start = int(np.searchsorted(axis, 0.0)) if is_time else 0
        index = np.unique(np.linspace(start, axis.size - 1, min(n_snapshots, axis.size)).round().astype(int))
    elif not is_time:
        raise ValueError(f"times only applies to time-resolved stacks, not axis {stack.axis_name!r}.")
    else:
        index = np.array([int(np.argmin(np.abs(axis - t))) for t in times])
    squares = stack.square()[index]
    # readable condition labels (9 pt on a 3.2-inch panel); beyond 24 conditions, ticks only
    labels = [str(c) for c in stack.conditions] if stack.n_conditions <= 24 else []
    fontsize = 9 if stack.n_conditions <= 8 else 7
    fig, axes = plt.subplots(1, index.size, figsize=(3.2 * index.size + 1.5, 3.8), layout="constrained",
                             squeeze=False)
    span = np.abs(squares).max() or 1.0
    for k, (ax, square, i) in enumerate(zip(axes[0], squares, index)):
        image = ax.imshow(square, cmap="viridis", vmin=min(0.0, square.min()), vmax=span)
        ax.set_title(f"{axis[i]:.3g} s" if is_time else f"{stack.axis_name} {axis[i]}")
        if labels:
            ax.set_xticks(range(stack.n_conditions), labels, rotation=45, ha="right", fontsize=fontsize)
            ax.set_yticks(range(stack.n_conditions), labels if k == 0 else [], fontsize=fontsize)
    fig.colorbar(image, ax=axes[0].tolist(), label=f"{stack.method} dissimilarity")
    return fig


def plot_model_fits(result, alpha=0.05, cluster_tests=None):
    """Group model fits over time with bootstrap SE, noise ceiling band and significant clusters.

    Parameters
    ----------
    result : ModelComparisonResult
    alpha : float
        Cluster p-value threshold.
    cluster_tests : dict | None
        Output of ``result.cluster_tests()`` (computed here when None).
    """
    tests = result.cluster_tests() if cluster_tests is None else cluster_tests
    axis = np.asarray(result.axis, dtype=float)
    fig, ax = plt.subplots(figsize=(8, 3.5), layout="constrained")
    lower, upper = result.noise_lower.mean(axis=0), result.noise_upper.mean(axis=0)
    ax.fill_between(axis, lower, upper, color="0.8", lw=0, label="noise ceiling")
    mean, se = result.mean_fits, result.standard_error
    span = np.nanmax(np.abs(mean)) or 1.0
    for i, name in enumerate(result.model_names):
        ax.plot(axis, mean[:, i], color=f"C{i}", label=name)
        ax.fill_between(axis, mean[:, i] - se[:, i], mean[:, i] + se[:, i], color=f"C{i}", alpha=0.25, lw=0)
        mask = tests[("zero", name)].significant_mask(alpha)
        if mask.any():
            y_sig = np.full(axis.size, np.nan)
            y_sig[mask] = -0.05 * span * (i + 1)
            ax.plot(axis, y_sig, color=f"C{i}", lw=4, solid_capstyle="butt")
    ax.axhline(0, color="k", lw=0.5)
    ax.set(xlabel="time (s)" if axis.size > 1 else "", ylabel=f"model fit ({result.method})")
    from .decoding import cluster_test_note

    note = cluster_test_note(result.fits.shape[0], alpha)
    if note is not None:
        ax.set_title(note.replace(", so", ",\nso"), fontsize=8, loc="left")
    legend_outside(ax)
    return fig


def add_rsa_section(report, stack, *, title="RSA", section="RSA", times=None, tags=("rsa",)):
    """Add the RDM snapshots of one subject to an ``mne.Report``."""
    add_figure(report, plot_rdms(stack, times), f"{title}: RDMs", section=section,
               caption=f"{stack.method} RDMs (noise: {stack.noise}); rows/columns: "
                       f"{', '.join(stack.conditions)}.", tags=tags)
    return report


def plot_model_bars(result):
    """Group model fits per region (non-time axis): bars with bootstrap SE and the noise ceiling."""
    names = [str(a) for a in np.asarray(result.axis)]
    mean, se = result.mean_fits, result.standard_error
    lower, upper = result.noise_lower.mean(axis=0), result.noise_upper.mean(axis=0)
    n_models = len(result.model_names)
    width = 0.8 / n_models
    fig, ax = plt.subplots(figsize=(3.5 + 1.2 * len(names) * n_models, 3.5), layout="constrained")
    for r in range(len(names)):
        ax.fill_between([r - 0.45, r + 0.45], lower[r], upper[r], color="0.8", lw=0, label="noise ceiling" if r == 0 else None)
    for i, name in enumerate(result.model_names):
        x = np.arange(len(names)) - 0.4 + width * (i + 0.5)
        ax.bar(x, mean[:, i], width, yerr=se[:, i], color=f"C{i}", label=name)
    ax.axhline(0, color="k", lw=0.5)
    ax.set_xticks(range(len(names)), names)
    ax.set(ylabel=f"model fit ({result.method})")
    legend_outside(ax)
    return fig


def add_model_comparison_section(report, result, *, title="RSA model comparison", section="RSA",
                                 alpha=0.05, tags=("rsa",)):
    """Add group model fits with noise ceiling to an ``mne.Report``: time courses with clusters
    for time-resolved RDMs, bars and a p-value table for regions (ROI axis)."""
    n_subjects = result.fits.shape[0]
    if np.asarray(result.axis).dtype.kind in "US":
        caption = (f"Mean model fit ({result.method}) across {n_subjects} subjects, "
                   "bootstrap SE; grey band: noise ceiling.")
        add_figure(report, plot_model_bars(result), title, section=section, caption=caption, tags=tags)
        n_boot = result.bootstrap_fits.shape[0]
        test = (f"p: one-sided bootstrap p-values, the fraction of the {n_boot} bootstrap samples (subjects drawn with "
                "replacement, and conditions too when there are 3 or more) whose group-mean fit is &le; 0 (last column: "
                f"reaches the lower noise ceiling), plus one, over {n_boot} + 1; nothing is permuted. The smallest value is "
                f"1/{n_boot + 1} = {1 / (n_boot + 1):.3g}, reached as soon as no sample crosses the line.")
        p_zero, p_ceiling = result.zero_p_values, result.ceiling_p_values
        show_p = n_subjects >= MIN_SUBJECTS_FOR_BOOTSTRAP_P
        rows = [(str(region), name, f"{result.mean_fits[r, i]:.3g}", f"{p_zero[i, r]:.3g}" if show_p else "—",
                 f"{p_ceiling[i, r]:.3g}" if show_p else "—")
                for r, region in enumerate(np.asarray(result.axis)) for i, name in enumerate(result.model_names)]
        if not show_p:
            test = (f"No p-value is shown: with {n_subjects} subjects a bootstrap of subjects draws one of "
                    f"{_n_resamples(n_subjects)} subject sets, so it does not estimate how the fit varies across subjects, "
                    f"and it gives its smallest p (1/{n_boot + 1} = {1 / (n_boot + 1):.3g}) whenever every subject's fit is "
                    f"above 0, which happens by chance with probability 1/2^{n_subjects} = {0.5 ** n_subjects:.2g} when fits "
                    f"are symmetric around 0. p-values are shown from {MIN_SUBJECTS_FOR_BOOTSTRAP_P} subjects on "
                    "(1/2^5 = 0.031 < 0.05). " + test)
        report.add_html(html_table(rows, ("region", "model", "mean fit", "p (fit > 0)", "p (below lower ceiling)"))
                        + f"<p>{test}</p>", title=f"{title}: statistics", section=section, tags=tags)
        return report
    tests = result.cluster_tests()
    from .decoding import cluster_test_note

    note = cluster_test_note(n_subjects, alpha)
    caption = (
        f"Mean model fit ({result.method}) across {n_subjects} subjects, bootstrap SE; grey band: noise ceiling; "
        + (f"{note}." if note is not None else
           f"bars: clusters with fit > 0 (p < {alpha}, one-sided sign-flip cluster permutation test over subjects).")
    )
    below = [name for name in result.model_names
             if tests[("ceiling", name)].significant_mask(alpha).any()]
    if below:
        caption += f" Below the lower noise ceiling in some clusters: {', '.join(below)}."
    add_figure(report, plot_model_fits(result, alpha, tests), title, section=section,
               caption=caption, tags=tags)
    return report


def _n_resamples(n):
    """Distinct sets of ``n`` subjects drawn with replacement from ``n``: C(2n - 1, n)."""
    from math import comb

    return comb(2 * n - 1, n)
