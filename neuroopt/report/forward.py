"""Forward model section of the subject report: BEM over the MRI, sensors and sources aligned.

As mne-bids-pipeline shows it, but drawn with matplotlib (no 3D backend needed in batch jobs):
the inner skull of the BEM and the source points over three T1 slices, and the MEG sensors,
the digitized head, the inner skull and the source space in three orthogonal projections in MRI
coordinates, so a wrong head<->MRI transform or BEM is visible at a glance.
"""

from __future__ import annotations

from pathlib import Path

import matplotlib.pyplot as plt
import mne
import numpy as np

from ._figures import add_figure, html_table

_VIEWS = (((0, 1), "axial (x, y)"), ((0, 2), "coronal (x, z)"), ((1, 2), "sagittal (y, z)"))


def _inner_skull_rr(bem_path):
    surfaces = mne.read_bem_surfaces(bem_path, verbose=False)
    brain = [s for s in surfaces if s["id"] == mne.io.constants.FIFF.FIFFV_BEM_SURF_ID_BRAIN]
    return (brain or surfaces)[0]["rr"]


def plot_bem_on_mri(t1_path, skull_rr, source_rr, *, slab=0.004):
    """Three T1 slices through the inner skull's centre, with the inner skull and the source points
    within ``slab`` m of each slice (MRI surface coordinates)."""
    import nibabel as nib

    img = nib.load(t1_path)
    data = np.asarray(img.dataobj, dtype=float)
    vox_to_mri = img.header.get_vox2ras_tkr() if hasattr(img.header, "get_vox2ras_tkr") else img.affine
    mri_to_vox = np.linalg.inv(vox_to_mri)
    centre = skull_rr.mean(axis=0)
    grid = np.arange(-120.0, 120.0, 1.0)  # mm around the centre, sampled through the voxel grid
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    for ax, ((h, v), label) in zip(axes, _VIEWS):
        axis = 3 - h - v
        gh, gv = np.meshgrid(grid + centre[h] * 1e3, grid + centre[v] * 1e3)
        points = np.zeros(gh.shape + (3,))
        points[..., h], points[..., v], points[..., axis] = gh, gv, centre[axis] * 1e3
        vox = np.round(mne.transforms.apply_trans(mri_to_vox, points.reshape(-1, 3))).astype(int)
        inside = np.all((vox >= 0) & (vox < data.shape), axis=1)
        plane = np.zeros(len(vox))
        plane[inside] = data[tuple(vox[inside].T)]
        ax.imshow(plane.reshape(gh.shape), cmap="gray", origin="lower", aspect="equal",
                  extent=(gh.min(), gh.max(), gv.min(), gv.max()))
        for rr, colour, name in ((skull_rr, "gold", "inner skull"), (source_rr, "tab:red", "sources")):
            near = np.abs(rr[:, axis] - centre[axis]) < slab
            ax.scatter(rr[near, h] * 1e3, rr[near, v] * 1e3, s=4, c=colour, lw=0, label=name)
        ax.set(title=label, xlabel="mm", ylabel="mm")
    axes[0].legend(loc="lower left", fontsize="small")
    return fig


def plot_alignment(info, trans, skull_rr, source_rr):
    """MEG sensors, digitized head points, inner skull and sources in MRI coordinates (mm)."""
    head_to_mri = trans if trans["from"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD else mne.transforms.invert_transform(trans)
    fig, axes = plt.subplots(1, 3, figsize=(12, 4), layout="constrained")
    layers = [(skull_rr, "gold", 3, "inner skull"), (source_rr, "tab:red", 3, "sources")]
    meg = mne.pick_types(info, meg=True, ref_meg=False, exclude=())
    if len(meg) and info["dev_head_t"] is not None:
        dev_to_mri = mne.transforms.combine_transforms(info["dev_head_t"], head_to_mri, "meg", "mri")
        loc = np.array([info["chs"][i]["loc"][:3] for i in meg])
        layers.append((mne.transforms.apply_trans(dev_to_mri, loc), "tab:blue", 8, "MEG sensors"))
    dig = [d["r"] for d in (info.get("dig") or []) if d["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD]
    if dig:
        layers.append((mne.transforms.apply_trans(head_to_mri, np.array(dig)), "tab:green", 8, "digitization"))
    for ax, ((h, v), label) in zip(axes, _VIEWS):
        for rr, colour, size, name in layers:
            ax.scatter(rr[:, h] * 1e3, rr[:, v] * 1e3, s=size, c=colour, lw=0, label=name, alpha=0.7)
        ax.set(title=label, xlabel="mm", ylabel="mm", aspect="equal")
    axes[0].legend(loc="lower left", fontsize="small")
    return fig


def add_forward_section(report, *, forward, summary, trans, title, section=None):
    """Add the forward model of one subject/session: what it is made of, BEM on MRI, alignment."""
    section = section or f"Forward model — {title}"
    rows = [(k, summary.get(k)) for k in ("forward", "source_space", "n_sources", "n_channels", "ch_types", "bem",
                                           "trans_from", "fs_subject", "head_to_skull_centre_mm") if k in summary]
    report.add_html(html_table(rows, ("", "")), title="Forward model", section=section, tags=("forward",))
    if summary.get("forward") != "bem":
        return report
    skull = _inner_skull_rr(summary["bem"])
    to_mri = forward["mri_head_t"]
    if to_mri["from"] != mne.io.constants.FIFF.FIFFV_COORD_MRI:
        to_mri = mne.transforms.invert_transform(to_mri)
    head_to_mri = mne.transforms.invert_transform(to_mri)
    sources = forward["source_rr"]
    if forward["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD:
        sources = mne.transforms.apply_trans(head_to_mri, sources)
    t1 = Path(summary["subjects_dir"]) / summary["fs_subject"] / "mri" / "T1.mgz"
    if t1.exists():
        add_figure(report, plot_bem_on_mri(t1, skull, sources), "BEM inner skull and sources over the MRI",
                   section=section, tags=("forward", "bem"))
    info = forward["info"]
    try:  # the recording's own info has the digitization (the forward's has not)
        import mne_bids

        info = mne_bids.read_raw_bids(mne_bids.get_bids_path_from_fname(summary["info_from"]), verbose="error").info
    except Exception:  # noqa: BLE001 -- the sensors alone are still worth drawing
        pass
    add_figure(report, plot_alignment(info, mne.read_trans(trans), skull, sources),
               "Sensors, head and source space (MRI coordinates)", section=section, tags=("forward", "alignment"),
               caption="The inner skull must sit inside the digitized head and the MEG helmet; a wrong head<->MRI "
               "transform shows as a shifted or rotated head.")
    return report
