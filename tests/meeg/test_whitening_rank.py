"""Whitening rank with SSP projectors, on the real sample MEG Info (issue 18).

Noise drawn from the real ``test-cov.fif`` through the real 306-channel array has the recording's
noisy channel (MEG 2443). Preprocessing detects it and interpolates it from its neighbours, so the
data have rank 302, while ``rank="info"`` counts 306 channels - 3 SSP projectors = 303. Whitening
with 303 divides by a zero eigenvalue: MNE warns "rank['meg']=303 exceeds the estimated rank of
the noise covariance (302) ... increase in noise during whitening by a factor of 2e+06" and the
whitened plots are wrong. With the estimated rank the whitened baseline has unit variance in
every dimension.
"""

from __future__ import annotations

import mne
import numpy as np
import pytest
from meg_bids_utils import _noise, sample_meg_info

from neuroopt.meeg.preprocessing import compute_noise_cov, make_epochs, preprocess_raw
from neuroopt.meeg.whitening import covariance_rank, data_rank

from conftest import shared_dataset


@pytest.fixture(scope="module")
def sample_noise_epochs():
    meg_sample = shared_dataset("meg_sample")
    info = sample_meg_info(meg_sample)
    rng = np.random.default_rng(0)
    n_times = int(60 * info["sfreq"])
    cov = mne.read_cov(meg_sample / "test-cov.fif", verbose=False)
    raw = mne.io.RawArray(_noise(cov, info, n_times, rng), info, verbose=False)
    onsets = np.arange(1.0, 58.0, 0.6)
    raw.set_annotations(mne.Annotations(onsets, 0.1, ["tone"] * len(onsets)))
    clean, details = preprocess_raw(raw, artifacts="none", notch_freqs="none", l_freq=None, h_freq=None)
    assert details["interpolated"] == ["MEG 2443"]
    return make_epochs([clean], tmin=-0.2, tmax=0.2, baseline=None, reject=None)


def _whitened_baseline_variance(epochs, cov, rank):
    whitener, _ = mne.cov.compute_whitener(cov, epochs.info, rank=rank, pca=True, verbose="error")
    baseline = epochs.copy().crop(None, 0.0).get_data(picks="meg")
    return np.einsum("wc,ect->ewt", whitener, baseline).var(axis=(0, 2))


def test_rank_below_info_rank_with_ssp(sample_noise_epochs):
    epochs = sample_noise_epochs
    assert len(epochs.info["projs"]) == 3 and mne.compute_rank(epochs, "info", verbose=False) == {"meg": 303}
    assert data_rank(epochs) == {"meg": 302}
    cov = compute_noise_cov(epochs, method="empirical")
    assert covariance_rank(cov, epochs.info) == {"meg": 302}


def test_whitened_baseline_has_unit_variance(sample_noise_epochs):
    epochs = sample_noise_epochs
    cov = compute_noise_cov(epochs, method="empirical")
    variance = _whitened_baseline_variance(epochs, cov, covariance_rank(cov, epochs.info))
    assert len(variance) == 302
    np.testing.assert_allclose(variance, 1.0, atol=0.15)
    # the "info" rank adds a dimension without noise (variance far from 1): the bug of issue 18
    variance_info = _whitened_baseline_variance(epochs, cov, "info")
    assert len(variance_info) == 303 and np.min(variance_info) < 0.5


def _row_groups(raw):
    from neuroopt.meeg.inverse import _whitened_row_groups

    cov = mne.compute_raw_covariance(raw, method="empirical", rank=data_rank(raw), verbose=False)
    whitener, _ = mne.cov.compute_whitener(cov, raw.info, rank=covariance_rank(cov, raw.info), pca=True,
                                           verbose="error")
    return _whitened_row_groups(whitener, raw.info)


def test_sgcl_sensor_groups_mag_and_grad():
    """SGCL's noise groups (rows of the whitener labelled by sensor type): magnetometers and
    gradiometers apart without SSP; with SSP projectors (or after SSS) every type still has its
    group, or the MEG is one "meg" group when the whitened rows mix both (never a type dropped)."""
    meg_sample = shared_dataset("meg_sample")
    info = sample_meg_info(meg_sample)
    cov = mne.read_cov(meg_sample / "test-cov.fif", verbose=False)
    raw = mne.io.RawArray(_noise(cov, info, 3000, np.random.default_rng(1)), info, verbose=False)
    groups = _row_groups(raw.copy().del_proj())
    assert (groups == "grad").sum() > 150 and (groups == "mag").sum() > 80 and set(groups) == {"grad", "mag"}
    raw.apply_proj(verbose=False)
    groups = set(_row_groups(raw))
    assert groups == {"meg"} or groups == {"grad", "mag"}
