"""EEG without EOG/ECG channel and without electrode positions through ``meeg_preprocess``.

Such recordings are common (issue 18: an EEGLAB file with 32 channels, no EOG, no montage); the
job used to crash writing an ICA it had not fitted. ICA is now fitted and saved, nothing is
removed, and the summary says why.
"""

from __future__ import annotations

import json

import mne
import numpy as np
import pytest


class Named(dict):
    """Snakemake's named input/output/params lists: attributes and ``keys()``."""

    __getattr__ = dict.__getitem__


@pytest.fixture(scope="module")
def eeg_no_eog_bids(tmp_path_factory):
    import mne_bids

    rng = np.random.default_rng(0)
    sfreq, n_times = 250.0, 250 * 30
    names = [f"E{i:02d}" for i in range(1, 33)]
    info = mne.create_info(names, sfreq, "eeg")
    # a few mixed sources, so ICA has structure to find
    sources = rng.laplace(size=(6, n_times)) * 2e-6
    data = rng.standard_normal((32, 6)) @ sources + 5e-6 * rng.standard_normal((32, n_times))
    raw = mne.io.RawArray(data, info, verbose=False)
    onsets = np.arange(1.0, 28.0, 1.5)
    raw.set_annotations(mne.Annotations(onsets, 0.1, ["a", "b"] * (len(onsets) // 2)))
    with raw.info._unlock():
        raw.info["line_freq"] = 50.0
    root = tmp_path_factory.mktemp("eeg_no_eog")
    bids_path = mne_bids.BIDSPath(subject="01", task="rest", datatype="eeg", root=root)
    mne_bids.write_raw_bids(raw, bids_path, format="BrainVision", allow_preload=True, verbose=False)
    return bids_path.fpath


def test_preprocess_without_eog_writes_every_declared_output(eeg_no_eog_bids, tmp_path):
    from neuroopt.pipeline.steps.meeg import meeg_preprocess

    assert eeg_no_eog_bids.exists()
    cfg = {
        "l_freq": 0.5, "h_freq": 40.0, "notch_freqs": "auto", "resample_sfreq": 100.0,
        "bad_channels": {"detect": True, "flat_ratio": 0.01, "zscore_threshold": 5.0, "interpolate": True},
        "artifacts": {"method": "ica", "ica_n_components": 0.99, "eog_threshold": 3.0},
    }
    output = Named(raw=str(tmp_path / "x_proc-clean_raw.fif"), summary=str(tmp_path / "x_summary.json"),
                   ica=str(tmp_path / "x_ica.fif"))
    meeg_preprocess(Named(raw=str(eeg_no_eog_bids)), output, Named(cfg=cfg, seed=0), 1)
    ica = mne.preprocessing.read_ica(output.ica, verbose=False)
    assert ica.n_components_ >= 2 and ica.exclude == []
    summary = json.loads(open(output.summary).read())
    assert summary["ica_excluded"] == []
    assert summary["ica_n_components"] == ica.n_components_
    assert "no EOG/ECG channel" in summary["artifact_note"]
    clean = mne.io.read_raw_fif(output.raw, verbose=False)
    assert clean.info["sfreq"] == 100.0 and clean.get_montage() is None


def test_ssp_without_eog_says_so(eeg_no_eog_bids):
    from neuroopt.meeg.preprocessing import preprocess_raw, read_raw

    clean, details = preprocess_raw(read_raw(eeg_no_eog_bids), artifacts="ssp", resample_sfreq=100.0)
    assert details["artifacts"]["projs"] == [] and details["artifacts"]["ica"] is None
    assert "no SSP projector" in details["artifacts"]["note"]


def test_maxwell_on_eeg_fails_at_planning(eeg_no_eog_bids):
    from snakemake.utils import validate

    from neuroopt.io.bids import BIDSError
    from neuroopt.pipeline import make_plan

    from conftest import REPO_ROOT

    root = eeg_no_eog_bids.parents[2]
    config = {"bids_root": str(root), "fmri": {"enabled": False}, "sparse": {"enabled": False},
              "meeg": {"maxwell": {"enabled": True}}}
    validate(config, str(REPO_ROOT / "config" / "schema.yaml"))
    with pytest.raises(BIDSError, match=r"meeg.maxwell is enabled but .*_eeg.vhdr is EEG"):
        make_plan(config)
