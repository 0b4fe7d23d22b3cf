"""fMRI preprocessing on the demo (known mask, drift) and on real data (localizer, Haxby)."""

import json

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
from nilearn import image, masking

from neuroopt.datasets import load_demo_truth
from neuroopt.fmri.preprocessing import clean_bold, compute_mask, fmriprep_confounds, load_bold


def _dice(a, b):
    a, b = np.asarray(a.dataobj) > 0, np.asarray(b.dataobj) > 0
    return 2 * (a & b).sum() / (a.sum() + b.sum())


def _low_freq_power(series, t_r, fmax=0.01):
    freqs = np.fft.rfftfreq(series.shape[0], t_r)
    spectrum = np.abs(np.fft.rfft(series - series.mean(axis=0), axis=0)) ** 2
    return spectrum[(freqs > 0) & (freqs < fmax)].sum()


def test_demo_mask_and_cleaning(tiny_demo):
    truth = load_demo_truth(tiny_demo, "01")
    bolds = [load_bold(p) for p in sorted(tiny_demo.glob("sub-01/func/*_bold.nii.gz"))]
    mask = compute_mask(bolds)
    assert _dice(mask, truth["fmri"]["mask_img"]) > 0.9
    t_r = truth["fmri"]["t_r"]
    cleaned = clean_bold(bolds[0], t_r, mask, high_pass=0.01)
    raw_ts = masking.apply_mask(bolds[0], mask)
    clean_ts = masking.apply_mask(cleaned, mask)
    assert cleaned.shape == bolds[0].shape
    np.testing.assert_allclose(clean_ts.mean(axis=0), raw_ts.mean(axis=0), rtol=1e-4)  # baseline kept
    assert _low_freq_power(clean_ts, t_r) < 0.05 * _low_freq_power(raw_ts, t_r)  # drift removed
    assert np.all(np.asarray(cleaned.dataobj)[np.asarray(mask.dataobj) == 0] == 0)


def test_clean_bold_rejects_bad_parameters(tiny_demo):
    bold = load_bold(next(tiny_demo.glob("sub-01/func/*_bold.nii.gz")))
    mask = compute_mask([bold])
    with pytest.raises(ValueError, match="t_r must be a finite number > 0"):
        clean_bold(bold, 0.0, mask)
    with pytest.raises(ValueError, match="fmri.high_pass"):
        clean_bold(bold, 2.0, mask, high_pass=-0.1)


def test_real_localizer_mask_and_cleaning(shared_data):
    folder = shared_data / "fmri_pyhrf_localizer"
    bold = load_bold(folder / "subj0_bold_session0.nii.gz")
    # the data are non-zero only inside the 2-parcel mask: the EPI mask must recover it
    parcels = image.math_img("img > 0", img=nib.load(folder / "subj0_parcellation.nii.gz"))
    mask = compute_mask([bold])
    assert _dice(mask, parcels) > 0.9
    t_r = json.loads((folder / "subj0_bold_session0.json").read_text())["RepetitionTime"]
    cleaned = clean_bold(bold, t_r, mask)
    raw_ts, clean_ts = masking.apply_mask(bold, mask), masking.apply_mask(cleaned, mask)
    assert _low_freq_power(clean_ts, t_r) < 0.2 * _low_freq_power(raw_ts, t_r)


def test_real_haxby_runs(shared_data):
    runs = sorted((shared_data / "fmri_haxby2001_1slice" / "sub001" / "BOLD").glob("task001_run00[12]/bold_1slice.nii.gz"))
    bolds = [load_bold(p) for p in runs]
    mask = compute_mask(bolds)
    n_in = int(np.asarray(mask.dataobj).sum())
    assert 100 < n_in < 40 * 20
    cleaned = clean_bold(bolds[0], 2.5, mask, smoothing_fwhm=4.0)
    assert np.isfinite(cleaned.get_fdata()).all()


def test_fmriprep_confounds_nan_handled(tmp_path):
    """fMRIPrep leaves NaN in the first row of derivative columns; the loader must not pass them on."""
    func = tmp_path / "sub-01" / "func"
    func.mkdir(parents=True)
    stem = "sub-01_task-x_space-MNI152NLin2009cAsym_desc-preproc_bold"
    img = nib.Nifti1Image(np.random.default_rng(0).standard_normal((3, 3, 3, 20)).astype(np.float32) + 100, np.eye(4))
    img.to_filename(func / f"{stem}.nii.gz")
    (func / f"{stem}.json").write_text(json.dumps({"RepetitionTime": 2.0}))
    n = 20
    rng = np.random.default_rng(1)
    columns = {}
    for name in ("trans_x", "trans_y", "trans_z", "rot_x", "rot_y", "rot_z", "white_matter", "csf", "global_signal"):
        columns[name] = rng.standard_normal(n)
        columns[f"{name}_derivative1"] = np.r_[np.nan, np.diff(columns[name])]
    for k in range(3):
        columns[f"cosine{k:02d}"] = np.cos(np.pi * (k + 1) * np.arange(n) / n)
    columns["framewise_displacement"] = np.r_[np.nan, np.abs(rng.standard_normal(n - 1))]
    pd.DataFrame(columns).to_csv(func / "sub-01_task-x_desc-confounds_timeseries.tsv", sep="\t", index=False, na_rep="n/a")
    (func / "sub-01_task-x_desc-confounds_timeseries.json").write_text("{}")
    confounds, _ = fmriprep_confounds(func / f"{stem}.nii.gz", strategy=("motion", "high_pass", "wm_csf"), motion="derivatives")
    assert not confounds.isna().to_numpy().any()
    assert "trans_x_derivative1" in confounds.columns and "cosine00" in confounds.columns
