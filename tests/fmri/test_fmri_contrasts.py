"""Contrast statistics with voxel-wise HRFs: contrast resolution, the refit maths, calibration
under the null, thresholds and cluster tables, group maps and group decoding."""

from __future__ import annotations

import nibabel as nib
import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri.contrast_maps import r1glm_contrasts, t_to_z
from neuroopt.fmri.contrasts import contrast_label, resolve_glm_contrasts
from neuroopt.fmri.design import check_events, condition_design, drift_basis, project_out, simulate_bold
from neuroopt.fmri.estimators import R1GLM

T_R, N_SCANS = 2.0, 160


def _events(seed, conditions=("a", "b")):
    rng = np.random.default_rng(seed)
    onsets = np.arange(6.0, N_SCANS * T_R - 30, 8.0) + rng.uniform(0, 3, 1)
    kinds = rng.permutation(np.resize(np.arange(len(conditions)), onsets.size))
    return pd.DataFrame({"onset": onsets, "duration": 1.0, "trial_type": np.array(conditions)[kinds]})


def _runs(n_voxels, betas, seed=0, noise_sd=1.0, ar1=0.0):
    rng = np.random.default_rng(seed)
    events = [_events(seed + 1), _events(seed + 2)]
    shapes = rng.integers(0, 2, n_voxels)
    runs = [simulate_bold(ev, T_R, N_SCANS, [[5.0, 1.0, 0.17], [6.5, 1.1, 0.2]], shapes, betas,
                          noise_sd=noise_sd, ar1=ar1, random_state=rng.integers(2 ** 31))[0]
            for ev in events]
    return runs, events


def test_resolve_contrasts_auto_factors_and_expressions():
    auto = resolve_glm_contrasts(["auditory/left", "auditory/right", "visual/left", "visual/right"])
    # each condition vs baseline, then the two two-level factors (levels averaged)
    assert list(auto)[:4] == ["auditoryLeft", "auditoryRight", "visualLeft", "visualRight"]
    np.testing.assert_allclose(auto["auditoryVsVisual"], [0.5, 0.5, -0.5, -0.5])
    np.testing.assert_allclose(auto["leftVsRight"], [0.5, -0.5, 0.5, -0.5])
    out = resolve_glm_contrasts(["video", "audio"], ["audio - video", "0.5 * audio + 0.5 * video"])
    np.testing.assert_allclose(out["audioMinusVideo"], [1.0, -1.0])  # sorted: audio, video
    np.testing.assert_allclose(out[contrast_label("0.5 * audio + 0.5 * video")], [0.5, 0.5])
    # labels that would collide or be empty are numbered, never silently merged
    assert len(resolve_glm_contrasts(["face", "Face", "+++"])) == 3


def test_unknown_condition_names_the_contrast_and_the_conditions():
    with pytest.raises(ValueError, match=r"'audio - vidoe'.*\['vidoe'\].*\['audio', 'video'\]"):
        resolve_glm_contrasts(["audio", "video"], ["audio - vidoe"])


def test_refit_with_fixed_hrf_is_the_ols_glm():
    """With every voxel's HRF set to the canonical one, effect, variance and t are those of the
    OLS GLM with the canonical design (numpy least squares), dof counted the same way."""
    betas = np.zeros((2, 30))
    betas[0, :15] = 20.0
    runs, events = _runs(30, betas)
    est = R1GLM(T_R, noise_model="ols").fit(runs, events)
    est.hrf_coef_ = np.zeros_like(est.hrf_coef_)
    est.hrf_coef_[0] = 1.0  # the first orthonormal basis function is the canonical HRF
    maps = r1glm_contrasts(est, runs, events, {"aMinusB": "a - b"}, hrf_fit="same-data")["aMinusB"]
    design, data, n_nuisance = [], [], 0
    for y, ev in zip(runs, events):
        q = drift_basis(N_SCANS, T_R, "cosine", 0.01)
        full = condition_design(check_events(ev, N_SCANS, T_R), est.basis_, N_SCANS, T_R, ["a", "b"])
        design.append(project_out(q, full[:, ::3]))
        data.append(project_out(q, y))
        n_nuisance += q.shape[1]
    x, y = np.concatenate(design), np.concatenate(data)
    coef, *_ = np.linalg.lstsq(x, y, rcond=None)
    dof = x.shape[0] - n_nuisance - 2 - 2  # minus the 2 HRF shape parameters of the 3hrf basis
    sigma2 = ((y - x @ coef) ** 2).sum(0) / dof
    c = np.array([1.0, -1.0])
    variance = sigma2 * (c @ np.linalg.inv(x.T @ x) @ c)
    assert maps.dof == dof
    np.testing.assert_allclose(maps.effect, c @ coef, rtol=1e-8)
    np.testing.assert_allclose(maps.variance, variance, rtol=1e-8)
    np.testing.assert_allclose(maps.t, (c @ coef) / np.sqrt(variance), rtol=1e-8)
    assert maps.t[:15].min() > 5 and np.abs(maps.t[15:]).max() < 5


