"""Searchlight RSA, RDM stacks from MNE epochs, and the RSA report sections."""

from __future__ import annotations

import mne
import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from scipy import sparse

from neuroopt.rsa import (
    RDMStack,
    crossnobis,
    epochs_rdms,
    evaluate_models,
    model_rdm_from_labels,
    roi_rdms,
    searchlight_crossnobis,
    searchlight_neighbors,
    searchlight_rdms,
    simulate_patterns,
)

CONDITIONS = ["auditory/left", "auditory/right", "visual/left", "visual/right"]


@pytest.mark.parametrize("noise", [None, "diag", "shrinkage_diag"])
def test_searchlight_crossnobis_equals_per_sphere_crossnobis(noise):
    sim = simulate_patterns(n_conditions=4, n_runs=3, n_per_cell=3, n_channels=30, random_state=0)
    neighbors = sparse.random(8, 30, density=0.3, random_state=1, format="csr")
    neighbors.data[:] = 1.0
    result = searchlight_crossnobis(sim.data, sim.conditions, sim.runs, neighbors, noise=noise)
    expected = np.array([crossnobis(sim.data[:, neighbors[i].indices], sim.conditions, sim.runs,
                                    noise=noise) for i in range(8)])
    np.testing.assert_allclose(result, expected, rtol=1e-10, atol=1e-14)


def test_searchlight_rdms_on_a_volume():
    rng = np.random.default_rng(0)
    shape, affine = (5, 5, 5), np.diag([2.0, 2.0, 2.0, 1.0])
    conditions = np.tile(["a", "b", "c"], 12)
    runs = np.repeat([1, 2, 3], 12)
    data = rng.standard_normal(shape + (36,))
    data[:2, :2, :2, :] += 2.0 * (conditions == "c")  # only "c" differs, only in one corner
    mask = np.ones(shape, np.uint8)
    mask[4, 4, 4] = 0
    mask_img = nib.Nifti1Image(mask, affine)
    neighbors = searchlight_neighbors(mask_img, 2.5)
    assert neighbors.shape == (124, 124)
    assert neighbors[0].nnz == 4  # corner voxel: itself + 3 face neighbours
    stack = searchlight_rdms(nib.Nifti1Image(data, affine), mask_img, conditions, runs, radius=2.5)
    assert stack.axis_name == "voxel" and stack.dissimilarities.shape == (124, 3)
    corner = stack.dissimilarities[0]  # pairs (a,b), (a,c), (b,c)
    assert corner[1] > 1.0 and corner[2] > 1.0 and abs(corner[0]) < 0.5
    assert np.abs(stack.dissimilarities[-1]).max() < 0.5


def _epochs(rng):
    n_epochs = 96
    codes = np.arange(n_epochs) % 4 + 1
    data = rng.standard_normal((n_epochs, 10, 12))
    data[codes >= 3, :4, 5:] += 0.8  # visual vs auditory
    info = mne.create_info([f"EEG{i:03d}" for i in range(10)], 100.0, "eeg")
    events = np.column_stack([np.arange(n_epochs) * 100, np.zeros(n_epochs, int), codes])
    return mne.EpochsArray(data, info, events, tmin=-0.05, verbose=False,
                           event_id={name: i + 1 for i, name in enumerate(CONDITIONS)},
                           metadata=pd.DataFrame({"run": np.repeat([1, 2, 3, 4], 24)}))


def test_epochs_rdms_and_model_fits(tmp_path):
    epochs = _epochs(np.random.default_rng(0))
    stack = epochs_rdms(epochs, runs="run", noise="shrinkage_diag")
    assert list(stack.conditions) == CONDITIONS and stack.dissimilarities.shape == (12, 6)
    np.testing.assert_allclose(stack.axis, epochs.times)
    expected = crossnobis(epochs.get_data(), np.array(CONDITIONS)[epochs.events[:, 2] - 1],
                          epochs.metadata["run"].to_numpy(), noise="shrinkage_diag")
    np.testing.assert_allclose(stack.dissimilarities, expected)
    loaded = RDMStack.load(stack.save(tmp_path / "sub-01_desc-crossnobis_rdm.npz"))
    np.testing.assert_array_equal(loaded.dissimilarities, stack.dissimilarities)
    modality = model_rdm_from_labels(CONDITIONS, 0)
    late = stack.dissimilarities[6:].mean(axis=0)
    assert late[modality == 1].min() > late[modality == 0].max()
    pooled = epochs_rdms(epochs, noise=None, conditions=["auditory", "visual"])
    assert list(pooled.conditions) == ["auditory", "visual"] and pooled.dissimilarities.shape == (12, 1)
    with pytest.raises(ValueError, match="not a column of epochs.metadata"):
        epochs_rdms(epochs, runs="block")


