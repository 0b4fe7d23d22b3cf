"""Rank-1 GLM on real data: physiological HRFs, agreement with nilearn, multi-run block design."""

from __future__ import annotations

import warnings

import numpy as np
import pandas as pd
import pytest

from neuroopt.fmri.estimators import R1GLM
from neuroopt.fmri.maps import fit_r1glm_images

LOCALIZER_T_R = 2.4  # the NIfTI headers say 1.0, which is wrong (see the dataset README)


@pytest.fixture(scope="module")
def localizer(shared_data):
    root = shared_data / "fmri_pyhrf_localizer"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    events = pd.read_csv(root / "events.tsv", sep="\t")
    result = fit_r1glm_images(root / "subj0_bold_session0.nii.gz", events,
                              root / "subj0_parcellation.nii.gz", t_r=LOCALIZER_T_R,
                              noise_model="ar1")
    return root, events, result


def test_localizer_hrfs_are_physiological(localizer):
    _, _, result = localizer
    est = result.estimator
    best = est.r2_ >= np.percentile(est.r2_, 90)
    peaks = est.hrf_peak_time_[best]
    # measured: median 5.0 s, interquartile 4.7-5.2 s
    assert 4.0 <= np.nanmedian(peaks) <= 6.5
    assert np.mean((peaks > 3.0) & (peaks < 8.0)) > 0.8
    # the voxel-specific HRF explains more than the canonical GLM where there is signal
    assert np.median(est.r2_[best] - est.r2_canonical_[best]) > 0.0
    assert np.all(np.isfinite(est.betas_))


def test_localizer_contrast_agrees_with_nilearn(localizer):
    """Audio - video: the rank-1 contrast map follows nilearn's (spm, AR(1)) effect map."""
    from nilearn.glm.first_level import FirstLevelModel

    root, events, result = localizer
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        flm = FirstLevelModel(t_r=LOCALIZER_T_R, mask_img=result.masker.mask_img_,
                              hrf_model="spm", noise_model="ar1", drift_model="cosine",
                              high_pass=0.01, minimize_memory=True)
        flm.fit(str(root / "subj0_bold_session0.nii.gz"), events=events)
        audio = [c for c in result.conditions if c.endswith("audio")]
        video = [c for c in result.conditions if c.endswith("video")]
        contrast = " + ".join(audio) + " - " + " - ".join(video)
        z_nilearn = result.masker.transform(flm.compute_contrast(contrast, output_type="z_score"))
    est = result.estimator
    weights = np.array([1.0 if c in audio else -1.0 if c in video else 0.0
                        for c in result.conditions])
    effect = weights @ est.betas_
    # a t-like statistic for the rank-1 contrast: effect / residual sd (same design for all)
    resid_sd = np.sqrt(est.loss_ / (sum(est.n_scans_) - len(weights) * est.basis_.n_basis))
    r = np.corrcoef(effect / resid_sd, z_nilearn.ravel())[0, 1]
    assert r > 0.8
    # the most significant voxel for nilearn (max z = 8.3) is strongly audio > video for us too
    peak = np.argmax(z_nilearn.ravel())
    assert effect[peak] / resid_sd[peak] > np.percentile(effect / resid_sd, 95)


def test_nitime_mt_hrf_peak(shared_data):
    path = shared_data / "fmri_nitime_er" / "event_related_fmri.csv"
    if not path.exists():
        pytest.skip(f"{path} not found")
    table = pd.read_csv(path)
    codes = table["events"].to_numpy().astype(int)
    scans = np.flatnonzero(codes > 0)
    events = pd.DataFrame({"onset": scans * 2.0, "duration": 0.0,
                           "trial_type": [f"type{c}" for c in codes[scans]]})
    # the MT response is broad (FIR: plateau from 2 to 8 s), so the FIR peak is the check
    fir = R1GLM(t_r=2.0, basis="fir").fit(table[["bold"]].to_numpy(), events)
    assert fir.betas_.shape == (6, 1)
    assert 4.0 <= fir.hrf_peak_time_[0] <= 6.5  # measured: 5.9 s
    assert np.all(fir.betas_ > 0)  # all six trial types activate MT
    # measured with OLS; with the AR(1) default the 3hrf fit of this one voxel is narrower
    # (plateau minimum 0.68 x peak)
    model = R1GLM(t_r=2.0, noise_model="ols").fit(table[["bold"]].to_numpy(), events)
    hrf = model.hrf_[:, 0]
    plateau = (model.hrf_times_ >= 4.0) & (model.hrf_times_ <= 6.5)
    assert hrf[plateau].min() > 0.8 * hrf.max()
    assert model.r2_[0] > model.r2_canonical_[0] + 0.02  # measured: 0.232 vs 0.187


def test_haxby_twelve_runs_jointly(shared_data):
    import nibabel as nib

    root = shared_data / "fmri_haxby2001_1slice" / "sub001" / "BOLD"
    if not root.is_dir():
        pytest.skip(f"{root} not found")
    runs, events = [], []
    for run_dir in sorted(root.glob("task001_run*")):
        data = nib.load(run_dir / "bold_1slice.nii.gz").get_fdata()
        runs.append(data.reshape(-1, data.shape[-1]).T)
        events.append(pd.read_csv(run_dir / "bold_events.tsv", sep="\t"))
    assert len(runs) == 12
    Y = [r for r in runs]
    keep = np.all([r.std(axis=0) > 0 for r in Y], axis=0) & (np.mean(Y[0], axis=0) > 100)
    Y = [r[:, keep] for r in Y]
    model = R1GLM(t_r=2.5).fit(Y, events)
    assert model.betas_.shape == (8, int(keep.sum()))
    assert model.n_scans_ == [121] * 12
    best = model.r2_ >= np.percentile(model.r2_, 90)
    # blocks: 8 conditions, responsive ventral-temporal voxels are well explained
    assert np.median(model.r2_[best]) > 0.2
    assert np.median(model.r2_[best] - model.r2_canonical_[best]) >= 0.0
    # the run-wise fits of a run subset share the HRF of the joint fit where signal is strong
    half = R1GLM(t_r=2.5).fit(Y[:6], events[:6])
    corr = [np.corrcoef(model.hrf_[:, v], half.hrf_[:, v])[0, 1] for v in np.flatnonzero(best)]
    assert np.median(corr) > 0.8
