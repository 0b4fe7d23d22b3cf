"""Test-only builders of BIDS datasets of the common shapes, from ../shared/data or simulated.

- :func:`haxby_bids`: Haxby et al. (2001) block design, 12 runs with one block per category per
  run (``fmri_haxby2001_1slice``), as a BIDS converter would write it.
- :func:`pyhrf_localizer_bids`: the pyhrf localizer, one run per subject, two subjects with
  different voxel sizes (``fmri_pyhrf_localizer``), cropped to the bounding box of each
  subject's mask (the voxels outside are zeros in the shipped files) to keep the run short.
- :func:`simulated_fmri_bids`: several tasks with different conditions, sessions, single- and
  multi-run groups, events with ``n/a`` and extra columns, a ``participants.tsv`` listing a
  subject the config leaves out; optionally an fMRIPrep derivatives tree.
- :func:`eeg_without_positions_bids`: the demo's EEG without EOG channels nor electrode positions,
  one run, written by mne-bids.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd


def _description(root, name):
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": name, "BIDSVersion": "1.9.0"}))


def haxby_bids(source, root, runs=range(1, 13)):
    """Haxby 2001 (1 slice) as BIDS: sub-1, task-objectviewing, 12 runs, TR in a task sidecar."""
    root = Path(root)
    _description(root, "haxby2001 1 slice")
    (root / "task-objectviewing_bold.json").write_text(json.dumps({"RepetitionTime": 2.5, "TaskName": "objectviewing"}))
    func = root / "sub-1" / "func"
    func.mkdir(parents=True)
    for run in runs:
        folder = Path(source) / "sub001" / "BOLD" / f"task001_run{run:03d}"
        stem = f"sub-1_task-objectviewing_run-{run:02d}"
        shutil.copyfile(folder / "bold_1slice.nii.gz", func / f"{stem}_bold.nii.gz")
        shutil.copyfile(folder / "bold_events.tsv", func / f"{stem}_events.tsv")
    return root


def _crop_to_mask(bold_path, mask_path, out_path, pad=2):
    """Crop a 4D image to the bounding box of a mask (``Nifti1Image.slicer`` keeps the affine right)."""
    mask = np.asarray(nib.load(mask_path).dataobj) > 0
    lows = [max(int(np.flatnonzero(mask.any(axis=tuple(j for j in range(3) if j != i))).min()) - pad, 0) for i in range(3)]
    highs = [int(np.flatnonzero(mask.any(axis=tuple(j for j in range(3) if j != i))).max()) + pad + 1 for i in range(3)]
    img = nib.load(bold_path)
    cropped = img.slicer[lows[0]:highs[0], lows[1]:highs[1], lows[2]:highs[2], :]
    nib.save(nib.Nifti1Image(np.asarray(cropped.dataobj), cropped.affine, cropped.header), out_path)


def pyhrf_localizer_bids(source, root):
    """The pyhrf localizer as BIDS: sub-01 (3 mm) and sub-02 (2x2x3 mm), one run each.

    The NIfTI headers keep pyhrf's wrong TR (1.0 s); the sidecars say 2.4 s (run with
    ``fmri.check_tr_header: false``, as the dataset's README says).
    """
    source, root = Path(source), Path(root)
    _description(root, "pyhrf localizer")
    pairs = {
        "01": ("subj0_bold_session0.nii.gz", "subj0_parcellation.nii.gz", "subj0_bold_session0.json"),
        "02": ("real_data_vol_4_regions_BOLD.nii.gz", "real_data_vol_4_regions_mask.nii.gz", "real_data_vol_4_regions_BOLD.json"),
    }
    for sub, (bold, mask, sidecar) in pairs.items():
        func = root / f"sub-{sub}" / "func"
        func.mkdir(parents=True)
        stem = f"sub-{sub}_task-localizer"
        _crop_to_mask(source / bold, source / mask, func / f"{stem}_bold.nii.gz")
        shutil.copyfile(source / sidecar, func / f"{stem}_bold.json")
        shutil.copyfile(source / "events.tsv", func / f"{stem}_events.tsv")
    return root


TASKS = {"motor": ["left", "right"], "visual": ["face", "house", "chair"]}


def _simulated_run(conditions, rng, n_scans=64, t_r=2.0, shape=(5, 5, 4)):
    """(BOLD image, events DataFrame): 2 blocks per condition in random order, activation in half the voxels."""
    from neuroopt.fmri.design import simulate_bold

    order = list(rng.permutation(conditions * 2))
    onsets = 6.0 + 14.0 * np.arange(len(order))
    events = pd.DataFrame({"onset": onsets, "duration": 6.0, "trial_type": order})
    n_voxels = int(np.prod(shape))
    betas = np.zeros((len(conditions), n_voxels))
    betas[:, : n_voxels // 2] = 3.0 * rng.standard_normal((len(conditions), n_voxels // 2))
    data, _ = simulate_bold(events, t_r, n_scans, [[6.0, 1.0, 0.167]], np.zeros(n_voxels, int), betas,
                            noise_sd=1.0, random_state=rng)
    data = 200.0 + data
    img = nib.Nifti1Image(data.T.reshape(shape + (n_scans,)).astype(np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))
    img.header.set_zooms((3.0, 3.0, 3.0, t_r))
    img.header.set_xyzt_units("mm", "sec")
    return img, events


def _write_events(events, path, rng):
    """BIDS events with extra columns and n/a values (durations, response times)."""
    events = events.copy()
    events["response_time"] = np.round(rng.uniform(0.3, 0.9, len(events)), 3).astype(object)
    events.loc[events.index[::3], "response_time"] = "n/a"
    events["stim_file"] = [f"stim/{t}_{i}.png" for i, t in enumerate(events["trial_type"])]
    events["duration"] = events["duration"].astype(object)
    events.loc[events.index[-1], "duration"] = "n/a"  # an impulse, as BIDS allows
    events.to_csv(path, sep="\t", index=False)


# subject -> session -> task -> number of runs
LAYOUT = {
    "01": {"1": {"motor": 2}, "2": {"motor": 2}},
    "02": {"1": {"visual": 1}},  # another task with other conditions, a single run
    "03": {"1": {"motor": 2}},  # in participants.tsv, left out by the config's subjects
}


def simulated_fmri_bids(root, *, fmriprep=False, layout=LAYOUT, seed=0):
    """Simulated BOLD of several tasks/sessions/runs as BIDS (and fMRIPrep derivatives when asked).

    Returns
    -------
    root : Path
    fmriprep_root : Path | None
    """
    root = Path(root)
    rng = np.random.default_rng(seed)
    _description(root, "shapes")
    pd.DataFrame({"participant_id": [f"sub-{s}" for s in layout], "age": [25, "n/a", 31][: len(layout)]}).to_csv(
        root / "participants.tsv", sep="\t", index=False
    )
    for task in TASKS:
        (root / f"task-{task}_bold.json").write_text(json.dumps({"RepetitionTime": 2.0, "TaskName": task}))
    prep = root / "derivatives" / "fmriprep" if fmriprep else None
    if prep is not None:
        _description(prep, "fMRIPrep (simulated)")
    for sub, sessions in layout.items():
        for ses, tasks in sessions.items():
            func = root / f"sub-{sub}" / f"ses-{ses}" / "func"
            func.mkdir(parents=True)
            for task, n_runs in tasks.items():
                for run in range(1, n_runs + 1):
                    stem = f"sub-{sub}_ses-{ses}_task-{task}_run-{run:02d}"
                    img, events = _simulated_run(TASKS[task], rng)
                    img.to_filename(func / f"{stem}_bold.nii.gz")
                    _write_events(events, func / f"{stem}_events.tsv", rng)
                    if prep is not None:
                        _write_fmriprep_run(prep / f"sub-{sub}" / f"ses-{ses}" / "func", stem, img, rng)
    return root, prep


def _write_fmriprep_run(folder, stem, img, rng):
    """desc-preproc_bold + desc-brain_mask + desc-confounds_timeseries.tsv, as fMRIPrep names them."""
    folder.mkdir(parents=True, exist_ok=True)
    space = "space-MNI152NLin2009cAsym"
    img.to_filename(folder / f"{stem}_{space}_desc-preproc_bold.nii.gz")
    (folder / f"{stem}_{space}_desc-preproc_bold.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    mask = nib.Nifti1Image(np.ones(img.shape[:3], dtype=np.uint8), img.affine)
    mask.to_filename(folder / f"{stem}_{space}_desc-brain_mask.nii.gz")
    n = img.shape[3]
    columns = {}
    for name in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf"):
        columns[name] = 0.1 * rng.standard_normal(n)
    for k in range(3):
        columns[f"cosine{k:02d}"] = np.cos(np.pi * (k + 1) * np.arange(n) / n)
    pd.DataFrame(columns).to_csv(folder / f"{stem}_desc-confounds_timeseries.tsv", sep="\t", index=False)
    (folder / f"{stem}_desc-confounds_timeseries.json").write_text("{}")


def eeg_without_positions_bids(demo_root, root):
    """One run of the demo's EEG, without its EOG channels and electrode positions, via mne-bids."""
    import mne_bids

    demo_root, root = Path(demo_root), Path(root)
    source = mne_bids.BIDSPath(subject="01", task="demo", run="01", datatype="eeg", root=demo_root)
    raw = mne_bids.read_raw_bids(source, verbose="error")
    raw.load_data()
    raw.drop_channels([ch for ch, kind in zip(raw.ch_names, raw.get_channel_types()) if kind == "eog"])
    raw.set_montage(None)
    with raw.info._unlock():
        raw.info["dig"] = None
    target = mne_bids.BIDSPath(subject="01", task="demo", datatype="eeg", root=root)
    mne_bids.write_raw_bids(raw, target, format="BrainVision", allow_preload=True, overwrite=True, verbose="error")
    return root
