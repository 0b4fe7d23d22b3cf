"""The summary rows of the subject and group pages agree with the files they summarise."""

import json

from neuroopt.report.summary import summarise_sections


def _write(path, content):
    path.write_text(json.dumps(content))
    return str(path)


def test_meeg_row_and_brief_list_the_same_bad_channels(tmp_path):
    # Run 1 has a detected flat channel, run 2 a channel marked bad in its BIDS channels.tsv:
    # the detailed row and the group page's brief line must both name the two.
    run1 = {"detected_bads": {"flat": ["EEG 053"], "noisy": []}, "bids_bads": [],
            "ica_excluded": [], "ica_n_components": None, "artifact_method": "none"}
    run2 = {"detected_bads": {"flat": [], "noisy": []}, "bids_bads": ["FC5"],
            "ica_excluded": [], "ica_n_components": None, "artifact_method": "none"}
    section = {
        "kind": "meeg", "title": "sub-01_task-demo",
        "run_labels": ["sub-01_task-demo_run-01", "sub-01_task-demo_run-02"],
        "summaries": [_write(tmp_path / "run1.json", run1), _write(tmp_path / "run2.json", run2)],
        "epochs_summary": _write(tmp_path / "epochs.json", {"n_epochs": 80, "n_dropped": 4}),
    }
    (row,) = summarise_sections([section])
    numbers = dict(row.numbers)
    assert numbers["bad channels"] == "run 01: EEG 053; run 02: FC5"
    assert row.brief.startswith("80 epochs (4 rejected); bad channels: EEG 053, FC5")
