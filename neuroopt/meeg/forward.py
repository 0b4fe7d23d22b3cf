"""Forward solutions: a sphere fitted to the EEG digitization (no MRI needed) or a BEM model
of FreeSurfer anatomy with a head<->MRI transform (:func:`make_bem_forward`).

The demo dataset simulates its EEG with this forward model and the inverse rule of the pipeline
rebuilds it from the recording's ``info``, so both see the same volume source space: the demo
truth (``src_index``) indexes ``src[0]["vertno"]`` of the source space returned here.
"""

from __future__ import annotations

from pathlib import Path

import mne
import numpy as np

from ..utils import check_option, check_positive, logger, verbose


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


# ---------------------------------------------------------------------------------------- BEM
def _bem_dir(subject, subjects_dir):
    return Path(subjects_dir) / subject / "bem"


def find_bem(subject, subjects_dir, *, n_layers=1):
    """The BEM solution of a FreeSurfer subject: a saved one, or computed from its surfaces.

    Looks in ``<subjects_dir>/<subject>/bem/`` for, in order: a BEM solution
    (``*-bem-sol.fif``), BEM surfaces (``*-bem.fif``; the solution is computed with
    :func:`mne.make_bem_solution`), and the surfaces of FreeSurfer's watershed algorithm
    (``inner_skull.surf`` ..., as written by ``mne watershed_bem``; the model is made with
    :func:`mne.make_bem_model`). A file with ``n_layers`` surfaces is preferred (1: inner
    skull, enough for MEG; 3: needed for EEG).

    Returns
    -------
    bem : mne.bem.ConductorModel
        The BEM solution.
    source : str
        Which file(s) it comes from (for the logs and the summary).
    """
    bem_dir = _bem_dir(subject, subjects_dir)
    if not bem_dir.is_dir():
        raise FileNotFoundError(
            f"No BEM folder {bem_dir}: run FreeSurfer's recon-all and `mne watershed_bem -s {subject} "
            f"-d {subjects_dir}` for this subject, or give the BEM file with the config key sparse.bem."
        )

    def layers(path):
        return len(mne.read_bem_surfaces(path, verbose=False))

    for pattern, is_solution in (("*-bem-sol.fif", True), ("*-bem.fif", False)):
        candidates = sorted(p for p in bem_dir.glob(pattern) if not (not is_solution and p.name.endswith("-sol.fif")))
        if not candidates:
            continue
        with_layers = [p for p in candidates if layers(p) >= n_layers]
        if not with_layers:
            continue
        path = min(with_layers, key=layers)
        if is_solution:
            return mne.read_bem_solution(path, verbose=False), str(path)
        return mne.make_bem_solution(mne.read_bem_surfaces(path, verbose=False), verbose=False), str(path)
    names = ("inner_skull", "outer_skull", "outer_skin")[:n_layers]
    if all((bem_dir / f"{name}.surf").exists() or (bem_dir / "watershed" / f"{subject}_{name}_surface").exists() for name in names):
        for name in names:  # mne.make_bem_model reads bem/<name>.surf (mne watershed_bem links them)
            link = bem_dir / f"{name}.surf"
            if not link.exists():
                raise FileNotFoundError(
                    f"{link} is missing while {bem_dir / 'watershed'} has the watershed surfaces: link them "
                    f"(`mne watershed_bem -s {subject} -d {subjects_dir} --overwrite` does)."
                )
        conductivity = (0.3,) if n_layers == 1 else (0.3, 0.006, 0.3)
        model = mne.make_bem_model(subject, ico=4, conductivity=conductivity, subjects_dir=subjects_dir, verbose=False)
        return mne.make_bem_solution(model, verbose=False), f"{bem_dir}/{{{','.join(names)}}}.surf (watershed)"
    raise FileNotFoundError(
        f"No BEM with {n_layers} layer(s) for subject {subject!r} in {bem_dir}: expected a *-bem-sol.fif, a "
        f"*-bem.fif or FreeSurfer watershed surfaces ({', '.join(n + '.surf' for n in names)}). Make them with "
        f"`mne watershed_bem -s {subject} -d {subjects_dir}` (EEG needs the 3 layers), or give the file with "
        "the config key sparse.bem."
    )