def test_t_to_z_matches_the_normal_quantiles_and_stays_finite():
    from scipy import stats

    t = np.array([-4.0, -1.0, 0.0, 2.5, 40.0, 200.0])
    z = t_to_z(t, 30)
    np.testing.assert_allclose(z[:4], stats.norm.isf(stats.t.sf(t[:4], 30)), rtol=1e-6, atol=1e-12)
    assert np.all(np.isfinite(z)) and np.all(np.diff(z) > 0)


def test_leave_one_run_out_hrf_keeps_the_null_calibrated():
    """No activation, white noise: z from the HRF fitted on the same data is too wide; from the
    other runs' HRF it has unit spread, as a fixed-HRF GLM's."""
    n_voxels = 1500
    betas = np.zeros((2, n_voxels))
    betas[:, :200] = 20.0  # some active voxels, so the empirical HRF prior has something to learn
    runs, events = _runs(n_voxels, betas, seed=3)
    est = R1GLM(T_R, noise_model="ols").fit(runs, events)
    null = slice(200, None)
    same = r1glm_contrasts(est, runs, events, {"a": "a"}, hrf_fit="same-data")["a"].z[null]
    loro = r1glm_contrasts(est, runs, events, {"a": "a"})["a"].z[null]
    print(f"null z sd: same-data HRF {same.std():.3f}, leave-one-run-out HRF {loro.std():.3f}")
    assert 0.93 < loro.std() < 1.05
    assert same.std() > loro.std() + 0.05
    assert (np.abs(loro) > 1.96).mean() < 0.07


def test_ar1_null_z_maps_are_calibrated():
    """Pure AR(1) noise (rho 0.4), AR(1) model: the residual AR(1) coefficients are estimated
    without their bias (the raw residual estimate, 0.32 here, under-whitens: z sd 1.11, 7.5 % of
    |z| > 1.96) and the leave-one-run-out z maps have unit spread."""
    n_voxels = 2000
    runs, events = _runs(n_voxels, np.zeros((2, n_voxels)), seed=5, ar1=0.4)
    est = R1GLM(T_R, noise_model="ar1").fit(runs, events)
    maps = r1glm_contrasts(est, runs, events, {"a": "a", "b": "b"})
    z = np.concatenate([m.z for m in maps.values()])
    print(f"rho_ mean {est.rho_.mean():.3f} (true 0.4); null z mean {z.mean():+.3f} sd {z.std():.3f}, "
          f"P(|z| > 1.96) {(np.abs(z) > 1.96).mean():.4f}")
    assert abs(est.rho_.mean() - 0.4) < 0.02
    assert abs(z.mean()) < 0.05
    assert 0.96 < z.std() < 1.035
    assert (np.abs(z) > 1.96).mean() < 0.062


