"""Test helpers for the sparse inverse: real-data forwards of the MNE sample subject, cached.

The volume forward of ``../shared/data/meg_sample`` takes ~15 s to compute, so it is written once
to the pytest cache (``.pytest_cache``, outside the package) and read back by later sessions.
"""

from __future__ import annotations

import os
from pathlib import Path

import mne
import numpy as np

from neuroopt.utils import atomic_path

# Centre of Heschl's gyrus (primary auditory cortex) in MNI space, mm. Rounded from the
# probabilistic maps of Heschl's gyrus / area Te1 (Penhune et al. 1996, Cereb. Cortex 6:661;
# Rademacher et al. 2001, NeuroImage 13:669), whose centroids lie near x = -45..-50 (left),
# +45..+50 (right), y = -20, z = 5..10.
HESCHL_MNI_MM = {"lh": (-45.0, -22.0, 8.0), "rh": (47.0, -20.0, 8.0)}


def sample_subjects_dir(meg_sample, tmp_dir):
    """A FreeSurfer-like ``subjects_dir`` with ``sample/mri/{T1.mgz,transforms/talairach.xfm}``.

    MNE reads the MRI and the Talairach transform from a subjects directory; the shared data
    hold only the files, so they are symlinked into ``tmp_dir``.
    """
    mri = Path(tmp_dir) / "sample" / "mri"
    (mri / "transforms").mkdir(parents=True, exist_ok=True)
    for name in ("T1.mgz", "transforms/talairach.xfm"):
        if not (mri / name).exists():
            os.symlink(Path(meg_sample) / "mri" / name, mri / name)
    return Path(tmp_dir)


def read_sample_evoked(meg_sample, condition, *, tmin=0.0, tmax=0.2, meg=True, eeg=False):
    """One condition of ``test-ave.fif.gz``, cropped and restricted to the requested sensors."""
    evoked = mne.read_evokeds(Path(meg_sample) / "test-ave.fif.gz", condition=condition,
                              verbose=False)
    return evoked.crop(tmin, tmax).pick(["meg"] * meg + ["eeg"] * eeg)


def cached_volume_forward(meg_sample, cache_dir, subjects_dir, *, pos=10.0):
    """MEG forward of a volume source space (inner-skull BEM, ``pos`` mm grid), cached on disk."""
    cache_dir = Path(cache_dir)
    fname = cache_dir / f"sample-vol{pos:g}mm-meg-mne{mne.__version__}-fwd.fif"
    if fname.exists():
        return mne.read_forward_solution(fname, verbose=False)
    meg_sample = Path(meg_sample)
    bem = mne.read_bem_solution(meg_sample / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    src = mne.setup_volume_source_space("sample", pos=pos, bem=bem, subjects_dir=subjects_dir,
                                        verbose=False)
    info = mne.io.read_info(meg_sample / "test-ave.fif.gz", verbose=False)
    forward = mne.make_forward_solution(info, meg_sample / "sample_audvis_trunc-trans.fif", src,
                                        bem, meg=True, eeg=False, verbose=False)
    with atomic_path(fname) as tmp:
        mne.write_forward_solution(tmp, forward, verbose=False)
    return forward


def heschl_seeds_head(meg_sample, subjects_dir):
    """Heschl's gyrus seeds of both hemispheres in head coordinates (m): MNI -> MRI -> head."""
    mri_to_mni = mne.read_talxfm("sample", subjects_dir, verbose=False)
    head_to_mri = mne.read_trans(Path(meg_sample) / "sample_audvis_trunc-trans.fif")
    mni_to_head = mne.transforms.combine_transforms(
        mne.transforms.invert_transform(mri_to_mni),
        mne.transforms.invert_transform(head_to_mri),
        "mni_tal",
        "head",
    )
    return {hemi: mne.transforms.apply_trans(mni_to_head, np.array(xyz) / 1000.0)
            for hemi, xyz in HESCHL_MNI_MM.items()}


def strongest_source_per_hemisphere(stc, forward):
    """Head position (m) of the strongest source with x < 0 ("lh") and x > 0 ("rh"), or None."""
    vertno = forward["src"][0]["vertno"]
    positions = forward["source_rr"][np.searchsorted(vertno, stc.vertices[0])]
    amplitude = np.abs(stc.data).max(axis=1)
    out = {}
    for hemi, side in (("lh", positions[:, 0] < 0), ("rh", positions[:, 0] > 0)):
        out[hemi] = positions[np.argmax(np.where(side, amplitude, -1.0))] if side.any() else None
    return out


def sphere_discrete_forward(info, *, n_sources=120, seed=0):
    """Small free-orientation MEG forward of a sphere model and a discrete source space.

    Sources lie on a 6 cm shell (upper half) around the sphere centre, with tangential normals,
    so fixed and loose orientations are meaningful (MEG sees tangential currents).
    """
    r0 = np.array([0.0, 0.0, 0.04])
    sphere = mne.make_sphere_model(r0=r0, head_radius=0.09, verbose=False)
    rng = np.random.default_rng(seed)
    direction = rng.standard_normal((n_sources, 3))
    direction[:, 2] = np.abs(direction[:, 2])
    direction /= np.linalg.norm(direction, axis=1, keepdims=True)
    normals = np.cross(direction, rng.standard_normal((n_sources, 3)))
    normals /= np.linalg.norm(normals, axis=1, keepdims=True)
    src = mne.setup_volume_source_space(pos=dict(rr=r0 + 0.06 * direction, nn=normals),
                                        sphere=sphere, verbose=False)
    return mne.make_forward_solution(info, None, src, sphere, meg=True, eeg=False, verbose=False)
