"""sparse_inverse on bad or doubtful input, with the real sample evoked and covariance.

Channel and covariance mismatches, NaN channels and identical epochs fail with errors naming the
argument and the fix; empty or near-empty estimates are not silent (``solution.warnings``, the
log); ``debias=True`` gives amplitudes of the order of MNE's ``mixed_norm(debias=True)``.
A small sphere forward (sample_forward_utils.sphere_discrete_forward) keeps it fast.
"""

from __future__ import annotations

import logging

import mne
import numpy as np
import pytest

from neuroopt.meeg.inverse import sparse_inverse, whitened_noise_ratio

from sample_forward_utils import read_sample_evoked, sphere_discrete_forward


@pytest.fixture(scope="module")
def sample(shared_data):
    meg_sample = shared_data / "meg_sample"
    evoked = read_sample_evoked(meg_sample, "Left Auditory", tmin=0.0, tmax=0.2)
    cov = mne.read_cov(meg_sample / "test-cov.fif", verbose=False)
    return dict(evoked=evoked, cov=cov, forward=sphere_discrete_forward(evoked.info))


def _scaled(cov, factor):
    out = cov.copy()
    out["data"] = out["data"] * factor
    return out


def test_covariance_from_another_recording_names_noise_cov(sample):
    cov = sample["cov"].copy()
    cov["names"] = [name.replace("MEG ", "MEG-") for name in cov["names"]]
    with pytest.raises(ValueError, match=r"noise_cov has none of the 306 good data channels of "
                                         r"inst \(Evoked 'Left Auditory'\).*another recording"):
        sparse_inverse(sample["evoked"], sample["forward"], cov)


