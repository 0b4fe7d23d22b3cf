"""Real-data check: the sparse inverse of MNE's sample auditory evoked finds both auditory cortices.

Left Auditory (0-200 ms, MEG, 10 mm volume grid): the strongest source of each hemisphere must
lie within 25 mm of Heschl's gyrus (MNI seeds mapped to head coordinates through the subject's
Talairach transform and the head<->MRI transform). MNE's own MxNE gives 19 mm (lh) and 20 mm (rh)
on this grid. The visual conditions must fail the same test, so it cannot pass by accident.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neuroopt.meeg.inverse import sparse_inverse

from sample_forward_utils import (
    cached_volume_forward,
    heschl_seeds_head,
    read_sample_evoked,
    sample_subjects_dir,
    strongest_source_per_hemisphere,
)

MAX_DISTANCE_M = 0.025


@pytest.fixture(scope="module")
def sample_problem(shared_data, request, tmp_path_factory):
    meg_sample = shared_data / "meg_sample"
    subjects_dir = sample_subjects_dir(meg_sample, tmp_path_factory.mktemp("subjects"))
    cache = getattr(request.config, "cache", None)
    cache_dir = cache.mkdir("neuroopt_sparse_inverse") if cache is not None else (
        tmp_path_factory.mktemp("forward"))
    forward = cached_volume_forward(meg_sample, cache_dir, subjects_dir, pos=10.0)
    return dict(meg_sample=meg_sample, forward=forward,
                cov=mne.read_cov(meg_sample / "test-cov.fif", verbose=False),
                seeds=heschl_seeds_head(meg_sample, subjects_dir))


def _distances_to_heschl(problem, condition, **kwargs):
    evoked = read_sample_evoked(problem["meg_sample"], condition)
    sol = sparse_inverse(evoked, problem["forward"], problem["cov"], depth=0.8, **kwargs)
    strongest = strongest_source_per_hemisphere(sol.stc, problem["forward"])
    distances = {hemi: (np.inf if pos is None
                        else float(np.linalg.norm(pos - problem["seeds"][hemi])))
                 for hemi, pos in strongest.items()}
    return distances, sol


def test_heschl_seeds_in_head_coordinates(sample_problem):
    """The MNI -> head mapping puts the seeds left/right, ~9-10 cm apart, above the ear line."""
    lh, rh = sample_problem["seeds"]["lh"], sample_problem["seeds"]["rh"]
    assert lh[0] < -0.03 and rh[0] > 0.03
    assert 0.08 < np.linalg.norm(lh - rh) < 0.11
    assert 0.02 < lh[2] < 0.09 and 0.02 < rh[2] < 0.09


def test_left_auditory_finds_both_auditory_cortices(sample_problem):
    distances, sol = _distances_to_heschl(sample_problem, "Left Auditory", estimator="mtl",
                                          alpha="auto")
    assert distances["lh"] < MAX_DISTANCE_M, distances
    assert distances["rh"] < MAX_DISTANCE_M, distances
    assert isinstance(sol.stc, mne.VolSourceEstimate)
    assert len(sol.dipoles) == len(sol.stc.vertices[0])
    # MNE's MxNE at alpha=70 (70 % of alpha_max, the convex estimate alone) passes too; at 80 %
    # the strongest right source moves 33 mm away (3 averages only: the evidence for it is
    # weak). With the default relocation at 70 % it is 28 mm away.
    distances, _ = _distances_to_heschl(sample_problem, "Left Auditory", estimator="mtl",
                                        alpha=0.7, selection="none")
    assert max(distances.values()) < MAX_DISTANCE_M, distances


def test_visual_condition_fails_the_auditory_check(sample_problem):
    distances, _ = _distances_to_heschl(sample_problem, "Left visual", estimator="mtl",
                                        alpha="auto")
    assert max(distances.values()) > MAX_DISTANCE_M, distances


def test_sgcl_on_right_auditory_with_noise_levels(sample_problem):
    """SGCL (pivotal alpha, reweighted) on Right Auditory (6 averages): both auditory cortices,
    and grad / mag noise levels close to what the covariance predicts for 6 averages."""
    distances, sol = _distances_to_heschl(sample_problem, "Right Auditory", estimator="sgcl",
                                          alpha="auto", n_reweighting=5)
    assert max(distances.values()) < MAX_DISTANCE_M, distances
    table = sol.noise_levels.set_index("ch_type")
    assert set(table.index) == {"grad", "mag"}
    assert table["sigma_expected"].iloc[0] == pytest.approx(1 / np.sqrt(6))
    # the evoked also holds unexplained brain signal, so a little above 1, never far off
    assert ((table["noise_to_cov_ratio"] > 0.9) & (table["noise_to_cov_ratio"] < 2.0)).all()
    assert (table["noise_std"] > 0).all() and set(table["unit"]) == {"T", "T/m"}
