"""Spherical head model forward solutions that need no MRI and no download.

The demo dataset simulates its EEG with this forward model and the inverse rule of the pipeline
rebuilds it from the recording's ``info``, so both see the same volume source space: the demo
truth (``src_index``) indexes ``src[0]["vertno"]`` of the source space returned here.
"""

from __future__ import annotations

import mne

from ..utils import check_positive, logger, verbose


@verbose
def make_sphere_forward(info, *, pos=10.0, sphere="auto", mindist=5.0, verbose=None):
    """Forward solution of a sphere head model fitted to the EEG digitization.

    Parameters
    ----------
    info : mne.Info
        Measurement info with EEG channel positions (a montage or digitization in head
        coordinates). Only EEG channels enter the forward solution (MEG is not modelled:
        a sphere fitted to EEG positions needs no device-to-head transform).
    pos : float
        Grid spacing of the volume source space in mm.
    sphere : "auto" | mne.bem.ConductorModel
        Sphere model. ``"auto"`` fits MNE's default 3-layer sphere (brain, skull, scalp) to the
        digitization points with :func:`mne.make_sphere_model` (``r0="auto"``,
        ``head_radius="auto"``).
    mindist : float
        Exclude source points closer than ``mindist`` mm to the inner sphere surface.
    verbose : bool | str | int | None
        Log level of neuroopt for this call (MNE's own output follows MNE's level).

    Returns
    -------
    forward : mne.Forward
        Free-orientation forward solution (EEG channels, head coordinates).
    src : mne.SourceSpaces
        The volume source space (one discrete space); ``src[0]["vertno"]`` lists its points.
    sphere : mne.bem.ConductorModel
        The sphere model used.
    """
    if not isinstance(info, mne.Info):
        raise TypeError(
            f"info must be an mne.Info (e.g. raw.info), got {type(info).__name__}."
        )
    pos = check_positive(pos, "pos")
    mindist = check_positive(mindist, "mindist", strict=False)
    eeg_picks = mne.pick_types(info, meg=False, eeg=True, exclude=())
    if len(eeg_picks) == 0:
        raise ValueError(
            "info has no EEG channels; make_sphere_forward models EEG only. Pass the info of "
            "an EEG recording with a montage (raw.set_montage(...))."
        )
    if info["dig"] is None or len(info["dig"]) == 0:
        raise ValueError(
            "info has no digitization; set electrode positions first, e.g. "
            "raw.set_montage('easycap-M1')."
        )
    if isinstance(sphere, str):
        if sphere != "auto":
            raise ValueError(
                f"Invalid value for the 'sphere' parameter: {sphere!r}. Use 'auto' or an "
                "mne.bem.ConductorModel from mne.make_sphere_model."
            )
        sphere = mne.make_sphere_model(r0="auto", head_radius="auto", info=info, verbose=False)
    elif not (isinstance(sphere, mne.bem.ConductorModel) and sphere["is_sphere"]):
        raise TypeError(
            f"sphere must be 'auto' or a spherical mne.bem.ConductorModel, got {sphere!r:.80}."
        )
    src = mne.setup_volume_source_space(
        sphere=sphere, pos=pos, mindist=mindist, verbose=False
    )
    # The montage is in head coordinates and the source space is built inside the same
    # sphere, so the head<->MRI transform is the identity (trans=None).
    forward = mne.make_forward_solution(
        info, trans=None, src=src, bem=sphere, meg=False, eeg=True, verbose=False
    )
    logger.info(
        "Sphere forward: %d EEG channels, %d sources at %.1f mm, r0=%s m",
        forward["nchan"],
        forward["nsource"],
        pos,
        sphere["r0"].round(4).tolist(),
    )
    return forward, src, sphere
