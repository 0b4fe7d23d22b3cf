"""A cortical (surface) source space, which ``sparse.source_space: auto`` picks when the FreeSurfer
subject has ``surf/{lh,rh}.white``, as most MEG users' subjects have: the BEM forward, the sparse
inverse (a ``SourceEstimate`` with two hemispheres), its file and its report figure.

The shared sample subject has no surfaces, so each hemisphere's white surface is a 25 mm sphere
(ico-5 mesh, as FreeSurfer's are) inside the real inner skull, with the real sensors, transform and
BEM; the sources are simulated at known vertices.
"""

from __future__ import annotations

import matplotlib
import mne
import numpy as np
import pytest
from meg_bids_utils import meg_subjects_dir, sample_meg_info

from conftest import shared_dataset

matplotlib.use("agg")


@pytest.fixture(scope="module")
def surface_forward(tmp_path_factory):
    from mne.surface import _get_ico_surface

    from neuroopt.meeg.forward import make_bem_forward

    meg_sample = shared_dataset("meg_sample")
    subjects_dir = meg_subjects_dir(meg_sample, tmp_path_factory.mktemp("subjects"))
    bem = mne.read_bem_solution(meg_sample / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    centre = 1e3 * bem["surfs"][0]["rr"].mean(axis=0)  # mm, MRI surface RAS
    surf = subjects_dir / "sample" / "surf"
    surf.mkdir()
    ico = _get_ico_surface(5)
    for hemi, dx in (("lh", -30.0), ("rh", 30.0)):
        mne.write_surface(surf / f"{hemi}.white", centre + [dx, 0.0, 0.0] + 25.0 * ico["rr"], ico["tris"])
        mne.write_surface(surf / f"{hemi}.sphere", 100.0 * ico["rr"], ico["tris"])
    info = sample_meg_info(meg_sample)
    forward, details = make_bem_forward(info, subject="sample", subjects_dir=subjects_dir,
                                         trans=meg_sample / "sample_audvis_trunc-trans.fif", source_space="auto")
    cov = mne.read_cov(meg_sample / "test-cov.fif", verbose=False)
    return dict(forward=forward, details=details, info=info, cov=cov)


def test_surface_source_space_inverse_file_and_report(surface_forward, tmp_path):
    from neuroopt.meeg.inverse import sparse_inverse
    from neuroopt.meeg.source_scoring import source_positions
    from neuroopt.meeg.sources_io import read_source_estimates, save_source_estimates
    from neuroopt.report.sources import _display_positions_mm, _frame_name, add_sources_section

    forward, details = surface_forward["forward"], surface_forward["details"]
    assert details["source_space"] == "surface" and len(forward["src"]) == 2
    assert all(s["type"] == "surf" for s in forward["src"])

    # one dipole per hemisphere, oriented along the surface normal (as simulate_evoked does), at the
    # vertex whose normal dipole the sensors see best
    oriented = mne.convert_forward_solution(forward, surf_ori=True, verbose=False)["sol"]["data"]
    gain = np.linalg.norm(oriented[:, 2::3], axis=0)
    n_lh = len(forward["src"][0]["vertno"])
    picks = [int(np.argmax(gain[:n_lh])), n_lh + int(np.argmax(gain[n_lh:]))]
    vertices = [forward["src"][0]["vertno"][[picks[0]]], forward["src"][1]["vertno"][[picks[1] - n_lh]]]
    times = np.arange(60) / 150.0
    truth = mne.SourceEstimate(np.tile(40e-9 * np.sin(2 * np.pi * 5 * times), (2, 1)), vertices, 0.0, 1 / 150.0)
    evoked = mne.simulation.simulate_evoked(forward, truth, surface_forward["info"], surface_forward["cov"],
                                            nave=60, random_state=0, verbose=False)
    evoked.comment = "tone"
    solution = sparse_inverse(evoked, forward, surface_forward["cov"], estimator="mtl", alpha="auto")
    stc = solution.stc
    assert isinstance(stc, (mne.SourceEstimate, mne.VectorSourceEstimate)) and len(stc.vertices) == 2
    true_positions = source_positions(truth, forward)
    estimated = source_positions(stc, forward)
    for hemi, true_position in enumerate(true_positions):  # each dipole recovered within 10 mm
        assert len(stc.vertices[hemi]) > 0
        assert np.min(np.linalg.norm(estimated - true_position, axis=1)) < 0.010

    path = save_source_estimates(tmp_path / "sources.h5", {"tone": solution})
    back = read_source_estimates(path)["tone"]["stc"]
    assert type(back) is type(stc) and np.allclose(back.data, stc.data)
    assert all(np.array_equal(a, b) for a, b in zip(back.vertices, stc.vertices))

    # the glass brain draws the sources in MRI coordinates (the forward's head<->MRI transform)
    assert _frame_name(forward) == "MRI (FreeSurfer surface RAS)"
    to_mri = mne.transforms.invert_transform(forward["mri_head_t"])
    expected_mm = 1e3 * mne.transforms.apply_trans(to_mri, estimated)
    assert np.allclose(_display_positions_mm(stc, forward), expected_mm)
    report = mne.Report(verbose=False)
    add_sources_section(report, back, forward, title="mtl tone")
    html = report.html if hasattr(report, "html") else report._content
    assert any("mtl tone: locations" in str(part) for part in html)
