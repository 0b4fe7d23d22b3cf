"""Demo generation: determinism, reuse of a complete dataset, atomicity, argument errors."""

from __future__ import annotations

import hashlib
import json
import time

import numpy as np
import pytest

from neuroopt.datasets import _demo_fmri, load_demo_truth, make_demo_dataset

TINY = dict(
    n_subjects=2,
    n_runs=1,
    eeg_trials_per_condition=4,
    fmri_trials_per_condition=2,
    fmri_resolution=8,
)


def _hashes(root):
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    base = tmp_path_factory.mktemp("demo_build")
    return base, make_demo_dataset(base / "a", seed=3, **TINY)


def test_same_seed_gives_identical_files(tiny):
    base, root = tiny
    other = make_demo_dataset(base / "b", seed=3, **TINY)
    first, second = _hashes(root), _hashes(other)
    assert len(first) > 40
    assert first == second


def test_other_seed_gives_other_data(tiny):
    base, root = tiny
    other = make_demo_dataset(base / "seed4", seed=4, **TINY)
    first, second = _hashes(root), _hashes(other)
    assert first.keys() == second.keys()
    for name in (
        "sub-01/eeg/sub-01_task-demo_run-01_eeg.eeg",
        "sub-01/func/sub-01_task-demo_run-01_bold.nii.gz",
        "derivatives/truth/sub-02/func/sub-02_task-demo_betas.nii.gz",
    ):
        assert first[name] != second[name], name


def test_modalities_use_independent_random_streams(tiny):
    base, root = tiny
    fmri_only = make_demo_dataset(base / "fmri_only", seed=3, eeg=False, **TINY)
    first, second = _hashes(root), _hashes(fmri_only)
    assert not any("/eeg/" in name for name in second)
    bold = "sub-02/func/sub-02_task-demo_run-01_bold.nii.gz"
    assert first[bold] == second[bold]
    truth = load_demo_truth(fmri_only, "02")
    assert "eeg" not in truth and "fmri" in truth


def test_layout_and_descriptions(tiny):
    _, root = tiny
    description = json.loads((root / "dataset_description.json").read_text())
    assert description["DatasetType"] == "raw"
    assert "seed=3" in description["GeneratedBy"][0]["Description"]
    truth_description = json.loads(
        (root / "derivatives" / "truth" / "dataset_description.json").read_text()
    )
    assert truth_description["DatasetType"] == "derivative"
    participants = (root / "participants.tsv").read_text().splitlines()
    assert [line.split("\t")[0] for line in participants[1:]] == ["sub-01", "sub-02"]
    assert (root / "README").read_text().startswith("neuroopt demo dataset")
    # no temporary folder is left beside the dataset
    assert not [p for p in root.parent.iterdir() if p.name.startswith(".")]


def test_second_subject_has_a_noisy_bad_channel(tiny):
    import mne_bids

    _, root = tiny
    truth = load_demo_truth(root, "sub-02")["eeg"]
    assert truth["bad_channel_kind"] == "noisy"
    raw = mne_bids.read_raw_bids(
        mne_bids.BIDSPath(subject="02", task="demo", run="01", datatype="eeg", root=root),
        verbose=False,
    )
    raw.load_data().filter(1.0, 40.0, verbose=False)
    sd = dict(zip(raw.ch_names, raw.get_data(picks="all").std(axis=1)))
    (bad,) = truth["bad_channels"]
    others = np.median([v for k, v in sd.items() if k != bad and k not in ("VEOG", "HEOG")])
    assert sd[bad] > 4 * others


def test_reuse_and_mismatch(tiny):
    _, root = tiny
    marker = root / "neuroopt-demo.json"
    mtime = marker.stat().st_mtime_ns
    start = time.perf_counter()
    assert make_demo_dataset(root, seed=3, **TINY) == root
    assert time.perf_counter() - start < 1.0
    assert marker.stat().st_mtime_ns == mtime
    with pytest.raises(ValueError, match="n_runs: existing 1, requested 2"):
        make_demo_dataset(root, seed=3, **{**TINY, "n_runs": 2})
    with pytest.raises(ValueError, match="seed"):
        make_demo_dataset(root, seed=5, **TINY)


def test_overwrite_regenerates(tmp_path):
    root = make_demo_dataset(tmp_path / "d", seed=1, eeg=False, **TINY)
    make_demo_dataset(root, seed=2, eeg=False, overwrite=True, **TINY)
    assert json.loads((root / "neuroopt-demo.json").read_text())["parameters"]["seed"] == 2
    assert sorted(p.name for p in tmp_path.iterdir()) == ["d"]


def test_refuses_foreign_folder(tmp_path):
    (tmp_path / "mine").mkdir()
    (tmp_path / "mine" / "notes.txt").write_text("keep me")
    with pytest.raises(FileExistsError, match="not a neuroopt demo"):
        make_demo_dataset(tmp_path / "mine", eeg=False, **TINY)
    assert (tmp_path / "mine" / "notes.txt").read_text() == "keep me"


def test_interrupted_generation_leaves_nothing(tmp_path, monkeypatch):
    def fail(*args, **kwargs):
        raise KeyboardInterrupt("killed")

    monkeypatch.setattr(_demo_fmri, "write_fmri_subject", fail)
    with pytest.raises(KeyboardInterrupt):
        make_demo_dataset(tmp_path / "d", eeg=False, **TINY)
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    "kwargs, error, match",
    [
        ({"n_subjects": 0}, ValueError, "n_subjects"),
        ({"n_runs": 1.5}, TypeError, "n_runs"),
        ({"eeg": False, "fmri": False}, ValueError, "eeg and fmri"),
        ({"fmri_resolution": -2}, ValueError, "fmri_resolution"),
        ({"eeg_trials_per_condition": 1, "n_runs": 2}, ValueError, "eeg_trials_per_condition"),
    ],
)
def test_argument_errors(tmp_path, kwargs, error, match):
    with pytest.raises(error, match=match):
        make_demo_dataset(tmp_path / "d", **kwargs)
    assert not (tmp_path / "d").exists()


def test_load_truth_errors(tmp_path, tiny):
    _, root = tiny
    with pytest.raises(ValueError, match="available subjects"):
        load_demo_truth(root, "03")
    with pytest.raises(FileNotFoundError, match="make_demo_dataset"):
        load_demo_truth(tmp_path, "01")