def test_dropped_channel_type_or_most_channels_fail(sample):
    evoked, forward, cov = sample["evoked"], sample["forward"], sample["cov"]
    mags = [n for n, t in zip(evoked.ch_names, evoked.get_channel_types()) if t == "mag"]
    no_mag = mne.pick_channels_cov(cov, exclude=mags, verbose=False)
    with pytest.raises(ValueError, match=r"Only 0 of the 102 good mag channels.*102 from "
                                         r"noise_cov.*inst.pick\(\['grad'\]\)"):
        sparse_inverse(evoked, forward, no_mag)
    grads = [n for n in evoked.ch_names if n not in mags]
    few = mne.pick_channels_cov(cov, exclude=grads[: 2 * len(grads) // 3], verbose=False)
    with pytest.raises(ValueError, match="Only 68 of the 204 good grad channels"):
        sparse_inverse(evoked, forward, few)


def test_channels_used_are_logged(sample, caplog):
    evoked = sample["evoked"].copy()
    cov = mne.pick_channels_cov(sample["cov"], exclude=[evoked.ch_names[0]], verbose=False)
    with caplog.at_level(logging.INFO, logger="neuroopt"):
        sparse_inverse(evoked, sample["forward"], cov, alpha=0.5, verbose="info")
    assert "Channels used: 203 grad, 102 mag (305 of 306 good data channels" in caplog.text
    assert f"not in forward or noise_cov: ['{evoked.ch_names[0]}']" in caplog.text


def test_covariance_far_too_small_fails_before_the_fit(sample):
    """1e-6: MTL's alpha='auto' would be tiny and its fit endless (> 3.5 min before)."""
    with pytest.raises(ValueError, match=r"noise_cov does not describe the noise of inst.*"
                                         r"times too small in variance"):
        sparse_inverse(sample["evoked"], sample["forward"], _scaled(sample["cov"], 1e-6),
                       estimator="mtl", alpha="auto")


def test_covariance_far_too_large_warns(sample):
    """1e6: an empty estimate, with both reasons in its warnings (not only 'alpha too large')."""
    sol = sparse_inverse(sample["evoked"], sample["forward"], _scaled(sample["cov"], 1e6),
                         estimator="mtl", alpha="auto")
    assert sol.data_noise_ratio == pytest.approx(1e-3, rel=0.2)
    assert len(sol.stc.data) == 0
    assert sol.warnings[0].startswith("no active source")
    assert "times too large in variance" in sol.warnings[1]


def test_moderately_wrong_covariance_warns(sample):
    sol = sparse_inverse(sample["evoked"], sample["forward"], _scaled(sample["cov"], 1 / 50),
                         alpha=0.5)
    assert sol.data_noise_ratio == pytest.approx(np.sqrt(50), rel=0.2)
    assert any("noise_cov does not describe the noise" in w for w in sol.warnings)


def test_whitened_noise_ratio_white_and_smooth_noise():
    rng = np.random.default_rng(0)
    noise = rng.standard_normal((300, 120)) / np.sqrt(4)
    assert whitened_noise_ratio(noise, nave=4) == pytest.approx(1.0, abs=0.1)
    signal = np.outer(rng.standard_normal(300), np.sin(np.linspace(0, 3, 120))) * 5
    assert whitened_noise_ratio(noise + signal, nave=4) == pytest.approx(1.0, abs=0.1)
    assert whitened_noise_ratio(3 * noise, nave=4) == pytest.approx(3.0, rel=0.1)


def test_nan_names_the_evoked_and_channel(sample):
    evoked = sample["evoked"].copy()
    evoked.data[5, 3:7] = np.nan
    with pytest.raises(ValueError, match=rf"inst \(Evoked 'Left Auditory'\) has 4 NaN.*"
                                         rf"\['{evoked.ch_names[5]}'\].*interpolate"):
        sparse_inverse(evoked, sample["forward"], sample["cov"])


def test_clar_identical_epochs_fail_clearly(sample):
    evoked = sample["evoked"]
    epochs = mne.EpochsArray(np.stack([evoked.data] * 5), evoked.info, verbose=False)
    with pytest.raises(ValueError, match=r"inst \(Epochs\): the 5 epochs are identical"):
        sparse_inverse(epochs, sample["forward"], sample["cov"], estimator="clar")


def test_empty_estimate_is_not_silent(sample, caplog):
    with caplog.at_level(logging.WARNING, logger="neuroopt"):
        sol = sparse_inverse(sample["evoked"], sample["forward"], sample["cov"], alpha=1.0)
    assert len(sol.stc.data) == 0 and sol.explained_variance == 0
    assert len(sol.warnings) == 1
    assert sol.warnings[0].startswith("no active source (alpha >= alpha_max")
    assert "try a smaller alpha" in sol.warnings[0]
    assert "no active source" in caplog.text
    good = sparse_inverse(sample["evoked"], sample["forward"], sample["cov"], alpha=0.3)
    assert len(good.stc.data) > 0 and good.warnings == ()


def test_near_empty_estimate_warns(sample):
    sol = sparse_inverse(sample["evoked"], sample["forward"], sample["cov"], alpha=0.97,
                         loose=0.0)
    assert len(sol.stc.data) > 0
    assert [w for w in sol.warnings if w.startswith("near-empty estimate")], sol.warnings


def test_debias_is_of_the_order_of_mne(sample):
    """Peak amplitude (nA*m) and support as MNE's debiased MxNE at the same alpha."""
    evoked, forward, cov = sample["evoked"], sample["forward"], sample["cov"]
    stc_mne = mne.inverse_sparse.mixed_norm(evoked, forward, cov, alpha=50, loose=1.0,
                                            depth=0.8, debias=True, tol=1e-8, verbose=False)
    sol = sparse_inverse(evoked, forward, cov, alpha=0.5, loose=1.0, depth=0.8, debias=True,
                         tol=1e-8, selection="none")
    biased = sparse_inverse(evoked, forward, cov, alpha=0.5, loose=1.0, depth=0.8, tol=1e-8,
                            selection="none")
    np.testing.assert_array_equal(sol.stc.vertices[0], stc_mne.vertices[0])
    peak, peak_mne = np.abs(sol.stc.data).max(), np.abs(stc_mne.data).max()
    assert peak == pytest.approx(peak_mne, rel=0.05)
    assert peak > 1.2 * np.abs(biased.stc.data).max()
    assert sol.explained_variance > biased.explained_variance


def test_reweighting_kind_reaches_the_estimator(sample):
    """``reweighting="l05"`` (MNE's irMxNE penalty) only removes sources from the convex
    support; an unknown kind names the argument."""
    evoked, forward, cov = sample["evoked"], sample["forward"], sample["cov"]
    common = dict(alpha=0.3, loose=1.0, depth=0.8, selection="none")
    convex = sparse_inverse(evoked, forward, cov, **common)
    l05 = sparse_inverse(evoked, forward, cov, n_reweighting=5, reweighting="l05", **common)
    assert l05.estimator.reweighting == "l05" and l05.estimator.n_reweighting == 5
    assert 0 < len(l05.stc.vertices[0]) < len(convex.stc.vertices[0])
    assert set(l05.stc.vertices[0]) <= set(convex.stc.vertices[0])
    with pytest.raises(ValueError, match="reweighting"):
        sparse_inverse(evoked, forward, cov, n_reweighting=3, reweighting="l1", **common)
