"""Model comparison (tau-a, rho-a, whitened cosine), noise ceiling, bootstrap, cluster tests."""

from __future__ import annotations

import numpy as np
import pytest

from neuroopt.rsa import RDMStack, pairs_to_square, square_to_pairs
from neuroopt.rsa.compare import compare_paired, compare_rdms, pool_rdms
from neuroopt.rsa.inference import ModelComparisonResult, evaluate_models, noise_ceiling
from neuroopt.rsa.models import load_model_rdm, model_rdm_from_labels
from neuroopt.stats import cluster_test_1samp

CONDITIONS = ["auditory/left", "auditory/right", "visual/left", "visual/right"]


@pytest.mark.parametrize(("ours", "theirs"), [("tau_a", "tau-a"), ("rho_a", "rho-a"),
                                              ("cosine_whitened", "cosine_cov"), ("cosine", "cosine")])
def test_comparisons_equal_rsatoolbox(ours, theirs):
    rdm = pytest.importorskip("rsatoolbox.rdm")
    rng = np.random.default_rng(0)
    data = rng.standard_normal((5, 15))
    models = rng.integers(0, 3, (3, 15)).astype(float)  # ties, as categorical models have
    expected = rdm.compare(rdm.RDMs(data), rdm.RDMs(models), method=theirs)
    np.testing.assert_allclose(compare_rdms(data, models, ours), expected, atol=1e-12)
    # the paired form agrees with the all-pairs form
    np.testing.assert_allclose(compare_paired(data, models[0], ours), expected[:, 0], atol=1e-12)


def test_tau_a_penalises_tie_predictions():
    data = np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0])
    tied_model = np.array([0.0, 0.0, 0.0, 1.0, 1.0, 1.0])
    assert compare_rdms(data, data, "tau_a")[0] == pytest.approx(1.0)
    # tau-a of a model predicting ties is below 1 even when consistent (tau-b would give 1)
    assert compare_rdms(data, tied_model, "tau_a")[0] == pytest.approx(9 / 15)


def test_model_rdms_from_labels_and_files(tmp_path):
    modality = model_rdm_from_labels(CONDITIONS, factor=0)
    np.testing.assert_array_equal(pairs_to_square(modality)[0], [0, 0, 1, 1])
    np.testing.assert_array_equal(model_rdm_from_labels(CONDITIONS), np.ones(6))
    shuffled = [CONDITIONS[i] for i in (3, 1, 0, 2)]
    square = pairs_to_square(model_rdm_from_labels(shuffled, factor=1))
    import pandas as pd

    pd.DataFrame(square, index=shuffled, columns=shuffled).to_csv(tmp_path / "side.tsv", sep="\t")
    np.testing.assert_array_equal(load_model_rdm(tmp_path / "side.tsv", CONDITIONS),
                                  model_rdm_from_labels(CONDITIONS, factor=1))
    np.save(tmp_path / "mod.npy", pairs_to_square(modality))
    np.testing.assert_array_equal(load_model_rdm(tmp_path / "mod.npy", CONDITIONS), modality)
    with pytest.raises(ValueError, match="lacks conditions"):
        load_model_rdm(tmp_path / "side.tsv", CONDITIONS[:3] + ["tactile/left"])
    with pytest.raises(ValueError, match="fewer '/'-separated parts"):
        model_rdm_from_labels(["a", "b"], factor=1)


def _group(n_subjects=10, n_times=20, noise=0.15, seed=0):
    """Subjects whose RDMs follow the modality model in the middle of the epoch."""
    rng = np.random.default_rng(seed)
    modality = model_rdm_from_labels(CONDITIONS, 0)
    envelope = 0.5 * np.exp(-0.5 * ((np.arange(n_times) - 10) / 3) ** 2)
    rdms = envelope[None, :, None] * modality + noise * rng.standard_normal((n_subjects, n_times, 6))
    return rdms, np.array([modality, model_rdm_from_labels(CONDITIONS, 1)])


def test_noise_ceiling_bounds_and_pooling():
    rdms, _ = _group()
    lower, upper = noise_ceiling(rdms, "cosine_whitened")
    assert lower.shape == upper.shape == (10, 20)
    assert np.all(upper >= lower - 1e-12)  # including oneself can only help
    assert lower[:, 10].mean() > 0.8 and abs(lower[:, 0].mean()) < 0.3
    ranks = pool_rdms(rdms[:, 10], "rho_a")
    assert np.argmax(ranks) in np.flatnonzero(model_rdm_from_labels(CONDITIONS, 0))