def read_bem(path, *, n_layers=1):
    """A BEM solution from ``path``: a ``-bem-sol.fif`` or surfaces (``-bem.fif``) to solve."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sparse.bem: the BEM file {path} does not exist; fix the path or use sparse.bem: auto.")
    surfaces = mne.read_bem_surfaces(path, verbose=False)
    if len(surfaces) < n_layers:
        raise ValueError(
            f"sparse.bem: {path} has {len(surfaces)} surface(s), the forward model needs {n_layers} (EEG needs "
            "the 3-layer BEM: inner skull, outer skull, scalp)."
        )
    try:
        return mne.read_bem_solution(path, verbose=False)
    except Exception:
        return mne.make_bem_solution(surfaces, verbose=False)


def _inner_skull(bem):
    """Inner skull vertices (MRI coordinates, m) of a BEM solution."""
    for surf in bem["surfs"]:
        if surf["id"] == mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN:
            return surf["rr"]
    return bem["surfs"][0]["rr"]


def check_head_in_skull(info, trans, bem, *, trans_source="trans"):
    """Check that the head<->MRI transform puts the sensors around the inner skull.

    A wrong transform (another subject's, or the identity) puts the brain away from the head: MEG
    sensors inside the skull, or a head (digitization) whose centre is far from the inner skull's.
    Raises a ``ValueError`` naming ``trans_source`` when it does; returns the distance (m) between
    the two centres otherwise.
    """
    from scipy.spatial import Delaunay

    skull = _inner_skull(bem)
    head_to_mri = trans if trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD else mne.transforms.invert_transform(trans)
    hull = Delaunay(skull)
    problems = []
    meg_picks = mne.pick_types(info, meg=True, ref_meg=False, exclude=())
    if len(meg_picks) and info["dev_head_t"] is not None:
        loc = np.array([info["chs"][i]["loc"][:3] for i in meg_picks])
        dev_to_mri = mne.transforms.combine_transforms(info["dev_head_t"], head_to_mri, "meg", "mri")
        inside = hull.find_simplex(mne.transforms.apply_trans(dev_to_mri, loc)) >= 0
        if inside.any():
            problems.append(f"{int(inside.sum())} of {len(meg_picks)} MEG sensors lie inside the inner skull")
    dig = [d["r"] for d in (info["dig"] or []) if d["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD]
    distance = None
    if len(dig) >= 3:
        dig_mri = mne.transforms.apply_trans(head_to_mri, np.array(dig))
        # the digitized head (fiducials, head shape, electrodes) surrounds the brain
        distance = float(np.linalg.norm(dig_mri.mean(axis=0) - skull.mean(axis=0)))
        inside = hull.find_simplex(dig_mri) >= 0
        if distance > 0.05:
            problems.append(f"the centre of the digitized head is {1000 * distance:.0f} mm from the inner skull's")
        if inside.mean() > 0.2:
            problems.append(f"{int(inside.sum())} of {len(dig)} digitization points lie inside the inner skull")
    if problems:
        raise ValueError(
            f"{trans_source}: the head<->MRI transform puts the head outside the inner skull ("
            + "; ".join(problems)
            + "). It is probably another subject's or session's transform, or MRI landmarks in the wrong "
            "coordinates; make it with `mne coreg` (or fix the AnatomicalLandmarkCoordinates of the T1w sidecar)."
        )
    return distance


@verbose
def make_bem_forward(info, *, subject, subjects_dir, trans, bem=None, source_space="auto", pos=10.0,
                     mindist=5.0, trans_source="trans", verbose=None):
    """Forward solution of a BEM head model from FreeSurfer anatomy.

    Parameters
    ----------
    info : mne.Info
        Measurement info (MEG and/or EEG channels, digitization, ``dev_head_t``). Bad channels
        are modelled too (the inverse picks the channels it uses).
    subject : str
        FreeSurfer subject name (folder of ``subjects_dir``).
    subjects_dir : path-like
        FreeSurfer subjects directory.
    trans : mne.transforms.Transform | path-like
        Head<->MRI transform (a ``-trans.fif``, or from :func:`mne_bids.get_head_mri_trans`).
    bem : mne.bem.ConductorModel | path-like | None
        BEM solution or surfaces; None looks for them in ``<subjects_dir>/<subject>/bem`` (see
        :func:`find_bem`). EEG needs the 3-layer BEM, MEG alone the inner skull.
    source_space : ``"auto"`` | ``"volume"`` | ``"surface"``
        ``"surface"``: an ``oct6`` cortical source space (needs ``surf/{lh,rh}.white``);
        ``"volume"``: a grid of ``pos`` mm inside the inner skull; ``"auto"``: surface when the
        white-matter surfaces exist, else volume.
    pos : float
        Grid spacing (mm) of the volume source space.
    mindist : float
        Exclude sources closer than ``mindist`` mm to the inner skull.
    trans_source : str
        Where ``trans`` comes from (a file or config key), named in the errors.
    verbose : bool | str | int | None
        Log level of neuroopt for this call.

    Returns
    -------
    forward : mne.Forward
        Free-orientation forward solution.
    details : dict
        ``bem`` (its file), ``source_space`` (``"volume"`` or ``"surface"``), ``n_sources``,
        ``head_to_skull_centre_mm`` (distance between the digitized head's and the inner skull's
        centres, or None without digitization).
    """
    if not isinstance(info, mne.Info):
        raise TypeError(f"info must be an mne.Info (e.g. raw.info), got {type(info).__name__}.")
    if subjects_dir is None:
        raise ValueError(
            "sparse.forward is 'bem' but sparse.subjects_dir is not set: give the FreeSurfer subjects "
            "directory (the folder with <subject>/mri and <subject>/bem)."
        )
    subjects_dir = Path(subjects_dir)
    if not (subjects_dir / subject).is_dir():
        raise FileNotFoundError(
            f"FreeSurfer subject {subject!r} not found in sparse.subjects_dir={str(subjects_dir)!r}: check "
            "sparse.fs_subject (the subject name mapping, e.g. 'sub-{subject}') and sparse.subjects_dir."
        )
    check_option("sparse.source_space", source_space, ("auto", "volume", "surface"))
    pos = check_positive(pos, "pos")
    has_eeg = len(mne.pick_types(info, meg=False, eeg=True, exclude=())) > 0
    has_meg = len(mne.pick_types(info, meg=True, ref_meg=False, exclude=())) > 0
    n_layers = 3 if has_eeg else 1
    if bem is None:
        bem, bem_source = find_bem(subject, subjects_dir, n_layers=n_layers)
    elif isinstance(bem, mne.bem.ConductorModel):
        bem_source = "given"
    else:
        bem_source = str(bem)
        bem = read_bem(bem, n_layers=n_layers)
    if not isinstance(trans, mne.transforms.Transform):
        trans_source = str(trans)
        if not Path(trans).exists():
            raise FileNotFoundError(f"sparse.trans: the transform {trans} does not exist; make it with `mne coreg`.")
        trans = mne.read_trans(trans)
    distance = check_head_in_skull(info, trans, bem, trans_source=trans_source)
    surf = subjects_dir / subject / "surf"
    has_white = all((surf / f"{h}.white").exists() for h in ("lh", "rh"))
    if source_space == "surface" and not has_white:
        raise FileNotFoundError(
            f"sparse.source_space is 'surface' but {surf}/lh.white or rh.white is missing; run FreeSurfer's "
            "recon-all, or use sparse.source_space: volume."
        )
    kind = "surface" if source_space == "surface" or (source_space == "auto" and has_white) else "volume"
    if kind == "surface":
        src = mne.setup_source_space(subject, spacing="oct6", subjects_dir=subjects_dir, add_dist=False, verbose=False)
    else:
        src = mne.setup_volume_source_space(subject, pos=pos, bem=bem, mindist=mindist, subjects_dir=subjects_dir,
                                            verbose=False)
    info = info.copy()
    with info._unlock():
        info["bads"] = []
    forward = mne.make_forward_solution(info, trans, src, bem, meg=has_meg, eeg=has_eeg, mindist=mindist,
                                        verbose=False)
    details = {"bem": bem_source, "source_space": kind, "n_sources": int(forward["nsource"]),
               "head_to_skull_centre_mm": None if distance is None else round(1000 * distance, 1)}
    logger.info("BEM forward: %d channels, %d %s sources (BEM %s)", forward["nchan"], forward["nsource"], kind, bem_source)
    return forward, details
