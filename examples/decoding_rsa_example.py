"""Decoding over time and crossnobis RSA of the demo EEG
=====================================================

Decoding and RSA of EEG epochs, from the demo BIDS dataset to group figures.

Run it as a script (``python examples/decoding_rsa_example.py``) or cell by cell (``# %%``) in an
editor. Figures go to ``$NEUROOPT_EXAMPLE_OUTPUT`` (default: a temporary folder).
"""

# %% Imports and output folder
import os
import tempfile
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import mne  # noqa: E402
import numpy as np  # noqa: E402
import pandas as pd  # noqa: E402
from mne_bids import BIDSPath, read_raw_bids  # noqa: E402

from neuroopt.datasets import DEMO_EEG_CONDITIONS, DEMO_TASK, make_demo_dataset  # noqa: E402
from neuroopt.decoding import decode_epochs, group_decoding  # noqa: E402
from neuroopt.report.decoding import plot_decoding_curve  # noqa: E402
from neuroopt.report.rsa import plot_model_fits, plot_rdms  # noqa: E402
from neuroopt.rsa import (  # noqa: E402
    epochs_rdms,
    evaluate_models,
    model_rdm_from_labels,
    stack_subject_rdms,
)

mne.set_log_level("warning")
output = Path(os.environ.get("NEUROOPT_EXAMPLE_OUTPUT") or tempfile.mkdtemp(prefix="neuroopt_"))
output.mkdir(parents=True, exist_ok=True)

# %% Data: the demo EEG dataset (5 subjects, 2 runs, 4 conditions with known sources)
root = make_demo_dataset(output / "demo_bids", n_subjects=5, n_runs=2, fmri=False,
                         eeg_trials_per_condition=20)


def subject_epochs(subject):
    """Band-pass filtered epochs of all runs, with the run in the metadata."""
    all_runs = []
    for run in (1, 2):
        path = BIDSPath(root=root, subject=subject, task=DEMO_TASK, run=f"{run:02d}",
                        datatype="eeg", suffix="eeg", extension=".vhdr")
        raw = read_raw_bids(path, verbose="error").load_data().filter(1.0, 30.0, verbose="error")
        # mark flat channels bad (the preprocessing stage does this in the pipeline)
        picks = mne.pick_types(raw.info, eeg=True)
        std = raw.get_data(picks).std(axis=1)
        raw.info["bads"] += [raw.ch_names[p] for p, s in zip(picks, std) if s < 0.01 * np.median(std)]
        events, event_id = mne.events_from_annotations(raw, verbose="error")
        event_id = {name: code for name, code in event_id.items() if name in DEMO_EEG_CONDITIONS}
        epochs = mne.Epochs(raw, events, event_id, tmin=-0.2, tmax=0.5, baseline=(None, 0),
                            decim=10, preload=True, verbose="error")
        epochs.metadata = pd.DataFrame({"run": np.full(len(epochs), run)})
        all_runs.append(epochs)
    bads = sorted({bad for epochs in all_runs for bad in epochs.info["bads"]})
    for epochs in all_runs:  # same channel set in every run
        epochs.info["bads"] = bads
    return mne.concatenate_epochs(all_runs, verbose="error")


# %% Per subject: decode auditory vs visual over time, and crossnobis RDM stacks
subjects = ["01", "02", "03", "04", "05"]
all_epochs = [subject_epochs(subject) for subject in subjects]
# group statistics need the same channels in every subject: leave out any subject's bad channels
# (or interpolate them with epochs.interpolate_bads() when a montage is available)
common_bads = sorted({bad for epochs in all_epochs for bad in epochs.info["bads"]})
decoding, stacks = [], []
for subject, epochs in zip(subjects, all_epochs):
    epochs.info["bads"] = common_bads
    # folds hold out whole runs; batched shrinkage LDA = sklearn's LDA(lsqr, auto) per time point
    decoding.append(decode_epochs(epochs, ("auditory", "visual"), runs="run"))
    # leave-one-run-out crossnobis with shrinkage noise normalisation, one RDM per time point
    stacks.append(epochs_rdms(epochs, runs="run", method="crossnobis", noise="shrinkage_diag"))
    print(f"sub-{subject}: peak AUC {decoding[-1].mean_scores.max():.2f}")

# %% Group: decoding curve with cluster-corrected significance
group = group_decoding(decoding, subjects=subjects, n_permutations=256)
fig = plot_decoding_curve(group)
fig.savefig(output / "group_decoding.png", dpi=100)

# %% RDMs of one subject, and model fits with noise ceiling over time
fig = plot_rdms(stacks[0], times=[0.1, 0.2, 0.3])
fig.savefig(output / "sub-01_rdms.png", dpi=100)
subject_rdms, conditions, times = stack_subject_rdms(stacks, subjects)  # checks shared axes
models = np.array([model_rdm_from_labels(conditions, factor=0),   # modality
                   model_rdm_from_labels(conditions, factor=1)])  # side
result = evaluate_models(subject_rdms, models, ["modality", "side"], method="cosine_whitened",
                         n_bootstrap=100, axis=times)
fig = plot_model_fits(result)
fig.savefig(output / "group_model_fits.png", dpi=100)
print(f"Figures written to {output}")