def test_evaluate_models_bootstrap_and_tests(tmp_path):
    rdms, models = _group()
    result = evaluate_models(rdms, models, ["modality", "side"], n_bootstrap=100,
                             axis=np.linspace(-0.1, 0.5, 20))
    fits = result.mean_fits
    assert fits[10, 0] > 0.8 and abs(fits[10, 1]) < 0.3
    low, high = result.confidence_interval()
    assert low[10, 0] > high[10, 1]  # the true model is clearly better at the peak
    assert result.pairwise_p_values[0, 1, 10] < 0.05
    assert result.zero_p_values[0, 10] < 0.05 and result.zero_p_values[1, 10] > 0.05
    # the true model reaches the noise ceiling, the wrong one does not
    assert result.ceiling_p_values[0, 10] > 0.05 and result.ceiling_p_values[1, 10] < 0.05
    tests = result.cluster_tests(n_permutations=200)
    zero = tests[("zero", "modality")]
    assert 10 in np.flatnonzero(zero.significant_mask())
    assert not tests[("zero", "side")].significant_mask()[8:13].any()
    loaded = ModelComparisonResult.load(result.save(tmp_path / "group_rsa.npz"))
    np.testing.assert_array_equal(loaded.bootstrap_fits, result.bootstrap_fits)
    assert loaded.model_names == ["modality", "side"]
    with pytest.raises(ValueError, match="at least 2 subjects"):
        evaluate_models(rdms[:1], models)
    with pytest.raises(ValueError, match="model_rdms have 3 pairs"):
        evaluate_models(rdms, models[:, :3])


def test_cluster_test_finds_the_injected_effect():
    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 60))
    x[:, 20:32] += 1.5
    result = cluster_test_1samp(x, n_permutations=500)
    mask = result.significant_mask()
    assert mask[22:30].all() and mask[:15].sum() == 0
    assert min(result.p_values) < 0.01
    null = cluster_test_1samp(rng.standard_normal((12, 60)), n_permutations=200)
    assert null.significant_mask().sum() < 6


def test_rdm_stack_roundtrip(tmp_path):
    stack = RDMStack(np.arange(12.0).reshape(2, 6), CONDITIONS, np.array([0.1, 0.2]))
    loaded = RDMStack.load(stack.save(tmp_path / "sub-01_rdm.npz"))
    np.testing.assert_array_equal(loaded.dissimilarities, stack.dissimilarities)
    assert list(loaded.conditions) == CONDITIONS and loaded.method == "crossnobis"
    np.testing.assert_array_equal(square_to_pairs(loaded.square(1)), stack.dissimilarities[1])
    with pytest.raises(ValueError, match="4 conditions give 6"):
        RDMStack(np.zeros((2, 5)), CONDITIONS, np.array([0.1, 0.2]))


def test_stack_subject_rdms_checks_conditions_and_axis(tmp_path):
    from neuroopt.rsa import stack_subject_rdms

    times = np.array([0.1, 0.2])
    paths = [RDMStack(np.full((2, 6), float(i)), CONDITIONS, times).save(tmp_path / f"s{i}.npz")
             for i in range(3)]
    rdms, conditions, axis = stack_subject_rdms(paths)
    assert rdms.shape == (3, 2, 6) and list(conditions) == CONDITIONS
    np.testing.assert_array_equal(axis, times)
    other = RDMStack(np.zeros((2, 3)), ["a", "b", "c"], times)
    with pytest.raises(ValueError, match="Subject 1 has conditions"):
        stack_subject_rdms([paths[0], other])
    shifted = RDMStack(np.zeros((2, 6)), CONDITIONS, times + 0.5)
    with pytest.raises(ValueError, match="another time axis"):
        stack_subject_rdms([paths[0], shifted], subjects=["01", "02"])


def test_evaluate_models_two_conditions_bootstraps_subjects_only(caplog):
    """One pair: a bootstrap sample of conditions can hold no pair, so subjects alone are resampled."""
    rng = np.random.default_rng(3)
    rdms = 1.0 + 0.3 * rng.standard_normal((6, 4, 1))  # 6 subjects, 4 time points, 1 pair
    rdms[:, 0, 0] = 0.3 * rng.standard_normal(6)  # no effect at the first time point
    models = np.ones((1, 1))
    with caplog.at_level("WARNING", logger="neuroopt"):
        result = evaluate_models(rdms, models, ["two"], n_bootstrap=50, random_state=1)
    assert "resamples subjects only" in caplog.text
    assert np.isfinite(result.bootstrap_fits).all() and result.bootstrap_fits.shape == (50, 4, 1)
    same = evaluate_models(rdms, models, ["two"], n_bootstrap=50, resample="subjects", random_state=1)
    np.testing.assert_array_equal(result.bootstrap_fits, same.bootstrap_fits)
    # subjects were resampled: the bootstrap spread is not zero where subjects disagree in sign
    assert result.bootstrap_fits[:, 0, 0].std() > 0
    with pytest.raises(ValueError, match="at least 3 conditions"):
        evaluate_models(rdms, models, n_bootstrap=10, resample="conditions")
