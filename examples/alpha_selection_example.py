"""Choosing the regularization: SURE, held-out and the quantile universal threshold
==================================================================================

How much sparsity? ``alpha`` decides how many sources a multitask Lasso keeps. neuroopt offers
three automatic choices (``alpha="auto" | "sure" | "cv"``, on the estimators and in
``neuroopt.meeg.sparse_inverse``):

- ``"auto"``: the quantile universal threshold, the alpha_max that pure noise would give in 95 %
  of simulations, so that noise alone leaves the estimate empty;
- ``"sure"``: the alpha minimising Stein's unbiased estimate of the prediction risk, with the
  exact degrees of freedom of the solution from implicit differentiation on its support (no
  Monte-Carlo, no second solve), searched on a warm-started path and refined with its
  hypergradient;
- ``"cv"``: the alpha minimising a held-out error: fit the average of half the epochs, score the
  average of the other half (and the other way round).

This example simulates four dipoles through the real MEG gain of the MNE sample subject (15 mm
volume grid, fixed orientation, unit-norm columns) with 30 noisy epochs, fits the three choices,
and plots the criterion curves with the chosen alpha and the sources each one keeps. SURE and
the held-out error measure how well the data are *predicted*, so they keep weak spurious sources
that help prediction; the threshold of ``"auto"`` is set to keep noise out, which is what a
source map needs (and why it is the default).

Needs the shared ``meg_sample`` data (``../shared/data`` or ``$NEUROOPT_SHARED_DATA``). Figures
go to ``$NEUROOPT_EXAMPLE_OUTPUT`` (default: a temporary folder).
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib
import matplotlib.ticker

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuroopt.datasets import sample_meg_gain  # noqa: E402
from neuroopt.sparse import MultiTaskLasso, warmup  # noqa: E402
from neuroopt.utils import pin_blas_threads  # noqa: E402

pin_blas_threads(1)
try:
    examples_dir = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the examples from their folder, without __file__
    examples_dir = Path.cwd()
root = Path(os.environ.get("NEUROOPT_SHARED_DATA", examples_dir.parents[1] / "shared" / "data"))
data = root / "meg_sample"
out_dir = Path(os.environ.get("NEUROOPT_EXAMPLE_OUTPUT") or tempfile.mkdtemp())
out_dir.mkdir(parents=True, exist_ok=True)
print(f"numba kernel ready in {warmup():.2f} s")

# %% Whitened fixed-orientation gain (MEG, 15 mm volume grid), unit-norm columns
gain = sample_meg_gain(data, pos=15.0, orientation="fixed")["gain"]
n_sensors, n_sources = gain.shape

# %% Four dipoles, 30 epochs of unit white noise (what whitening promises)
rng = np.random.default_rng(1)
n_times, n_epochs = 60, 30
times = np.arange(n_times) / 600.0
true_sources = rng.choice(n_sources, 4, replace=False)
W_true = np.zeros((n_sources, n_times))
for k, s in enumerate(true_sources):
    W_true[s] = (6.0 + 2 * k) * np.sin(2 * np.pi * (6 + 3 * k) * times) * np.hanning(n_times)
epochs = (gain @ W_true)[None] + rng.standard_normal((n_epochs, n_sensors, n_times)) * np.sqrt(
    n_epochs)
evoked = epochs.mean(axis=0)  # noise of unit variance after averaging

# %% The three automatic choices
fits = {
    "auto (QUT)": MultiTaskLasso(alpha="auto").fit(gain, evoked),
    "sure": MultiTaskLasso(alpha="sure").fit(gain, evoked),
    # held-out: the estimator receives the epochs; the final fit uses their average
    "cv": MultiTaskLasso(alpha="cv").fit(gain, epochs),
}
alpha_max = MultiTaskLasso().alpha_max(gain, evoked)
for name, est in fits.items():
    found = np.flatnonzero(est.active_set_)
    hits = np.isin(true_sources, found).sum()
    print(f"{name:10s}: alpha = {est.alpha_ / alpha_max:.2f} alpha_max, {found.size} active "
          f"sources, {hits}/4 true ones" + (f", {est.n_solves_} solves" if name != "auto (QUT)" else ""))

# %% Criterion curves (SURE and held-out) with the chosen alpha, and the supports
fig, axes = plt.subplots(1, 3, figsize=(13, 3.6), layout="constrained")
for ax, name in zip(axes[:2], ("sure", "cv")):
    est = fits[name]
    ax.semilogx(est.alphas_ / alpha_max, est.criterion_path_, "o-", ms=4, color="C0")
    ax.axvline(est.alpha_ / alpha_max, color="C3", ls="--", label=f"chosen: {est.alpha_ / alpha_max:.2f}")
    ax.axvline(fits["auto (QUT)"].alpha_ / alpha_max, color="0.5", ls=":", label="QUT (auto)")
    ax.set(xlabel="alpha / alpha_max", title="SURE" if name == "sure" else "held-out error",
           ylabel="criterion")
    ax.xaxis.set_minor_formatter(matplotlib.ticker.NullFormatter())
    ax.legend(fontsize=8)
for row, (name, est) in enumerate(fits.items()):
    found = np.flatnonzero(est.active_set_)
    axes[2].scatter(found, np.full(found.size, row), marker="|", s=300, color=f"C{row}")
axes[2].scatter(true_sources, np.full(4, -1), marker="v", s=80, color="k")
axes[2].set(yticks=[-1, 0, 1, 2], yticklabels=["truth", *fits], xlabel="source index",
            title="Active sources", ylim=(-1.6, 2.6))
fig.savefig(out_dir / "alpha_selection.png", dpi=100)
