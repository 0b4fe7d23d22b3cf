"""Group decoding (clusters over time), fMRI trial decoding (ROI, searchlight), demo data, report."""

from __future__ import annotations

import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroopt.decoding import (
    GroupDecodingResult,
    TemporalDecodingResult,
    decode_epochs,
    decode_roi,
    decode_time,
    decode_trials,
    group_decoding,
    searchlight_decoding,
)


def _subject_result(seed, n_channels=8, effect=0.7):
    rng = np.random.default_rng(seed)
    data = rng.standard_normal((60, n_channels, 20))
    y = np.tile([0, 1], 30)
    data[y == 1, :2, 8:14] += effect
    return decode_time(data, y, np.repeat([1, 2, 3], 20), times=np.linspace(-0.2, 0.56, 20),
                       ch_names=[f"E{i}" for i in range(n_channels)])


def test_group_decoding_clusters_and_roundtrip(tmp_path):
    paths = [_subject_result(s).save(tmp_path / f"sub-{s:02d}_decoding.npz") for s in range(6)]
    group = group_decoding(paths, subjects=[f"{s:02d}" for s in range(6)], n_permutations=200)
    mask = group.significant_mask()
    assert mask[9:13].all() and not mask[:6].any()
    loaded = GroupDecodingResult.load(group.save(tmp_path / "group_decoding.npz"))
    np.testing.assert_array_equal(loaded.scores, group.scores)
    assert loaded.clusters == group.clusters and loaded.subjects == group.subjects


def test_group_decoding_rejects_unequal_channels_and_times():
    first, second = _subject_result(0), _subject_result(1)
    other = TemporalDecodingResult(second.scores, second.times, second.scoring, second.classes,
                                   second.chance, second.patterns, [f"X{i}" for i in range(8)])
    with pytest.raises(ValueError, match="Subject 1 has other channels than subject 0"):
        group_decoding([first, other])
    shifted = TemporalDecodingResult(second.scores, second.times + 0.01, second.scoring,
                                     second.classes, second.chance)
    with pytest.raises(ValueError, match="other time points"):
        group_decoding([first, shifted])


