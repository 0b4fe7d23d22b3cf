"""``neuroopt.datasets.sample_meg_gain``: the whitened sample MEG gain used by the examples."""

import numpy as np
import pytest

from conftest import shared_dataset


def test_sample_meg_gain_free_and_fixed():
    from neuroopt.datasets import sample_meg_gain

    data = shared_dataset("meg_sample")
    free = sample_meg_gain(data, pos=30.0, orientation="free")
    fixed = sample_meg_gain(data, pos=30.0, orientation="fixed")
    n_rows, n_sources = fixed["gain"].shape
    assert free["gain"].shape == (n_rows, 3 * n_sources) and n_rows == len(free["sensor_types"])
    assert n_sources == len(free["source_rr"]) > 10
    blocks = free["gain"].reshape(n_rows, n_sources, 3)
    assert np.allclose(np.linalg.norm(blocks, axis=(0, 2)), 1.0)
    assert np.allclose(np.linalg.norm(fixed["gain"], axis=0), 1.0)
    # the fixed column is the best single orientation of the source's whitened block
    k = 0
    u = np.linalg.svd(blocks[:, k], full_matrices=False)[0][:, 0]
    assert abs(u @ fixed["gain"][:, k]) == pytest.approx(1.0)
    assert set(free["sensor_types"]) == {"grad", "mag"}
    with pytest.raises(ValueError, match="orientation"):
        sample_meg_gain(data, orientation="loose")
    with pytest.raises(FileNotFoundError, match="test-ave.fif.gz"):
        sample_meg_gain(data / "bem")
