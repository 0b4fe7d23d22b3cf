"""A MEG BIDS dataset with real geometry, made from ``../shared/data/meg_sample`` (issue 18).

The real sample Info (306 MEG channels, its 3 SSP projectors, the device<->head transform), a
FreeSurfer-like subjects directory (T1, Talairach transform, inner-skull BEM), raw runs simulated
with one dipole in each auditory cortex (the volume grid point nearest Heschl's gyrus, tangential
orientation) plus noise drawn from the real ``test-cov.fif``, written with mne-bids
(``write_raw_bids``, ``write_anat`` with the MRI landmarks of the real transform).
"""

from __future__ import annotations

import copy
import os
from pathlib import Path

import mne
import numpy as np

from sample_forward_utils import heschl_seeds_head, sample_subjects_dir

SFREQ = 150.0
CONDITIONS = ("tone/high", "tone/low")


def meg_subjects_dir(meg_sample, tmp_dir):
    """``sample`` with mri/T1.mgz, mri/transforms/talairach.xfm and bem/sample-1280-bem-sol.fif."""
    subjects_dir = sample_subjects_dir(meg_sample, tmp_dir)
    bem = subjects_dir / "sample" / "bem"
    bem.mkdir(exist_ok=True)
    if not (bem / "sample-1280-bem-sol.fif").exists():
        os.symlink(Path(meg_sample) / "bem" / "sample-1280-bem-sol.fif", bem / "sample-1280-bem-sol.fif")
    return subjects_dir


def sample_meg_info(meg_sample, sfreq=SFREQ):
    """The real MEG Info of the sample recording (306 channels, SSP inactive), at ``sfreq``."""
    info = mne.io.read_info(Path(meg_sample) / "test-ave.fif.gz", verbose=False)
    info = mne.pick_info(info, mne.pick_types(info, meg=True, exclude=[]))
    projs = [p for p in copy.deepcopy(info["projs"]) if "EEG" not in p["desc"]]
    for proj in projs:
        proj["active"] = False
    with info._unlock():
        info["projs"] = projs
        info["sfreq"] = sfreq
        info["lowpass"] = sfreq / 2
        info["highpass"] = 0.0
        info["line_freq"] = 60.0
        info["bads"] = []
    return info


def _noise(cov, info, n_times, rng):
    picks = [cov.ch_names.index(name) for name in info["ch_names"]]
    data = cov.data[np.ix_(picks, picks)]
    evals, evecs = np.linalg.eigh(data)
    factor = evecs * np.sqrt(np.clip(evals, 0, None))
    return factor @ rng.standard_normal((len(picks), n_times))


def auditory_sources(forward, seeds):
    """Per hemisphere: (index of the grid point nearest the seed, unit orientation of largest field)."""
    out = {}
    gain = forward["sol"]["data"]
    for hemi, seed in seeds.items():
        idx = int(np.argmin(np.linalg.norm(forward["source_rr"] - seed, axis=1)))
        block = gain[:, 3 * idx:3 * idx + 3]
        _, _, vh = np.linalg.svd(block / np.linalg.norm(block, axis=0).max(), full_matrices=False)
        out[hemi] = (idx, vh[0])
    return out


def make_meg_bids(root, meg_sample, forward, subjects_dir, *, n_runs=2, n_trials=30, amplitude=60e-9, seed=0):
    """Write the dataset (one subject ``01``, ``n_runs`` runs of task ``auditory``) to ``root``.

    Returns ``{"seeds": Heschl seeds (head, m), "sources": {hemi: (grid index, orientation)}}``.
    """
    import mne_bids

    rng = np.random.default_rng(seed)
    info = sample_meg_info(meg_sample)
    forward = mne.pick_channels_forward(forward, info["ch_names"], ordered=True, verbose=False)
    cov = mne.read_cov(Path(meg_sample) / "test-cov.fif", verbose=False)
    seeds = heschl_seeds_head(meg_sample, subjects_dir)
    sources = auditory_sources(forward, seeds)
    times = np.arange(int(0.5 * SFREQ)) / SFREQ
    wave = np.sin(2 * np.pi * 8 * times) * np.exp(-((times - 0.1) ** 2) / (2 * 0.03 ** 2))
    gain = forward["sol"]["data"]
    fields = {hemi: gain[:, 3 * i:3 * i + 3] @ ori for hemi, (i, ori) in sources.items()}
    # high tones louder on the right, low tones on the left: both cortices active in both
    weights = {"tone/high": {"lh": 0.8, "rh": 1.0}, "tone/low": {"lh": 1.0, "rh": 0.8}}
    for run in range(1, n_runs + 1):
        onsets = 1.0 + 0.9 * np.arange(n_trials)
        n_times = int((onsets[-1] + 1.5) * SFREQ)
        data = _noise(cov, info, n_times, rng)
        labels = [CONDITIONS[i % 2] for i in range(n_trials)]
        for onset, label in zip(onsets, labels):
            start = int(round(onset * SFREQ))
            for hemi, field in fields.items():
                data[:, start:start + len(wave)] += amplitude * weights[label][hemi] * np.outer(field, wave)
        raw = mne.io.RawArray(data, info, verbose=False)
        raw.set_annotations(mne.Annotations(onsets, 0.1, labels))
        bids_path = mne_bids.BIDSPath(subject="01", task="auditory", run=f"{run:02d}", datatype="meg", root=root)
        mne_bids.write_raw_bids(raw, bids_path, format="FIF", allow_preload=True, overwrite=True, verbose=False)
    trans = mne.read_trans(Path(meg_sample) / "sample_audvis_trunc-trans.fif")
    t1 = Path(subjects_dir) / "sample" / "mri" / "T1.mgz"
    landmarks = mne_bids.get_anat_landmarks(str(t1), info, trans, fs_subject="sample", fs_subjects_dir=subjects_dir)
    anat_path = mne_bids.BIDSPath(subject="01", root=root, datatype="anat", suffix="T1w")
    mne_bids.write_anat(str(t1), anat_path, landmarks=landmarks, overwrite=True, verbose=False)
    return {"seeds": seeds, "sources": sources}
