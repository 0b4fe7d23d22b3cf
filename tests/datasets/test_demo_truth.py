"""The demo dataset is valid BIDS and its data agree with its ground truth (EEG and fMRI)."""

from __future__ import annotations

import json

import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn.masking import apply_mask
from scipy.linalg import block_diag

from neuroopt.datasets import (
    DEMO_EEG_CONDITIONS,
    DEMO_FMRI_CONDITIONS,
    DEMO_TASK,
    load_demo_truth,
    make_demo_dataset,
)
from neuroopt.datasets._demo_fmri import CANONICAL_HRF, _condition_regressors
from neuroopt.meeg import make_sphere_forward

mne_bids = pytest.importorskip("mne_bids")

PARAMS = dict(
    n_subjects=1,
    n_runs=2,
    eeg_trials_per_condition=40,
    fmri_trials_per_condition=10,
    fmri_resolution=8,
    seed=42,
)


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    root = make_demo_dataset(tmp_path_factory.mktemp("demo") / "bids", **PARAMS)
    return root, load_demo_truth(root, "01")


def _read_eeg_run(root, run):
    path = mne_bids.BIDSPath(
        subject="01", task=DEMO_TASK, run=f"{run:02d}", datatype="eeg", root=root
    )
    return mne_bids.read_raw_bids(path, verbose=False)


def test_eeg_runs_are_readable_bids_matching_truth(demo):
    root, truth = demo
    counts = {c: 0 for c in DEMO_EEG_CONDITIONS}
    for run in range(1, PARAMS["n_runs"] + 1):
        raw = _read_eeg_run(root, run)
        assert raw.info["sfreq"] == 500.0
        assert raw.info["line_freq"] == truth["eeg"]["line_freq"] == 50.0
        types = dict(zip(raw.ch_names, raw.get_channel_types()))
        assert types["VEOG"] == types["HEOG"] == "eog"
        assert sum(t == "eeg" for t in types.values()) == 59
        trials = truth["eeg"]["trials"][run]
        np.testing.assert_allclose(raw.annotations.onset, trials["onset"], atol=1e-6)
        assert list(raw.annotations.description) == list(trials["trial_type"])
        for c in raw.annotations.description:
            counts[c] += 1
        sidecar = json.loads(
            (root / "sub-01" / "eeg" / f"sub-01_task-demo_run-{run:02d}_eeg.json").read_text()
        )
        assert sidecar["EEGReference"] == "FCz"
        assert sidecar["PowerLineFrequency"] == 50
    assert counts == {c: PARAMS["eeg_trials_per_condition"] for c in DEMO_EEG_CONDITIONS}


def test_eeg_evoked_topography_matches_true_sources(demo):
    root, truth = demo
    eeg_truth = truth["eeg"]
    raw = mne.concatenate_raws(
        [_read_eeg_run(root, run).load_data() for run in range(1, PARAMS["n_runs"] + 1)]
    )
    raw.info["bads"] = list(eeg_truth["bad_channels"])
    forward, src, _ = make_sphere_forward(raw.info)
    sources = eeg_truth["sources"]
    # the truth positions are the source-space points named by src_index
    rr = src[0]["rr"][src[0]["vertno"]][sources["src_index"]]
    np.testing.assert_allclose(rr, sources[["x", "y", "z"]].to_numpy(), atol=1e-6)

    raw.filter(1.0, 40.0, verbose=False)
    events, event_id = mne.events_from_annotations(raw, verbose=False)
    # standard blink rejection: blinks are part of the simulation
    epochs = mne.Epochs(raw, events, event_id, -0.2, 0.5, baseline=(None, 0), preload=True,
                        reject=dict(eog=100e-6), verbose=False)
    assert len(epochs) > 0.6 * len(events)
    epochs.set_eeg_reference("average", verbose=False)
    ch_names = forward["info"]["ch_names"]
    n_chan = len(ch_names)
    gain = forward["sol"]["data"].reshape(n_chan, -1, 3)[:, sources["src_index"]]
    fixed = np.einsum("csk,sk->cs", gain, sources[["ori_x", "ori_y", "ori_z"]].to_numpy())
    good = [ch_names.index(c) for c in epochs.copy().pick("eeg", exclude="bads").ch_names]
    for condition in DEMO_EEG_CONDITIONS:
        evoked = epochs[condition].average().pick("eeg", exclude="bads")
        predicted = fixed[good] @ eeg_truth["waveforms"][condition]
        predicted -= predicted.mean(axis=0)
        peak = np.argmax(np.abs(predicted).max(axis=0))
        # topography averaged over +-10 ms around the true peak
        window = np.abs(evoked.times - eeg_truth["times"][peak]) <= 0.0101
        measured = evoked.data[:, window].mean(axis=1)
        r = np.corrcoef(measured, predicted[:, peak])[0, 1]
        assert r > 0.8, f"{condition}: topography correlation {r:.2f}"
        # and the evoked response stands out from the baseline
        signal = evoked.data[:, evoked.times > 0].std(axis=0).max()
        noise = evoked.data[:, evoked.times < 0].std(axis=0).mean()
        assert signal > 2 * noise, condition


