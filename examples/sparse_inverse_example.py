"""Sparse source localisation of the demo EEG
==========================================

Sparse source localisation of the demo EEG, scored against the simulation's ground truth.

From the demo BIDS dataset to a report: read one run, average the "auditory/left" trials,
invert them with a multitask Lasso (MxNE) and a square-root Lasso on the sphere-model forward,
compare the sources with the known dipoles and write an HTML report section.

Output folder: ``$NEUROOPT_EXAMPLE_OUTPUT`` if set, else a temporary folder.
"""

# %%
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import mne  # noqa: E402
from mne_bids import BIDSPath, read_raw_bids  # noqa: E402

from neuroopt.datasets import DEMO_TASK, load_demo_truth, make_demo_dataset  # noqa: E402
from neuroopt.meeg.forward import make_sphere_forward  # noqa: E402
from neuroopt.meeg.inverse import sparse_inverse  # noqa: E402
from neuroopt.meeg.source_scoring import score_sources_against_truth  # noqa: E402
from neuroopt.report.sources import (  # noqa: E402
    add_sources_section,
    plot_sources_on_anatomy,
    sparse_inverse_fit,
)

mne.set_log_level("error")
out_dir = Path(os.environ.get("NEUROOPT_EXAMPLE_OUTPUT") or tempfile.mkdtemp())
out_dir.mkdir(parents=True, exist_ok=True)

# %% The demo dataset: one subject, one EEG run, known dipoles
root = make_demo_dataset(out_dir / "demo", n_subjects=1, n_runs=1, fmri=False)
truth = load_demo_truth(root, subject="01")["eeg"]
print(truth["sources"][["name", "x", "y", "z"]])

# %% Read, re-reference (average, as a projector: required for inverse modelling), filter
bids_path = BIDSPath(subject="01", task=DEMO_TASK, run="01", datatype="eeg", suffix="eeg",
                     extension=".vhdr", root=root)
raw = read_raw_bids(bids_path, verbose=False).load_data()
raw.info["bads"] = sorted(set(raw.info["bads"]) | set(truth["bad_channels"]))
raw.set_eeg_reference("average", projection=True)
raw.filter(1.0, 40.0)

# %% Epochs, evoked response of one condition and the noise covariance of the baseline
events, event_id = mne.events_from_annotations(raw)
epochs = mne.Epochs(raw, events, event_id, tmin=-0.2, tmax=0.5, baseline=(None, 0),
                    reject=dict(eog=250e-6), preload=True)
noise_cov = mne.compute_covariance(epochs, tmax=0.0, method="empirical", rank="info")
evoked = epochs["auditory/left"].average().crop(0.0, 0.3)
print(f"{evoked.nave} trials averaged")

# %% Forward: the same sphere model and 10 mm grid the demo simulated with
forward, src, _ = make_sphere_forward(evoked.info)

# %% Sparse inverses: multitask Lasso and square-root Lasso, alpha chosen automatically
# (quantile universal threshold), with 5 reweighting steps (irMxNE) against the L2,1 spread.
# The contralateral (right) auditory source is the stronger one; the ipsilateral one has 55 %
# of its amplitude, and the conservative automatic alpha may miss or misplace it.
solutions = {
    name: sparse_inverse(evoked, forward, noise_cov, estimator=name, alpha="auto",
                         n_reweighting=5)
    for name in ("mtl", "sqrt")
}
waveforms = truth["waveforms"]["auditory/left"]
for name, sol in solutions.items():
    scores = score_sources_against_truth(sol.stc, truth["sources"], forward,
                                         truth_waveforms=waveforms)
    errors = {k: f"{v * 1e3:.0f} mm" for k, v in scores["localization_error_m"].items()}
    print(f"{name}: alpha = {sol.alpha_fraction:.2f} alpha_max, {scores['n_estimated']} "
          f"sources, errors {errors}, {scores['n_spurious']} spurious; noise / covariance "
          f"= {sol.noise_levels['noise_to_cov_ratio'].iloc[0]:.2f}")

# %% Figure and report section
sol = solutions["mtl"]
fig = plot_sources_on_anatomy(sol.stc, forward, truth=truth["sources"].iloc[:2],
                              title="auditory/left: multitask Lasso, true dipoles (x)")
fig.savefig(out_dir / "sparse_inverse_locations.png", dpi=100)
report = mne.Report(title="Sparse sources (demo)")
add_sources_section(report, sol.stc, forward, noise_levels=sol.noise_levels,
                    truth=truth["sources"].iloc[:2], dipoles=sol.dipoles,
                    fit=sparse_inverse_fit(sol),
                    scores=score_sources_against_truth(sol.stc, truth["sources"], forward,
                                                       truth_waveforms=waveforms),
                    title="auditory/left (multitask Lasso)")
report.save(out_dir / "sparse_inverse_report.html", open_browser=False, overwrite=True)
print(f"figure and report written to {out_dir}")
