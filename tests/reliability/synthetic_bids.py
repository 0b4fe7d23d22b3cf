"""Test-only generator of large synthetic BIDS trees, to check planning (``snakemake -n``) at scale.

The tree has the layout of a real multi-session EEG + fMRI study, with tiny files: every BOLD run is
the same 2x2x2x``n_scans`` NIfTI (with its TR in the header, which planning checks against the
sidecar), every run has a valid ``events.tsv``, and ``RepetitionTime`` is inherited from one
dataset-level ``task-<task>_bold.json`` (as BIDS allows). The EEG files are named like BrainVision
recordings but hold placeholder text: planning only looks at their names (and finds electrode
positions in an ``electrodes.tsv`` per subject/session), so they are for dry runs only (a real run
would fail reading them).
"""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import nibabel as nib
import numpy as np


def _bold_bytes(t_r, n_scans):
    """One tiny gzipped NIfTI-1 BOLD image with its TR in the header."""
    img = nib.Nifti1Image(np.full((2, 2, 2, n_scans), 100, dtype=np.int16), np.eye(4))
    img.header.set_zooms((4.0, 4.0, 4.0, t_r))
    img.header.set_xyzt_units("mm", "sec")
    return gzip.compress(img.to_bytes(), mtime=0)


def make_synthetic_bids(
    root, *, n_subjects=200, sessions=("01", "02"), runs=("01", "02", "03"), task="synth", t_r=2.0, n_scans=20
):
    """Write a synthetic EEG + fMRI BIDS tree (``n_subjects`` x sessions x runs) under ``root``.

    Parameters
    ----------
    root : path-like
        Folder to create (must not exist or be empty).
    n_subjects : int
        Subjects ``sub-001`` ... .
    sessions, runs : tuple of str
        Session and run labels of every subject.
    task : str
        Task label.
    t_r : float
        Repetition time (s), in the inherited sidecar and in every NIfTI header.
    n_scans : int
        Volumes per BOLD run; the events all fall inside ``n_scans * t_r``.

    Returns
    -------
    root : Path
    n_recordings : dict
        Number of ``eeg`` and ``func`` recordings written.
    """
    root = Path(root)
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "synthetic", "BIDSVersion": "1.9.0"}))
    (root / f"task-{task}_bold.json").write_text(json.dumps({"RepetitionTime": t_r, "TaskName": task}))
    bold = _bold_bytes(t_r, n_scans)
    onsets = np.linspace(2.0, n_scans * t_r - 4.0, 6)
    events = "onset\tduration\ttrial_type\n" + "".join(
        f"{onset:.1f}\t1.0\t{'ab'[i % 2]}\n" for i, onset in enumerate(onsets)
    )
    for sub in range(1, n_subjects + 1):
        for ses in sessions:
            base = root / f"sub-{sub:03d}" / f"ses-{ses}"
            (base / "func").mkdir(parents=True)
            (base / "eeg").mkdir()
            # electrode positions (BIDS): planning plans the sparse stage only for EEG with positions
            (base / "eeg" / f"sub-{sub:03d}_ses-{ses}_electrodes.tsv").write_text("name\tx\ty\tz\nCz\t0.0\t0.0\t0.09\n")
            for run in runs:
                stem = f"sub-{sub:03d}_ses-{ses}_task-{task}_run-{run}"
                (base / "func" / f"{stem}_bold.nii.gz").write_bytes(bold)
                (base / "func" / f"{stem}_events.tsv").write_text(events)
                for ext in (".vhdr", ".vmrk", ".eeg"):
                    (base / "eeg" / f"{stem}_eeg{ext}").write_text("placeholder for dry runs\n")
                (base / "eeg" / f"{stem}_events.tsv").write_text(events)
    n = n_subjects * len(sessions) * len(runs)
    return root, {"eeg": n, "func": n}