def test_eeg_artifacts_and_bad_channel(demo):
    root, truth = demo
    raw = _read_eeg_run(root, 1).load_data()
    assert truth["eeg"]["bad_channel_kind"] == "flat"  # subject 01 gets a flat channel
    (bad,) = truth["eeg"]["bad_channels"]
    assert np.ptp(raw.get_data(picks=[bad])) == 0.0
    eeg = raw.get_data(picks="eeg", exclude=[bad])
    assert np.all(eeg.std(axis=1) > 1e-6)
    # line noise: 50 Hz stands out of its neighbourhood in the spectrum
    spectrum = np.abs(np.fft.rfft(eeg - eeg.mean(axis=1, keepdims=True), axis=1)).mean(axis=0)
    freqs = np.fft.rfftfreq(eeg.shape[1], 1 / raw.info["sfreq"])
    line = spectrum[np.abs(freqs - 50.0) < 0.05].max()
    around = np.median(spectrum[(np.abs(freqs - 50.0) > 2) & (np.abs(freqs - 50.0) < 5)])
    assert line > 20 * around
    # blinks: large on VEOG, propagated to frontal more than to occipital channels
    raw.filter(1.0, 15.0, picks=["eeg", "eog"], verbose=False)
    veog = raw.get_data(picks=["VEOG"])[0]
    assert np.ptp(veog) > 100e-6
    fp1, oz = raw.get_data(picks=["Fp1", "Oz"])
    fp1_gain, oz_gain = (veog @ fp1) / (veog @ veog), (veog @ oz) / (veog @ veog)
    assert fp1_gain > 0.3
    assert abs(oz_gain) < fp1_gain / 3


def test_fmri_runs_are_readable_bids_matching_truth(demo):
    root, truth = demo
    fmri = truth["fmri"]
    mask = np.asarray(fmri["mask_img"].dataobj) > 0
    assert fmri["conditions"] == sorted(DEMO_FMRI_CONDITIONS)
    for run in range(1, PARAMS["n_runs"] + 1):
        stem = root / "sub-01" / "func" / f"sub-01_task-demo_run-{run:02d}"
        img = nib.load(f"{stem}_bold.nii.gz")
        sidecar = json.loads(open(f"{stem}_bold.json").read())
        assert sidecar["RepetitionTime"] == fmri["t_r"] == 2.0
        assert sidecar["TaskName"] == DEMO_TASK
        assert img.ndim == 4 and img.get_data_dtype() == np.float32
        assert img.header.get_zooms()[3] == pytest.approx(sidecar["RepetitionTime"])
        assert 120 <= img.shape[3] <= 160
        np.testing.assert_allclose(img.affine, fmri["mask_img"].affine)
        data = np.asarray(img.dataobj)
        assert np.all(data[~mask] == 0)
        assert 500 < data[mask].mean() < 1100
        events = pd.read_csv(f"{stem}_events.tsv", sep="\t")
        assert list(events.columns) == ["onset", "duration", "trial_type"]
        trials = fmri["trials"][run]
        np.testing.assert_allclose(events["onset"], trials["onset"], atol=1e-3)
        assert (events["trial_type"] == trials["trial_type"]).all()
        assert events["trial_type"].value_counts().to_dict() == {
            c: PARAMS["fmri_trials_per_condition"] for c in DEMO_FMRI_CONDITIONS
        }
        isi = np.diff(events["onset"]) - events["duration"].to_numpy()[:-1]
        assert isi.min() >= 2.9 and isi.max() <= 8.1 and isi.std() > 0.5


def test_fmri_true_hrfs(demo):
    _, truth = demo
    fmri = truth["fmri"]
    hrfs, times = fmri["hrfs"], fmri["hrf_times"]
    peaks = apply_mask(fmri["hrf_peak_img"], fmri["mask_img"])
    assert hrfs.shape == (times.size, peaks.size)
    assert times[0] == 0 and times[-1] == pytest.approx(32.0)
    np.testing.assert_allclose(np.linalg.norm(hrfs, axis=0), 1.0, rtol=1e-6)
    # the undershoot moves the maximum by at most a few tenths of a second
    np.testing.assert_allclose(times[np.argmax(hrfs, axis=0)], peaks, atol=0.41)
    assert {4.0, 5.0, 7.0} <= set(np.round(np.unique(peaks), 1))