def _volume(n_trials, effect_voxels, rng):
    shape = (6, 6, 6)
    affine = np.diag([3.0, 3.0, 3.0, 1.0])
    y = np.tile(["face", "house"], n_trials // 2)
    runs = np.repeat([1, 2, 3, 4], n_trials // 4)
    data = rng.standard_normal(shape + (n_trials,))
    data[effect_voxels + (slice(None),)] += 1.2 * (y == "house")
    mask = nib.Nifti1Image(np.ones(shape, np.uint8), affine)
    return nib.Nifti1Image(data, affine), mask, y, runs


def test_trial_decoding_roi_and_searchlight():
    rng = np.random.default_rng(3)
    effect = (slice(0, 2), slice(0, 2), slice(0, 2))
    betas_img, mask_img, y, runs = _volume(48, effect, rng)
    roi = np.zeros((6, 6, 6), np.uint8)
    roi[effect] = 1
    roi_img = nib.Nifti1Image(roi, mask_img.affine)
    inside = decode_roi(betas_img, roi_img, y, runs)
    far = np.zeros_like(roi)
    far[4:, 4:, 4:] = 1
    outside = decode_roi(betas_img, nib.Nifti1Image(far, mask_img.affine), y, runs)
    assert inside.scores.shape == (4,)
    assert inside.mean_scores > 0.85 and abs(outside.mean_scores - 0.5) < 0.2
    score_img = searchlight_decoding(betas_img, mask_img, y, runs, radius=3.5)
    scores = score_img.get_fdata()
    assert scores[0, 0, 0] > 0.8 and scores[5, 5, 5] < 0.75
    # each centre equals ROI decoding of its sphere (centre + 6 face neighbours at 3 mm)
    for centre in [(0, 0, 0), (3, 2, 4)]:
        sphere = np.zeros((6, 6, 6), np.uint8)
        for axis in range(3):
            for step in (-1, 0, 1):
                voxel = list(centre)
                voxel[axis] += step
                if 0 <= voxel[axis] < 6:
                    sphere[tuple(voxel)] = 1
        roi_score = decode_roi(betas_img, nib.Nifti1Image(sphere, mask_img.affine), y, runs).mean_scores
        assert scores[centre] == pytest.approx(roi_score, abs=1e-12)
    with pytest.raises(ValueError, match="at least 2 runs"):
        decode_trials(rng.standard_normal((20, 5)), np.tile([0, 1], 10), np.ones(20))


@pytest.fixture(scope="module")
def demo_epochs(tmp_path_factory):
    """Epochs of the demo EEG dataset (one subject, two runs), 1-30 Hz, 50 Hz sampling."""
    datasets = pytest.importorskip("neuroopt.datasets")
    from mne_bids import BIDSPath, read_raw_bids

    root = datasets.make_demo_dataset(tmp_path_factory.mktemp("demo") / "bids", n_subjects=1,
                                      n_runs=2, fmri=False, eeg_trials_per_condition=20)
    epochs = []
    for run in (1, 2):
        path = BIDSPath(root=root, subject="01", task=datasets.DEMO_TASK, run=f"{run:02d}",
                        datatype="eeg", suffix="eeg", extension=".vhdr")
        raw = read_raw_bids(path, verbose="error").load_data().filter(1.0, 30.0, verbose="error")
        events, event_id = mne.events_from_annotations(raw, verbose="error")
        event_id = {k: v for k, v in event_id.items() if k in datasets.DEMO_EEG_CONDITIONS}
        run_epochs = mne.Epochs(raw, events, event_id, tmin=-0.2, tmax=0.5, baseline=(None, 0),
                                decim=10, preload=True, verbose="error")
        run_epochs.metadata = pd.DataFrame({"run": np.full(len(run_epochs), run)})
        epochs.append(run_epochs)
    return mne.concatenate_epochs(epochs, verbose="error")


@pytest.mark.slow
def test_demo_auditory_vs_visual_above_chance(demo_epochs):
    result = decode_epochs(demo_epochs, ("auditory", "visual"))
    post = result.times > 0.05
    assert result.mean_scores[post].max() > 0.8
    assert result.mean_scores[result.times < 0].mean() < 0.65
    assert "bads" not in result.ch_names and len(result.ch_names) == len(
        mne.pick_types(demo_epochs.info, eeg=True, eog=False, exclude="bads"))


def test_report_sections_add_figures(tmp_path):
    from neuroopt.report.decoding import add_decoding_section

    report = mne.Report(title="test")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((40, 6, 10))
    y = np.tile([0, 1], 20)
    data[y == 1, 0, 5:] += 1.0
    result = decode_time(data, y, np.repeat([1, 2], 20), generalization=True,
                         times=np.linspace(-0.1, 0.35, 10), ch_names=[f"E{i}" for i in range(6)])
    add_decoding_section(report, result)
    group = group_decoding([_subject_result(s) for s in range(3)], n_permutations=50)
    add_decoding_section(report, group, title="Group decoding")
    report.save(tmp_path / "report.html", open_browser=False, verbose="error")
    html = (tmp_path / "report.html").read_text()
    for title in ("Decoding: score over time", "Decoding: temporal generalization",
                  "Decoding: patterns", "Group decoding: score over time"):
        assert title in html


def test_two_subject_cluster_test_cannot_reach_005_and_the_figure_says_so():
    """With 2 subjects the sign-flip cluster test's smallest p is 1/4: the group figure says so
    instead of promising cluster bars; from 5 subjects (1/32) it does not."""
    from neuroopt.report.decoding import cluster_test_note, plot_decoding_curve
    from neuroopt.stats import smallest_sign_flip_p

    assert smallest_sign_flip_p(2) == 0.25 and smallest_sign_flip_p(5) == 1 / 32 and smallest_sign_flip_p(5, tail=0) == 1 / 16
    group = group_decoding([_subject_result(s, effect=1.5) for s in range(2)], n_permutations=1024)
    assert len(group.clusters) and group.cluster_p_values.min() == smallest_sign_flip_p(2)  # the strongest effect gets 0.25
    fig = plot_decoding_curve(group)
    title = fig.axes[0].get_title(loc="left")
    assert "smallest p is 0.25" in title and "5 subjects" in title
    assert cluster_test_note(5) is None and "6 subjects" in cluster_test_note(5, tail=0)
