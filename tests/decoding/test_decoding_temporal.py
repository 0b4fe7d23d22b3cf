"""Time-resolved decoding: batched LDA = sklearn route, chance on shuffled labels, grouped CV."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest
from sklearn.discriminant_analysis import LinearDiscriminantAnalysis

from neuroopt.decoding import TemporalDecodingResult, decode_epochs, decode_time, grouped_folds


def _lda():
    return LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")


@pytest.fixture(scope="module")
def effect_data():
    """Two classes, 5 runs, an effect on 3 channels from sample 6 on."""
    rng = np.random.default_rng(0)
    n_epochs, n_channels, n_times = 100, 16, 12
    data = rng.standard_normal((n_epochs, n_channels, n_times))
    y = np.tile(["a", "b"], n_epochs // 2)
    groups = np.repeat(np.arange(1, 6), n_epochs // 5)
    data[y == "b", :3, 6:] += 0.6
    return data, y, groups


@pytest.mark.parametrize("generalization", [False, True])
@pytest.mark.parametrize("scoring", ["roc_auc", "balanced_accuracy"])
def test_batched_lda_equals_sklearn_route(effect_data, scoring, generalization):
    data, y, groups = effect_data
    fast = decode_time(data, y, groups, scoring=scoring, generalization=generalization)
    slow = decode_time(data, y, groups, estimator=_lda(), scoring=scoring,
                       generalization=generalization)
    n_times = data.shape[2]
    expected_shape = (5, n_times, n_times) if generalization else (5, n_times)
    assert fast.scores.shape == slow.scores.shape == expected_shape
    np.testing.assert_allclose(fast.scores, slow.scores, atol=1e-12)


def test_batched_lda_woodbury_and_multiclass_equal_sklearn():
    # fewer training epochs than channels (Woodbury path) and three classes
    rng = np.random.default_rng(1)
    data = rng.standard_normal((45, 60, 4))
    y = np.arange(45) % 3
    data[y == 2, :5] += 1.0
    groups = np.repeat([1, 2, 3], 15)
    fast = decode_time(data, y, groups, scoring="balanced_accuracy")
    slow = decode_time(data, y, groups, estimator=_lda(), scoring="balanced_accuracy")
    np.testing.assert_allclose(fast.scores, slow.scores, atol=1e-12)
    assert fast.chance == pytest.approx(1 / 3)


def test_effect_decoded_and_shuffled_labels_at_chance(effect_data):
    data, y, groups = effect_data
    result = decode_time(data, y, groups)
    assert result.mean_scores[6:].mean() > 0.68
    assert abs(result.mean_scores[:6].mean() - 0.5) < 0.1
    rng = np.random.default_rng(5)
    null = [decode_time(data, rng.permutation(y), groups, patterns=False).mean_scores.mean()
            for _ in range(5)]
    assert abs(np.mean(null) - 0.5) < 0.04


def test_patterns_equal_mne_linear_model(effect_data):
    from mne.decoding import LinearModel, SlidingEstimator, get_coef

    data, y, groups = effect_data
    result = decode_time(data, y, groups)
    sliding = SlidingEstimator(LinearModel(_lda()), verbose=False).fit(data, y == "b")
    expected = get_coef(sliding, "patterns_", inverse_transform=False)
    np.testing.assert_allclose(result.patterns, expected, rtol=1e-8, atol=1e-12)
    # the pattern is largest on the channels carrying the effect
    assert set(np.argsort(np.abs(result.patterns[:, 8]))[-3:]) == {0, 1, 2}


@pytest.mark.parametrize("n_splits", [None, 2, 3])
def test_grouped_folds_never_mix_runs(n_splits):
    groups = np.repeat([3, 1, 4, 5, 9], [7, 5, 6, 8, 4])
    folds = grouped_folds(groups, n_splits)
    assert len(folds) == (5 if n_splits is None else n_splits)
    tested = np.concatenate([test for _, test in folds])
    assert np.array_equal(np.sort(tested), np.arange(groups.size))  # every sample tested once
    for train, test in folds:
        assert not set(groups[train]) & set(groups[test])
        assert np.intersect1d(train, test).size == 0


def test_bad_inputs_raise_clear_errors(effect_data):
    data, y, groups = effect_data
    with pytest.raises(ValueError, match="at least 2 runs"):
        decode_time(data, y, np.ones_like(groups))
    bad = data.copy()
    bad[3, 2, 1] = np.nan
    with pytest.raises(ValueError, match="data contains 1 NaN"):
        decode_time(bad, y, groups)
    with pytest.raises(ValueError, match="one label per epoch"):
        decode_time(data, y[:-1], groups)
    with pytest.raises(ValueError, match="roc_auc' needs 2 classes"):
        decode_time(data, np.arange(y.size) % 3, groups)
    with pytest.raises(ValueError, match="'scoring' parameter"):
        decode_time(data, y, groups, scoring="accuracy")
    with pytest.raises(TypeError, match="scikit-learn classifier"):
        decode_time(data, y, groups, estimator=object())


def test_result_save_load_roundtrip(effect_data, tmp_path):
    data, y, groups = effect_data
    result = decode_time(data, y, groups, generalization=True, times=np.linspace(-0.1, 0.5, 12),
                         ch_names=[f"EEG{i:03d}" for i in range(16)])
    path = result.save(tmp_path / "sub-01_decoding.npz")
    loaded = TemporalDecodingResult.load(path)
    np.testing.assert_array_equal(loaded.scores, result.scores)
    np.testing.assert_array_equal(loaded.times, result.times)
    np.testing.assert_array_equal(loaded.patterns, result.patterns)
    assert loaded.ch_names == result.ch_names and loaded.generalization
    assert list(loaded.classes) == ["a", "b"] and loaded.scoring == "roc_auc"


def test_decode_epochs_contrast_with_tags(effect_data):
    data, _, groups = effect_data
    names = ["auditory/left", "auditory/right", "visual/left", "visual/right"]
    event_id = {name: i + 1 for i, name in enumerate(names)}
    codes = np.arange(data.shape[0]) % 4 + 1
    data = data.copy()
    data[codes >= 3, 5:8, 4:] += 0.8  # visual vs auditory effect on channels 5-7
    info = mne.create_info([f"EEG{i:03d}" for i in range(16)], 100.0, "eeg")
    events = np.column_stack([np.arange(codes.size) * 100, np.zeros(codes.size, int), codes])
    epochs = mne.EpochsArray(data, info, events, tmin=-0.04, event_id=event_id, verbose=False,
                             metadata=pd.DataFrame({"run": groups}))
    epochs.info["bads"] = ["EEG015"]
    result = decode_epochs(epochs, ("auditory", "visual"))
    assert list(result.classes) == ["auditory", "visual"]
    assert len(result.ch_names) == 15 and "EEG015" not in result.ch_names
    np.testing.assert_allclose(result.times, epochs.times)
    assert result.mean_scores[4:].mean() > 0.7 and result.mean_scores[:4].mean() < 0.65
    with pytest.raises(ValueError, match="not a column of epochs.metadata"):
        decode_epochs(epochs, ("auditory", "visual"), runs="session")
    with pytest.raises(ValueError, match="matches no epoch"):
        decode_epochs(epochs, ("auditory", "tactile"))