def _fit(fmri, bold, vox, hrf_params, amplitudes=True):
    """OLS fit of condition regressors + per-run drifts; returns (condition betas, R2 vs drift)."""
    designs, drifts, data = [], [], []
    for run, y in bold.items():
        events = fmri["trials"][run]
        if not amplitudes:
            events = events.assign(amplitude=1.0)
        n = y.shape[0]
        designs.append(_condition_regressors(events, n, hrf_params))
        frames = np.arange(n)
        cosines = [np.cos(np.pi * k * (frames + 0.5) / n) for k in (1, 2, 3)]
        drifts.append(np.column_stack([np.ones(n), frames / n - 0.5] + cosines))
        data.append(y[:, vox])
    drift = block_diag(*drifts)
    x = np.column_stack([np.vstack(designs), drift])
    y = np.vstack(data)
    coef = np.linalg.lstsq(x, y, rcond=None)[0]
    res = y - x @ coef
    res0 = y - drift @ np.linalg.lstsq(drift, y, rcond=None)[0]
    return coef[: len(DEMO_FMRI_CONDITIONS)], 1 - (res**2).sum(0) / (res0**2).sum(0)


def test_fmri_true_design_recovers_betas(demo):
    root, truth = demo
    fmri = truth["fmri"]
    betas = apply_mask(fmri["betas_img"], fmri["mask_img"])
    params = apply_mask(fmri["hrf_params_img"], fmri["mask_img"]).T
    bold = {
        run: apply_mask(
            nib.load(root / "sub-01" / "func" / f"sub-01_task-demo_run-{run:02d}_bold.nii.gz"),
            fmri["mask_img"],
        )
        for run in fmri["trials"]
    }
    active = np.abs(betas).sum(axis=0) > 0
    assert 20 < active.sum() < 0.05 * active.size
    estimated = np.zeros_like(betas)
    r2_true = np.zeros(active.size)
    r2_canonical = np.zeros(active.size)
    for p in np.unique(params[active], axis=0):
        vox = np.flatnonzero(active & np.all(np.isclose(params, p), axis=1))
        estimated[:, vox], r2_true[vox] = _fit(fmri, bold, vox, p)
        _, r2_canonical[vox] = _fit(fmri, bold, vox, CANONICAL_HRF)
    r = np.corrcoef(estimated[:, active].ravel(), betas[:, active].ravel())[0, 1]
    assert r > 0.9, r
    # where the true HRF is shifted from the canonical one, the canonical model fits worse
    shifted = active & (np.abs(params[:, 0] - CANONICAL_HRF[0]) >= 1.0)
    assert shifted.sum() >= 5
    assert r2_canonical[shifted].mean() < 0.9 * r2_true[shifted].mean()
    canonical = active & np.all(np.isclose(params, CANONICAL_HRF), axis=1)
    np.testing.assert_allclose(r2_canonical[canonical], r2_true[canonical])


def test_fmri_noise_matches_truth(demo):
    root, truth = demo
    fmri = truth["fmri"]
    betas = apply_mask(fmri["betas_img"], fmri["mask_img"])
    baseline = apply_mask(fmri["baseline_img"], fmri["mask_img"])
    inactive = np.flatnonzero(np.abs(betas).sum(axis=0) == 0)
    y = apply_mask(
        nib.load(root / "sub-01" / "func" / "sub-01_task-demo_run-01_bold.nii.gz"),
        fmri["mask_img"],
    )[:, inactive]
    n = y.shape[0]
    frames = np.arange(n)
    cosines = [np.cos(np.pi * k * (frames + 0.5) / n) for k in (1, 2, 3)]
    drift = np.column_stack([np.ones(n), frames / n - 0.5] + cosines)
    res = y - drift @ np.linalg.lstsq(drift, y, rcond=None)[0]
    noise = fmri["noise"]
    sd_percent = 100 * res.std(axis=0) / baseline[inactive]
    assert np.median(sd_percent) == pytest.approx(noise["sd_percent_of_baseline"], rel=0.1)
    lag1 = (res[1:] * res[:-1]).sum(axis=0) / (res**2).sum(axis=0)
    # OLS residuals of ~140 scans underestimate the lag-1 autocorrelation by ~0.05
    assert noise["ar1"] - 0.1 < np.median(lag1) < noise["ar1"] + 0.03
    # the baseline has the spatial contrast of a mean EPI image, zero outside the brain
    assert baseline.min() > 300 and 1.4 < baseline.max() / baseline.min() < 4
