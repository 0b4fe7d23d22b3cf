"""The sphere forward model used by the demo (and by the inverse rule)."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neuroopt.datasets._demo_eeg import make_eeg_info
from neuroopt.meeg import make_sphere_forward


@pytest.fixture(scope="module")
def model():
    info = make_eeg_info()
    return info, make_sphere_forward(info)


def test_forward_shapes_and_source_space(model):
    info, (forward, src, sphere) = model
    n_eeg = len(mne.pick_types(info, meg=False, eeg=True))
    assert n_eeg == 59 and forward["nchan"] == n_eeg  # EOG channels are not modelled
    n_src = len(src[0]["vertno"])
    assert forward["nsource"] == n_src > 1000
    assert forward["sol"]["data"].shape == (n_eeg, 3 * n_src)
    assert forward["coord_frame"] == mne.io.constants.FIFF.FIFFV_COORD_HEAD
    # every source lies inside the brain sphere, at least mindist (5 mm) from its surface
    rr = src[0]["rr"][src[0]["vertno"]]
    inner = sphere["layers"][0]["rad"]
    assert np.linalg.norm(rr - sphere["r0"], axis=1).max() <= inner - 0.005 + 1e-9
    # the grid spacing is pos (10 mm)
    step = np.diff(np.unique(np.round(rr[:, 0], 6)))
    np.testing.assert_allclose(step, 0.010, atol=1e-6)


def test_radial_dipole_peaks_under_the_electrode(model):
    info, (forward, src, sphere) = model
    rr = src[0]["rr"][src[0]["vertno"]]
    ch_pos = {ch["ch_name"]: ch["loc"][:3] for ch in info["chs"]}
    for name in ("Cz", "O1", "T8"):
        # the source point 3 cm beneath the electrode, towards the sphere centre
        direction = ch_pos[name] - sphere["r0"]
        direction /= np.linalg.norm(direction)
        target = ch_pos[name] - 0.03 * direction
        index = np.argmin(np.linalg.norm(rr - target, axis=1))
        gain = forward["sol"]["data"][:, 3 * index: 3 * index + 3] @ direction
        top = forward["info"]["ch_names"][np.argmax(gain)]
        assert np.linalg.norm(ch_pos[top] - ch_pos[name]) < 0.035, (name, top)


def test_pos_controls_the_grid(model):
    info, (_, src, _) = model
    _, coarse, _ = make_sphere_forward(info, pos=20.0)
    ratio = len(src[0]["vertno"]) / len(coarse[0]["vertno"])
    assert 6 < ratio < 10  # about 2 ** 3


def test_errors_name_the_problem(model):
    info, (_, _, sphere) = model
    with pytest.raises(TypeError, match="info must be an mne.Info"):
        make_sphere_forward({"chs": []})
    eog_only = mne.create_info(["VEOG"], 500.0, "eog")
    with pytest.raises(ValueError, match="no EEG channels"):
        make_sphere_forward(eog_only)
    no_dig = mne.create_info(["Cz", "Pz"], 500.0, "eeg")
    with pytest.raises(ValueError, match="set_montage"):
        make_sphere_forward(no_dig)
    with pytest.raises(ValueError, match="'sphere' parameter"):
        make_sphere_forward(info, sphere="fit")
    with pytest.raises(TypeError, match="sphere must be"):
        make_sphere_forward(info, sphere=0.09)
    with pytest.raises(ValueError, match="pos"):
        make_sphere_forward(info, pos=0)
    # an explicit sphere gives the same source space as "auto" fitted on the same info
    _, src_explicit, _ = make_sphere_forward(info, sphere=sphere)
    _, src_auto, _ = make_sphere_forward(info)
    np.testing.assert_array_equal(src_explicit[0]["vertno"], src_auto[0]["vertno"])