def test_single_run_split_hrf_keeps_the_null_calibrated():
    """One run of 320 scans, pure AR(1) noise (rho 0.3): the same-data HRF widens the null z maps;
    with each third of the run using the HRF fitted on the other two (the default for one run)
    they have unit spread."""
    n_voxels = 1500
    rng = np.random.default_rng(7)
    onsets = np.arange(6.0, 2 * N_SCANS * T_R - 30, 8.0) + rng.uniform(0, 3, 1)
    ev = pd.DataFrame({"onset": onsets, "duration": 1.0,
                       "trial_type": rng.permutation(np.resize(["a", "b"], onsets.size))})
    y, _ = simulate_bold(ev, T_R, 2 * N_SCANS, [[5.0, 1.0, 0.17]], np.zeros(n_voxels, int),
                         np.zeros((2, n_voxels)), ar1=0.3, random_state=8)
    est = R1GLM(T_R, noise_model="ar1").fit(y, ev)
    split = r1glm_contrasts(est, y, ev, {"a": "a", "b": "b"})
    same = r1glm_contrasts(est, y, ev, {"a": "a", "b": "b"}, hrf_fit="same-data")
    z, z_same = (np.concatenate([m.z for m in maps.values()]) for maps in (split, same))
    print(f"one-run null z sd: split-run HRF {z.std():.3f}, same-data HRF {z_same.std():.3f}; "
          f"P(|z| > 1.96) {(np.abs(z) > 1.96).mean():.4f} and {(np.abs(z_same) > 1.96).mean():.4f}")
    assert split["a"].hrf_fit == "split-run (3 segments)" and same["a"].hrf_fit == "same-data"
    assert split["a"].dof == same["a"].dof + 2  # the HRF shape is not fitted on the tested rows
    assert 0.95 < z.std() < 1.04 and (np.abs(z) > 1.96).mean() < 0.062
    assert z_same.std() > z.std() + 0.05


def test_split_run_keeps_events_crossing_the_boundary_and_names_short_runs(caplog):
    """Noise-free data made with the canonical HRF: each segment's HRF, fitted on the other
    segment with the tails of the events before it, is exactly the canonical one (dropping the
    crossing events' tails would bias it). A run too short to split falls back to the same-data
    HRF with a warning naming the run; asking for the split explicitly is an error naming it."""
    from neuroopt.fmri.held_out_hrf import split_run_hrfs

    n_scans, t_r = 120, 2.0
    ev = pd.DataFrame({"onset": np.arange(4.0, n_scans * t_r - 10, 7.0), "duration": 1.0})
    ev["trial_type"] = np.resize(["a", "b"], len(ev))
    est = R1GLM(t_r, noise_model="ols", hrf_shrinkage=0.0).fit(np.zeros((n_scans, 1)) + 1.0, ev)
    design = condition_design(check_events(ev, n_scans, t_r), est.basis_, n_scans, t_r, ["a", "b"])
    y = design[:, ::3] @ np.array([[3.0, 1.0], [1.0, 2.0]]) + 100.0  # the canonical HRF only
    est.fit(y, ev)
    bounds, hrfs = split_run_hrfs(est, y, ev, n_segments=3)
    assert list(bounds) == [0, 40, 80, 120]
    for w in hrfs:
        np.testing.assert_allclose(np.abs(w), [[1, 1], [0, 0], [0, 0]], atol=1e-6)
    short = ev[ev["onset"] < 20 * t_r]
    est_short = R1GLM(t_r, noise_model="ols").fit(y[:24], short)
    with caplog.at_level("WARNING", logger="neuroopt"):
        maps = r1glm_contrasts(est_short, y[:24], short, {"a": "a"}, run_names=["sub-01_bold.nii.gz"])
    assert maps["a"].hrf_fit == "same-data" and "sub-01_bold.nii.gz" in caplog.text
    with pytest.raises(ValueError, match=r"split sub-01_bold\.nii\.gz \(24 scans.*16 s, shorter than one HRF"):
        r1glm_contrasts(est_short, y[:24], short, {"a": "a"}, hrf_fit="split-run", run_names=["sub-01_bold.nii.gz"])


def _blob_img(shape=(20, 20, 20), centre=(10, 10, 10), peak=8.0, seed=0):
    rng = np.random.default_rng(seed)
    grid = np.indices(shape).transpose(1, 2, 3, 0)
    z = peak * np.exp(-((grid - np.array(centre)) ** 2).sum(-1) / 8.0) + rng.standard_normal(shape) * 0.5
    return nib.Nifti1Image(z.astype(np.float32), np.diag([3.0, 3.0, 3.0, 1.0]))


