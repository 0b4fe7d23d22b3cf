"""Where the forward model of each M/EEG subject/session comes from, resolved at planning.

``sparse.forward`` is ``sphere`` (nothing to find), ``bem`` (FreeSurfer anatomy: ``subjects_dir``,
the subject name mapping ``fs_subject``, a head<->MRI transform from the T1w sidecar landmarks or a
``-trans.fif``, BEM surfaces) or the path of a ``-fwd.fif``. A missing piece is reported before any
job runs, with the file or config key and the fix.
"""

from __future__ import annotations

import json
from pathlib import Path

from ..io.bids import BIDSError

FORWARD_KEYS = ("forward", "grid_spacing", "subjects_dir", "fs_subject", "trans", "bem", "source_space")


def _format(template, rec):
    return template.format(subject=rec.subject, session=rec.session or "")


def find_t1w_sidecar(bids_root, rec):
    """The ``*_T1w.json`` of the subject (same session first, then session-less), or None."""
    sub = f"sub-{rec.subject}"
    folders = ([Path(bids_root) / sub / f"ses-{rec.session}" / "anat"] if rec.session else []) + [Path(bids_root) / sub / "anat"]
    for folder in folders:
        sidecars = sorted(folder.glob(f"{sub}_*T1w.json"))
        if sidecars:
            return sidecars[0]
    return None


def resolve_forward(config, bids_root, rec):
    """Inputs of the forward job of recording ``rec``'s subject/session.

    Returns
    -------
    inputs : dict
        Files the job reads besides the raw recording: ``t1w_sidecar``, ``trans``, ``bem`` or
        ``fwd`` (those that apply).
    params : dict
        ``fs_subject``, and the ``t1w`` image beside the sidecar (trans from landmarks).

    Raises
    ------
    BIDSError
        Naming the config key or file that is missing, and the fix.
    """
    cfg = config["sparse"]
    kind = cfg["forward"]
    if kind == "sphere":
        return {}, {}
    if kind != "bem":
        path = Path(_format(kind, rec))
        if not path.is_file():
            raise BIDSError(
                f"sparse.forward: the forward solution {path} (for sub-{rec.subject}) does not exist. Give a "
                "-fwd.fif path with {subject}/{session} placeholders, or use sparse.forward: sphere or bem."
            )
        return {"fwd": str(path)}, {}
    if not cfg["subjects_dir"]:
        raise BIDSError(
            "sparse.forward is 'bem' but sparse.subjects_dir is not set: give the FreeSurfer subjects "
            "directory (with <subject>/mri and <subject>/bem), or use sparse.forward: sphere."
        )
    subjects_dir = Path(cfg["subjects_dir"])
    fs_subject = _format(cfg["fs_subject"], rec)
    if not (subjects_dir / fs_subject).is_dir():
        raise BIDSError(
            f"sparse.forward is 'bem' but FreeSurfer subject {fs_subject!r} (BIDS sub-{rec.subject}, through "
            f"sparse.fs_subject={cfg['fs_subject']!r}) is not in sparse.subjects_dir={str(subjects_dir)!r}: fix "
            "the name mapping sparse.fs_subject or the subjects directory."
        )
    inputs, params = {}, {"fs_subject": fs_subject}
    if cfg["bem"] != "auto":
        bem = Path(_format(cfg["bem"], rec))
        if not bem.is_file():
            raise BIDSError(f"sparse.bem: the BEM file {bem} does not exist; fix the path or use sparse.bem: auto.")
        inputs["bem"] = str(bem)
    elif not (subjects_dir / fs_subject / "bem").is_dir():
        raise BIDSError(
            f"sparse.forward is 'bem' but {subjects_dir / fs_subject / 'bem'} does not exist: make the BEM "
            f"surfaces (`mne watershed_bem -s {fs_subject} -d {subjects_dir}`) or give sparse.bem."
        )
    if cfg["trans"] != "auto":
        trans = Path(_format(cfg["trans"], rec))
        if not trans.is_file():
            raise BIDSError(f"sparse.trans: the transform {trans} does not exist; make it with `mne coreg`.")
        inputs["trans"] = str(trans)
        return inputs, params
    sidecar = find_t1w_sidecar(bids_root, rec)
    landmarks = None
    if sidecar is not None:
        landmarks = json.loads(sidecar.read_text()).get("AnatomicalLandmarkCoordinates")
    if not landmarks or not {"NAS", "LPA", "RPA"} <= set(landmarks):
        where = str(sidecar) if sidecar is not None else f"no sub-{rec.subject}/anat/*_T1w.json in {bids_root}"
        raise BIDSError(
            f"sparse.forward is 'bem' with sparse.trans: auto, but the head<->MRI transform of sub-{rec.subject} "
            f"cannot be made: {where} has no AnatomicalLandmarkCoordinates (NAS, LPA, RPA). Write the T1w with "
            "its landmarks (mne_bids.write_anat(..., landmarks=...)) or give a -trans.fif with sparse.trans."
        )
    inputs["t1w_sidecar"] = str(sidecar)
    return inputs, params
