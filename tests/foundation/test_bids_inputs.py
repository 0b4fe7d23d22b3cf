"""BIDS discovery and the input checks: every bad input names its file and the fix."""

import json
import shutil

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroopt.io.bids import BIDSError, discover_bids, find_sidecar, read_events, read_repetition_time
from neuroopt.pipeline.plan import demo_layout, make_plan


def write_bold_dataset(root, subjects=("01",), runs=("01", "02"), t_r=2.0, n_scans=30, header_tr=None, sidecar=True):
    """A minimal fMRI BIDS dataset with tiny images, for input-check tests."""
    root.mkdir(parents=True, exist_ok=True)
    (root / "dataset_description.json").write_text(json.dumps({"Name": "tiny", "BIDSVersion": "1.9.0"}))
    rng = np.random.default_rng(0)
    for sub in subjects:
        func = root / f"sub-{sub}" / "func"
        func.mkdir(parents=True)
        for run in runs:
            stem = f"sub-{sub}_task-x_run-{run}"
            img = nib.Nifti1Image(100 + rng.standard_normal((4, 4, 4, n_scans)).astype(np.float32), np.eye(4))
            img.header.set_zooms((1.0, 1.0, 1.0, header_tr if header_tr is not None else t_r))
            img.to_filename(func / f"{stem}_bold.nii.gz")
            if sidecar:
                (func / f"{stem}_bold.json").write_text(json.dumps({"RepetitionTime": t_r, "TaskName": "x"}))
            pd.DataFrame({"onset": [2.0, 10.0, 20.0], "duration": [1.0, 1.0, 1.0], "trial_type": ["a", "b", "a"]}).to_csv(
                func / f"{stem}_events.tsv", sep="\t", index=False
            )
    return root


def plan_config(root, **overrides):
    from snakemake.utils import validate

    from conftest import REPO_ROOT

    config = {"bids_root": str(root), **overrides}
    validate(config, str(REPO_ROOT / "config" / "schema.yaml"))
    return config


def test_discovery_finds_runs_and_groups(tmp_path):
    root = write_bold_dataset(tmp_path / "ds", subjects=("01", "02"))
    layout = discover_bids(root)
    assert layout.subjects == ["01", "02"]
    groups = layout.groups("func")
    assert list(groups) == ["sub-01_task-x", "sub-02_task-x"]
    assert [r.run for r in groups["sub-01_task-x"]] == ["01", "02"]
    assert all(r.events is not None and r.events.exists() for r in layout.recordings)


def test_demo_layout_matches_generated_dataset(tiny_demo):
    from conftest import TINY_DEMO

    expected = demo_layout(tiny_demo, TINY_DEMO)
    found = discover_bids(tiny_demo)
    assert sorted((r.datatype, r.path, r.events) for r in expected.recordings) == sorted(
        (r.datatype, r.path, r.events) for r in found.recordings
    )


def test_missing_root(tmp_path):
    with pytest.raises(BIDSError, match="bids_root .* does not exist"):
        discover_bids(tmp_path / "nope")


def test_not_bids_names_dataset_description(tmp_path):
    (tmp_path / "sub-01").mkdir()
    with pytest.raises(BIDSError, match="dataset_description.json is missing"):
        discover_bids(tmp_path)


def test_subject_filter_matching_nothing(tmp_path):
    root = write_bold_dataset(tmp_path / "ds")
    with pytest.raises(BIDSError, match=r"'subjects' lists \['99'\]"):
        discover_bids(root, subjects=["99"])


def test_subject_without_data_is_reported(tmp_path):
    root = write_bold_dataset(tmp_path / "ds")
    (root / "sub-02" / "func").mkdir(parents=True)
    layout = discover_bids(root)
    assert [p.name for p, _ in layout.excluded] == ["sub-02"]
    assert layout.subjects == ["01"]


