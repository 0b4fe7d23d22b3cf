"""M/EEG preprocessing on the demo (known bad channel, line noise, blinks) and on real MNE sample data."""

import mne
import numpy as np
import pytest

from neuroopt.datasets import load_demo_truth
from neuroopt.meeg.preprocessing import (
    compute_evokeds,
    compute_noise_cov,
    detect_bad_channels,
    filter_raw,
    make_epochs,
    preprocess_raw,
    read_raw,
)


@pytest.fixture(scope="module")
def demo_runs(tiny_demo):
    paths = sorted(tiny_demo.glob("sub-01/eeg/*_eeg.vhdr"))
    return [read_raw(p) for p in paths]


@pytest.fixture(scope="module")
def demo_clean(demo_runs):
    return [preprocess_raw(raw, resample_sfreq=200.0, random_state=0) for raw in demo_runs]


def _band_power(raw, fmin, fmax, picks="eeg"):
    spectrum = raw.compute_psd(fmin=fmin, fmax=fmax, picks=picks, exclude="bads", verbose="error")
    return spectrum.get_data().mean()


def test_read_raw_gets_bids_metadata(demo_runs, tiny_demo):
    raw = demo_runs[0]
    assert raw.info["line_freq"] == 50
    assert {"eeg", "eog"} <= set(raw.get_channel_types())
    assert set(raw.annotations.description) == {"auditory/left", "auditory/right", "visual/left", "visual/right"}


def test_detects_the_demo_bad_channel(demo_runs, tiny_demo):
    truth = load_demo_truth(tiny_demo, "01")
    bads = detect_bad_channels(demo_runs[0])
    assert sorted(bads["flat"] + bads["noisy"]) == sorted(truth["eeg"]["bad_channels"])


def test_filters_remove_line_noise_and_drift(demo_runs, demo_clean):
    raw, (clean, details) = demo_runs[0], demo_clean[0]
    assert clean.info["sfreq"] == 200.0
    # line noise at 50 Hz: strong before, gone after (relative to the 20-30 Hz band)
    before = _band_power(raw, 49, 51) / _band_power(raw, 20, 30)
    after = _band_power(clean, 49, 51) / _band_power(clean, 20, 30)
    assert before > 10 * after
    assert _band_power(clean, 0.05, 0.3) < 0.1 * _band_power(raw, 0.05, 0.3)
    assert details["interpolated"] == details["bads"]["flat"] + details["bads"]["noisy"]
    assert clean.info["bads"] == []
    assert any(p["desc"] == "Average EEG reference" for p in clean.info["projs"])


def test_ica_removes_blinks(demo_runs, demo_clean):
    raw, (clean, details) = demo_runs[0], demo_clean[0]
    assert details["artifacts"]["method"] == "ica" and details["artifacts"]["excluded"]
    # correlation of frontal EEG with the vertical EOG drops after ICA
    frontal = [ch for ch in ("Fp1", "Fp2", "AF3", "AF4", "Fpz") if ch in clean.ch_names]
    eog = [ch for ch, kind in zip(raw.ch_names, raw.get_channel_types()) if kind == "eog"][0]

    def corr(inst):
        filt = inst.copy().filter(1.0, 10.0, picks="all", verbose="error")
        data = filt.get_data(picks=frontal + [eog])
        return np.mean([abs(np.corrcoef(row, data[-1])[0, 1]) for row in data[:-1]])

    assert corr(clean) < 0.5 * corr(raw.copy().set_eeg_reference("average", verbose="error"))


def test_epochs_evoked_cov(demo_clean):
    raws = [clean for clean, _ in demo_clean]
    epochs = make_epochs(raws, runs=["01", "02"], tmin=-0.2, tmax=0.5, reject="auto")
    assert set(epochs.metadata["run"]) == {"01", "02"}
    assert len(epochs) >= 0.9 * 80
    evokeds = compute_evokeds(epochs)
    assert [ev.comment for ev in evokeds] == sorted(epochs.event_id)
    # an evoked response: post-stimulus RMS well above the baseline's
    ev = evokeds[0].copy().pick("eeg")
    post = ev.copy().crop(0.05, 0.25).data.std()
    base = ev.copy().crop(None, 0.0).data.std()
    assert post > 1.5 * base  # 20 trials per condition in the tiny demo
    cov = compute_noise_cov(epochs, method="shrunk")
    eigvals = np.linalg.eigvalsh(cov.data[np.ix_(*[mne.pick_types(epochs.info, eeg=True)] * 2)])
    assert eigvals[-1] > 0 and np.all(eigvals > -1e-20)


def test_epochs_errors(demo_clean):
    raws = [clean for clean, _ in demo_clean]
    with pytest.raises(ValueError, match="conditions lists"):
        make_epochs(raws, conditions=["nope"])
    with pytest.raises(ValueError, match="runs has 1 labels for 2"):
        make_epochs(raws, runs=["01"])


def test_on_real_sample_meg_eeg(shared_data):
    """Real MEG+EEG channels of the MNE sample subject: filtering and bad-channel detection."""
    evoked = mne.read_evokeds(shared_data / "meg_sample" / "test-ave.fif.gz", condition=0, verbose="error")
    evoked.info["bads"] = []
    rng = np.random.default_rng(0)
    info = evoked.info
    n_times = int(20 * info["sfreq"])
    picks = mne.pick_types(info, meg=True, eeg=True)
    scale = evoked.data[picks].std(axis=1, keepdims=True)
    data = np.zeros((len(info["ch_names"]), n_times))
    data[picks] = scale * rng.standard_normal((len(picks), n_times))
    times = np.arange(n_times) / info["sfreq"]
    data[picks] += 3 * scale * np.sin(2 * np.pi * 60.0 * times)  # line noise (US data: 60 Hz)
    flat = info["ch_names"][picks[10]]
    data[picks[10]] = 0.0
    raw = mne.io.RawArray(data, info, verbose="error")
    raw.info["line_freq"] = 60.0
    bads = detect_bad_channels(raw)
    assert bads["flat"] == [flat]
    filter_raw(raw, l_freq=1.0, h_freq=40.0, notch_freqs="auto", resample_sfreq=150.0)
    assert raw.info["sfreq"] == 150.0
    psd = raw.compute_psd(picks="eeg", fmax=70, verbose="error")
    freqs = psd.freqs
    line = psd.get_data()[:, np.argmin(abs(freqs - 60))].mean()
    passband = psd.get_data()[:, (freqs > 10) & (freqs < 30)].mean()
    assert line < 0.01 * passband