def test_thresholds_and_cluster_table(tmp_path):
    from neuroopt.stats.thresholding import cluster_table, read_cluster_table, save_cluster_table, threshold_z_map

    img = _blob_img()
    for correction in ("fdr", "bonferroni", "fpr", "none"):
        thresholded, threshold = threshold_z_map(img, correction=correction, alpha=0.05, height=3.09)
        kept = np.asarray(thresholded.get_fdata())
        assert kept[10, 10, 10] > 7 and np.all(np.abs(kept[kept != 0]) >= threshold.z - 1e-5)
    bonferroni = threshold_z_map(img, correction="bonferroni")[1].z
    fdr = threshold_z_map(img, correction="fdr")[1].z
    assert bonferroni > fdr > 0  # Bonferroni is the stricter of the two here
    _, extent = threshold_z_map(img, correction="none", height=2.0, cluster_extent=20)
    table = cluster_table(img, extent)
    # the blob's centre is at (30, 30, 30) mm; noise may move the peak by one 3-mm voxel
    assert np.linalg.norm(table.loc[0, ["X", "Y", "Z"]].to_numpy(float) - 30.0) <= 3.0
    assert "clusters >= 20 voxels" in extent.describe() and "|z| > 2.00" in extent.describe()
    path = save_cluster_table(table, extent, tmp_path / "c_clusters.tsv")
    back, threshold = read_cluster_table(path)
    assert len(back) == len(table) and threshold == extent
    empty = np.zeros((20, 20, 20), np.float32)
    _, none = threshold_z_map(nib.Nifti1Image(empty, np.eye(4)), correction="fdr")
    assert cluster_table(nib.Nifti1Image(empty, np.eye(4)), none).empty


def test_group_one_sample_and_median_maps():
    from neuroopt.stats.second_level import median_map, one_sample_group_map

    subjects = [_blob_img(peak=2.0, seed=s) for s in range(8)]
    maps = one_sample_group_map(subjects)
    z = np.asarray(maps["z"].get_fdata())
    assert np.unravel_index(np.argmax(z), z.shape) == (10, 10, 10) and z.max() > 3
    assert maps["dof"] == 7
    median = np.asarray(median_map(subjects).get_fdata())
    np.testing.assert_allclose(median[10, 10, 10], np.median([s.get_fdata()[10, 10, 10] for s in subjects]), rtol=1e-5)
    moved = nib.Nifti1Image(subjects[1].get_fdata(), np.diag([2.0, 2.0, 2.0, 1.0]))
    with pytest.raises(ValueError, match="different grid"):
        one_sample_group_map([subjects[0], moved], names=["sub-01", "sub-02"])


def test_group_trial_decoding_exact_sign_flips():
    from neuroopt.decoding.trials import TrialDecodingResult
    from neuroopt.stats.second_level import GroupTrialDecodingResult, group_trial_decoding

    def result(score):
        return TrialDecodingResult(np.array([score, score]), "roc_auc", 0.5, np.array(["a", "b"]))

    above = group_trial_decoding([result(s) for s in (0.6, 0.7, 0.65, 0.55, 0.62)])
    assert above.n_permutations == 32 and above.p_value == pytest.approx(1 / 32)
    mixed = group_trial_decoding([result(s) for s in (0.6, 0.4, 0.55, 0.45)])
    assert mixed.p_value > 0.4
    assert isinstance(above, GroupTrialDecodingResult)


def test_a_map_where_nothing_passes_is_not_a_warning():
    """Noise only (the demo's 2-subject group maps): the threshold is inf and the table empty,
    which the report states; nilearn's notices of it are not warnings of the job."""
    import warnings

    from neuroopt.stats.thresholding import cluster_table, threshold_z_map

    noise = _blob_img(peak=0.0)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        _, fdr = threshold_z_map(noise, correction="fdr")
        assert fdr.z == np.inf and cluster_table(noise, fdr).empty
        _, high = threshold_z_map(noise, correction="none", height=50.0)
        assert cluster_table(noise, high).empty


def test_group_map_without_a_voxel_is_drawn_without_warning():
    """The demo's 2-subject group maps: nothing passes, the title says so, nilearn's 'empty mask' is not a warning."""
    import warnings

    from neuroopt.report.glm import plot_thresholded_map
    from neuroopt.stats.thresholding import Threshold

    with warnings.catch_warnings():
        warnings.simplefilter("error")
        fig = plot_thresholded_map(_blob_img(peak=0.0), Threshold("fdr", 0.05, float("inf"), 0, True), "group")
    assert "nothing to show" in fig.texts[0].get_text()
