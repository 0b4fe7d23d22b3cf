"""Noise levels estimated with the sources: SGCL and CLaR when the covariance is wrong
===================================================================================

The multitask Lasso (MxNE) assumes that whitening made the noise white with unit variance. When
the noise covariance is off (here: magnetometers three times noisier than it says), its
regularization is wrong for one sensor type. The smoothed concomitant Lasso (SGCL) estimates one
noise level per sensor type jointly with the sources, and CLaR a full noise covariance from the
non-averaged repetitions (epochs). This example simulates three dipoles through the real MEG gain
of the MNE sample subject (15 mm volume grid), fits the three estimators at the same fraction of
their own alpha_max, and compares the estimated noise with the truth and the supports found.

Needs the shared ``meg_sample`` data (``../shared/data`` or ``$NEUROOPT_SHARED_DATA``). Figures
go to ``$NEUROOPT_EXAMPLE_OUTPUT`` (default: a temporary folder).
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from neuroopt.datasets import sample_meg_gain  # noqa: E402
from neuroopt.sparse import SGCL, CLaR, MultiTaskLasso, warmup  # noqa: E402
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

# %% Whitened fixed-orientation gain of a 15 mm volume grid (MEG), unit-norm columns
# one orientation per source (the one of largest gain), unit-norm columns (full depth weighting);
# sensor_types: the channel type of each whitened row (the PCA whitener mixes channels)
sample = sample_meg_gain(data, pos=15.0, orientation="fixed")
gain, sensor_types = sample["gain"], sample["sensor_types"]
n_sensors, n_sources = gain.shape
print(f"gain: {n_sensors} whitened sensors x {n_sources} sources")

# %% Three dipoles, 40 epochs; magnetometer noise 3x what the covariance predicts
rng = np.random.default_rng(0)
n_times, n_epochs = 60, 40
times = np.arange(n_times) / 600.0
true_sources = rng.choice(n_sources, 3, replace=False)
W_true = np.zeros((n_sources, n_times))
for k, s in enumerate(true_sources):
    W_true[s] = 12.0 * np.sin(2 * np.pi * (8 + 4 * k) * times) * np.hanning(n_times)
true_sigma = np.where(sensor_types == "mag", 3.0, 1.0)
epochs = (gain @ W_true)[None] + true_sigma[None, :, None] * rng.standard_normal(
    (n_epochs, n_sensors, n_times)) * np.sqrt(n_epochs)
evoked = epochs.mean(axis=0)  # the average: noise back to true_sigma

# %% The three estimators at half of their own alpha_max
rho = 0.5
mtl = MultiTaskLasso(n_orient=1)
mtl.set_params(alpha=rho * mtl.alpha_max(gain, evoked)).fit(gain, evoked)
sgcl = SGCL(sensor_groups=sensor_types)
sgcl.set_params(alpha=rho * sgcl.alpha_max(gain, evoked)).fit(gain, evoked)
clar = CLaR()
clar.set_params(alpha=rho * clar.alpha_max(gain, epochs)).fit(gain, epochs)
fits = {"MxNE": mtl, "SGCL": sgcl, "CLaR": clar}
for name, est in fits.items():
    found = np.flatnonzero(est.active_set_)
    hits = np.isin(true_sources, found).sum()
    print(f"{name}: {found.size} active sources, {hits}/3 true ones found")
for label, sigma in zip(sgcl.sensor_groups_, sgcl.sigmas_):
    print(f"SGCL noise level of the {label} sensors: {sigma:.2f} "
          f"(truth {true_sigma[sensor_types == label][0]:.1f})")

# %% Figure: estimated noise levels and the supports
fig, axes = plt.subplots(1, 2, figsize=(10, 3.6), layout="constrained")
x = np.arange(len(sgcl.sensor_groups_))
axes[0].bar(x - 0.2, [true_sigma[sensor_types == g][0] for g in sgcl.sensor_groups_], 0.4,
            label="truth", color="0.7")
axes[0].bar(x + 0.2, sgcl.sigmas_, 0.4, label="SGCL estimate", color="C1")
axes[0].set(xticks=x, xticklabels=sgcl.sensor_groups_, ylabel="noise std (whitened units)",
            title="Noise level per sensor type")
axes[0].legend(loc="upper left")
for row, (name, est) in enumerate(fits.items()):
    found = np.flatnonzero(est.active_set_)
    axes[1].scatter(found, np.full(found.size, row), marker="|", s=300, color=f"C{row}")
axes[1].scatter(true_sources, np.full(3, -1), marker="v", s=80, color="k")
axes[1].set(yticks=[-1, 0, 1, 2], yticklabels=["truth", *fits], xlabel="source index",
            title=f"Active sources (alpha = {rho} alpha_max of each)", ylim=(-1.6, 2.6))
fig.savefig(out_dir / "concomitant_noise.png", dpi=100)
