"""Multitask Lasso and SGCL on the real MEG gain
=============================================

Sparse source localization on arrays: MultiTaskLasso (MxNE) and SGCL on the real MEG gain.

From the sample subject's MEG data to a figure: build a whitened volume forward model (15 mm
grid, a few seconds), simulate three dipoles, recover them with the multitask Lasso (free
orientation) and with SGCL, which also estimates one noise level per sensor type, and plot the
regularization path and the estimated time courses.

Run: ``python examples/sparse_example.py`` (figure saved to ``$NEUROOPT_EXAMPLE_OUTPUT`` or a temp
folder). Needs the shared ``meg_sample`` data (``../shared/data`` or ``NEUROOPT_SHARED_DATA``).
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
from neuroopt.sparse import SGCL, MultiTaskLasso, lasso_path, warmup  # noqa: E402
from neuroopt.sparse.penalties import group_norms  # noqa: E402
from neuroopt.utils import pin_blas_threads  # noqa: E402

pin_blas_threads(1)
try:
    examples_dir = Path(__file__).resolve().parent
except NameError:  # sphinx-gallery runs the examples from their folder, without __file__
    examples_dir = Path.cwd()
root = Path(os.environ.get("NEUROOPT_SHARED_DATA", examples_dir.parents[1] / "shared" / "data"))
data = root / "meg_sample"
print(f"numba kernel ready in {warmup():.2f} s")

# %% Whitened forward model: volume grid, MEG only, noise covariance whitener
# free orientation, each source's 3 columns of unit norm (full depth weighting: else the L21
# penalty favours superficial sources); sensor_types: channel type of each whitened row
sample = sample_meg_gain(data, pos=15.0, orientation="free")
gain, sensor_types, src_pos = sample["gain"], sample["sensor_types"], sample["source_rr"]
print(f"gain {gain.shape}, {src_pos.shape[0]} sources")

# %% Simulate three dipoles with distinct time courses, unit whitened noise
rng = np.random.default_rng(42)
n_times = 80
times = np.linspace(0, 0.2, n_times)
true_sources = [10, 120, 230]
W_true = np.zeros((gain.shape[1], n_times))
for k, s in enumerate(true_sources):
    course = np.sin(2 * np.pi * (k + 2) * 5 * times) * np.exp(-((times - 0.05 * (k + 1)) ** 2)
                                                              / 2e-3)
    ori = rng.standard_normal(3)
    W_true[3 * s:3 * s + 3] = np.outer(ori, course) * 6 / np.linalg.norm(gain[:, 3 * s:3 * s + 3] @ ori)
Y = gain @ W_true + rng.standard_normal((gain.shape[0], n_times))

# %% Multitask Lasso path (free orientation) and a fit with irMxNE reweighting
alphas, coefs, gaps = lasso_path(gain, Y, n_alphas=15, eps=0.05,
                                 estimator=MultiTaskLasso(n_orient=3))
n_active = [int((group_norms(coefs[..., k].T, 3) > 0).sum()) for k in range(len(alphas))]
mtl = MultiTaskLasso(0.3 * alphas[0], n_orient=3, n_reweighting=5, reweighting="l05",
                     debias=True).fit(gain, Y)
found = np.flatnonzero(mtl.active_set_)
print(f"MxNE found sources {found.tolist()} (true {true_sources}), "
      f"{mtl.n_gradient_passes_} full gradient passes")

# %% SGCL: same sparsity pattern, plus one noise level per sensor type (should be ~1)
sgcl = SGCL(sensor_groups=sensor_types, n_orient=3)
sgcl.set_params(alpha=0.7 * sgcl.alpha_max(gain, Y)).fit(gain, Y)
print("SGCL noise levels:", dict(zip(sgcl.sensor_groups_, np.round(sgcl.sigmas_, 3))),
      "active:", np.flatnonzero(sgcl.active_set_).tolist())

# %% Figure: path sparsity and recovered time courses
fig, axes = plt.subplots(1, 2, figsize=(10, 3.5), layout="constrained")
axes[0].semilogx(alphas / alphas[0], n_active, "o-")
axes[0].set(xlabel="alpha / alpha_max", ylabel="active sources", title="MultiTaskLasso path")
axes[0].invert_xaxis()
for s in found:
    axes[1].plot(times * 1e3, np.linalg.norm(mtl.coef_[:, 3 * s:3 * s + 3], axis=1),
                 label=f"estimated {s}")
for s in true_sources:
    axes[1].plot(times * 1e3, np.linalg.norm(W_true[3 * s:3 * s + 3], axis=0), "k:", lw=1)
axes[1].set(xlabel="time (ms)", ylabel="amplitude (norm over orientations)",
            title="irMxNE + debias (dotted: truth)")
axes[1].legend(fontsize=7)
out_dir = Path(os.environ.get("NEUROOPT_EXAMPLE_OUTPUT", tempfile.mkdtemp()))
out_dir.mkdir(parents=True, exist_ok=True)
fig.savefig(out_dir / "sparse_example.png", dpi=100)
print(f"figure saved to {out_dir / 'sparse_example.png'}")