def test_rsa_report_sections(tmp_path):
    from neuroopt.report.rsa import add_model_comparison_section, add_rsa_section

    rng = np.random.default_rng(1)
    stacks = [epochs_rdms(_epochs(rng), noise="diag") for _ in range(4)]
    models = np.array([model_rdm_from_labels(CONDITIONS, 0), model_rdm_from_labels(CONDITIONS, 1)])
    result = evaluate_models(np.array([s.dissimilarities for s in stacks]), models,
                             ["modality", "side"], n_bootstrap=50, axis=stacks[0].axis)
    report = mne.Report(title="rsa")
    add_rsa_section(report, stacks[0])
    add_model_comparison_section(report, result)
    report.save(tmp_path / "rsa.html", open_browser=False, verbose="error")
    html = (tmp_path / "rsa.html").read_text()
    assert "RSA: RDMs" in html and "RSA model comparison" in html and "noise ceiling" in html


def test_roi_rdms_woodbury_on_trial_betas(tmp_path):
    from nilearn.masking import apply_mask

    rng = np.random.default_rng(2)
    shape, affine = (6, 6, 6), np.diag([2.0, 2.0, 2.0, 1.0])
    conditions = np.tile(["a", "b", "c"], 12)
    runs = np.repeat([1, 2, 3], 12)
    data = rng.standard_normal(shape + (36,))
    data[:3, :, :, :] += 1.5 * (conditions == "c")
    betas_img = nib.Nifti1Image(data, affine)
    left = np.zeros(shape, np.uint8)
    left[:3] = 1
    right = 1 - left
    rois = [nib.Nifti1Image(left, affine), nib.Nifti1Image(right, affine)]
    stack = roi_rdms(betas_img, rois, conditions, runs, roi_names=["left", "right"])
    assert stack.axis_name == "roi" and list(stack.axis) == ["left", "right"]
    # 108 voxels > 36 trials: shrinkage precision through Woodbury, same as crossnobis
    expected = crossnobis(apply_mask(betas_img, rois[0]), conditions, runs, noise="shrinkage_diag")
    np.testing.assert_allclose(stack.dissimilarities[0], expected)
    assert stack.dissimilarities[0, 1] > 0.5 and abs(stack.dissimilarities[1]).max() < 0.2
    loaded = RDMStack.load(stack.save(tmp_path / "sub-01_roi_rdm.npz"))
    assert list(loaded.axis) == ["left", "right"]


def test_roi_model_comparison_hides_bootstrap_p_from_two_subjects(tmp_path):
    """The fMRI (ROI) RSA table: with 2 subjects every bootstrap sample of subjects has both fits
    > 0 when both are, so p would be 1/(n_bootstrap + 1) = 0.0196 here: not shown, and said why;
    with 5 subjects the p-values are shown with the test named."""
    from neuroopt.report.rsa import add_model_comparison_section

    rng = np.random.default_rng(3)
    models = np.array([model_rdm_from_labels(CONDITIONS, 0), model_rdm_from_labels(CONDITIONS, 1)])
    for n_subjects, shown in ((2, False), (5, True)):
        rdms = 1.0 + models[0][None, None, :] + 0.1 * rng.standard_normal((n_subjects, 1, models.shape[1]))
        result = evaluate_models(rdms, models, ["modality", "side"], n_bootstrap=50, axis=np.array(["brain"]))
        assert result.zero_p_values[0, 0] == pytest.approx(1 / 51)  # every sample's fit > 0
        report = mne.Report(title="rsa")
        add_model_comparison_section(report, result, title="Group RSA")
        report.save(tmp_path / f"rsa{n_subjects}.html", open_browser=False, verbose="error")
        html = (tmp_path / f"rsa{n_subjects}.html").read_text()
        assert "one-sided bootstrap p-values" in html and "nothing is permuted" in html
        assert ("No p-value is shown" in html) is not shown
        assert ("<td>0.0196</td>" in html) is shown
