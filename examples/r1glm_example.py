"""Voxel-wise HRFs with the rank-1 GLM
===================================

Voxel-wise HRFs with the rank-1 GLM on the demo fMRI data, scored against the known truth.

From the demo BIDS dataset to figures: fit one HRF per voxel shared by all conditions
(R1-GLM, Pedregosa et al. 2015) on two runs jointly, look at HRF shapes and the time-to-peak
map, compare with the canonical-HRF GLM, save BIDS-derivative maps and a report section.

Output folder: ``$NEUROOPT_EXAMPLE_OUTPUT`` if set, else a temporary folder.
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import mne  # noqa: E402
import numpy as np  # noqa: E402

from neuroopt.datasets import load_demo_truth, make_demo_dataset  # noqa: E402
from neuroopt.fmri.maps import (  # noqa: E402
    fit_r1glm_images,
    r1glm_derivative_paths,
    save_r1glm_derivatives,
    score_against_truth,
)
from neuroopt.report.hrf import (  # noqa: E402
    add_hrf_section,
    plot_hrf_shapes,
    truth_hrfs_in_fit_order,
)

out_dir = Path(os.environ.get("NEUROOPT_EXAMPLE_OUTPUT") or tempfile.mkdtemp())
out_dir.mkdir(parents=True, exist_ok=True)

# %% The demo dataset: one subject, two fMRI runs with known HRFs and betas
root = make_demo_dataset(out_dir / "demo", n_subjects=1, n_runs=2, eeg=False)
truth = load_demo_truth(root, subject="01")
t_r = truth["fmri"]["t_r"]
func = root / "sub-01" / "func"
bold_runs = sorted(func.glob("sub-01_task-demo_run-*_bold.nii.gz"))
events = sorted(func.glob("sub-01_task-demo_run-*_events.tsv"))
print(f"{len(bold_runs)} runs, TR {t_r} s, conditions {truth['fmri']['conditions']}")

# %% Fit: 3-function basis over 32 s, AR(1) prewhitening, runs fitted jointly
result = fit_r1glm_images(bold_runs, events, truth["fmri"]["mask_img"], t_r=t_r,
                          basis="3hrf", noise_model="ar1")
est = result.estimator
print(f"{est.betas_.shape[1]} voxels fitted in {est.fit_time_:.1f} s")

# %% How close to the truth?
scores = score_against_truth(result, truth)
print({k: round(v, 3) if isinstance(v, float) else v for k, v in scores.items()})

# %% HRF shapes of the best-fitted voxels (dashed: true HRFs)
true_hrfs, true_times = truth_hrfs_in_fit_order(result, truth)
fig = plot_hrf_shapes(result, n_voxels=4, truth_hrfs=true_hrfs, truth_times=true_times)
fig.savefig(out_dir / "r1glm_hrf_shapes.png", dpi=100)

# %% Estimated vs true time to peak, where there is signal
active = est.r2_ >= np.percentile(est.r2_, 98)
true_peak = result.masker.transform(truth["fmri"]["hrf_peak_img"]).ravel()
fig, ax = plt.subplots(figsize=(4, 4), constrained_layout=True)
ax.scatter(true_peak[active], est.hrf_peak_time_[active], s=6)
ax.plot([3, 8], [3, 8], "k--", lw=1)
ax.set(xlabel="true time to peak (s)", ylabel="estimated (s)",
       title="Best 2 % voxels by R²")
fig.savefig(out_dir / "r1glm_time_to_peak.png", dpi=100)

# %% Save BIDS-derivative maps (atomic writes) and a report section
paths = r1glm_derivative_paths(out_dir / "derivatives" / "sub-01" / "func", "sub-01_task-demo")
paths = {k: v for k, v in paths.items() if k not in ("trial_betas", "trials")}
written = save_r1glm_derivatives(result, paths)
report = mne.Report(title="R1-GLM example")
add_hrf_section(report, result, truth=truth, max_conditions=2)
report.save(out_dir / "r1glm_report.html", overwrite=True, open_browser=False)
print(f"figures, maps and report in {out_dir}")