@pytest.mark.parametrize(
    "events, needle",
    [
        (pd.DataFrame({"onset": [1.0], "duration": [1.0]}), r"lacks the column\(s\) \['trial_type'\]"),
        (pd.DataFrame({"onset": [1.0], "trial_type": ["a"]}), r"lacks the column\(s\) \['duration'\]"),
        (pd.DataFrame({"onset": [1.0], "duration": [-1.0], "trial_type": ["a"]}), "negative duration on row"),
        (pd.DataFrame({"onset": ["soon"], "duration": [1.0], "trial_type": ["a"]}), "non-numeric values"),
        (pd.DataFrame({"onset": [1.0, 200.0], "duration": [1.0, 1.0], "trial_type": ["a", "b"]}), "after the end"),
    ],
)
def test_bad_events_name_the_file(tmp_path, events, needle):
    path = tmp_path / "sub-01_task-x_events.tsv"
    events.to_csv(path, sep="\t", index=False)
    with pytest.raises(BIDSError, match=needle) as info:
        read_events(path, n_scans=30, t_r=2.0)
    assert str(path) in str(info.value)


def test_missing_events_file(tmp_path):
    with pytest.raises(BIDSError, match="events.tsv is missing"):
        read_events(tmp_path / "sub-01_task-x_events.tsv")


def test_bold_without_repetition_time(tmp_path):
    root = write_bold_dataset(tmp_path / "ds", sidecar=False)
    bold = next(root.rglob("*_bold.nii.gz"))
    with pytest.raises(BIDSError, match="no RepetitionTime") as info:
        read_repetition_time(bold, root=root)
    assert str(bold) in str(info.value)


def test_repetition_time_inherited_from_top_level_sidecar(tmp_path):
    root = write_bold_dataset(tmp_path / "ds", sidecar=False, t_r=1.5)
    (root / "task-x_bold.json").write_text(json.dumps({"RepetitionTime": 1.5}))
    bold = next(root.rglob("*_bold.nii.gz"))
    assert find_sidecar(bold, "bold", root=root) == [root / "task-x_bold.json"]
    assert read_repetition_time(bold, root=root) == 1.5


def test_tr_mismatch_with_header(tmp_path):
    root = write_bold_dataset(tmp_path / "ds", t_r=2.0, header_tr=3.0)
    bold = next(root.rglob("*_bold.nii.gz"))
    with pytest.raises(BIDSError, match="header says TR = 3 s") as info:
        read_repetition_time(bold, root=root)
    assert str(bold) in str(info.value)
    assert read_repetition_time(bold, root=root, check_header=False) == 2.0


def test_plan_collects_every_problem_or_skips(tmp_path):
    root = write_bold_dataset(tmp_path / "ds", subjects=("01", "02"))
    bad_events = root / "sub-02" / "func" / "sub-02_task-x_run-01_events.tsv"
    pd.DataFrame({"onset": [1.0], "duration": [1.0]}).to_csv(bad_events, sep="\t", index=False)
    (root / "sub-02" / "func" / "sub-02_task-x_run-02_events.tsv").unlink()
    with pytest.raises(BIDSError, match="2 recording") as info:
        make_plan(plan_config(root, meeg={"enabled": False}))
    assert str(bad_events) in str(info.value) and "run-02_events.tsv is missing" in str(info.value)
    plan = make_plan(plan_config(root, meeg={"enabled": False}, on_invalid_input="skip"))
    assert list(plan.fmri_groups()) == ["sub-01_task-x"]
    assert len(plan.invalid) == 2


def test_corrupt_bold_is_named(tmp_path):
    root = write_bold_dataset(tmp_path / "ds")
    bold = next(root.rglob("*_bold.nii.gz"))
    data = bold.read_bytes()
    bold.write_bytes(data[: len(data) // 3])
    from neuroopt.fmri.preprocessing import load_bold

    with pytest.raises(BIDSError, match="cannot be read as NIfTI") as info:
        load_bold(bold)
    assert str(bold) in str(info.value)


def test_meeg_channels_mismatch_is_named(tiny_demo, tmp_path):
    from neuroopt.meeg.preprocessing import read_raw

    root = tmp_path / "demo"
    shutil.copytree(tiny_demo, root)
    channels = next(root.rglob("*run-01_channels.tsv"))
    table = pd.read_csv(channels, sep="\t")
    table.loc[0, "name"] = "NotAChannel"
    table.to_csv(channels, sep="\t", index=False)
    with pytest.raises(BIDSError, match="channels.tsv") as info:
        read_raw(next(root.rglob("*run-01_eeg.vhdr")))
    assert "run-01" in str(info.value)
