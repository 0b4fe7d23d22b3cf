"""fMRI part of the demo dataset: event-related BOLD with known betas, HRFs and trial amplitudes."""

from __future__ import annotations

import datetime
import json

import nibabel as nib
import numpy as np
import pandas as pd
from scipy.ndimage import gaussian_filter
from scipy.signal import lfilter
from scipy.stats import gamma

from ..utils import logger

DEMO_FMRI_CONDITIONS = ("face", "house", "tool", "word")
FMRI_T_R = 2.0
FMRI_EVENT_DURATION = 1.0
FMRI_ISI = (3.0, 8.0)  # s, blank between the end of a trial and the next onset
FINE_DT = 0.1  # s, time grid of the HRF convolution
HRF_TIMES = np.arange(0.0, 32.0 + 1e-9, 0.2)  # s, grid of truth["fmri"]["hrfs"]
HRF_PARAM_NAMES = ("peak", "dispersion", "undershoot_peak", "undershoot_dispersion",
                   "undershoot_ratio")
CANONICAL_HRF = (5.0, 1.0, 15.0, 1.0, 1.0 / 6.0)  # reduces to SPM's canonical double gamma
TRIAL_AMPLITUDE_SD = 0.25
_MASK_THRESHOLD = 0.2
NOISE = {"ar1": 0.35, "sd_percent_of_baseline": 0.8, "spatial_fwhm_mm": 6.0,
         "drift": "per voxel: linear trend + 3 slowest DCT cosines over the run (periods >= "
                  "2/3 of the run), coefficients N(0, 0.6% of baseline)"}
VOXEL_PATTERN_SD = 0.25  # log-normal voxel-by-condition deviation from the region profile

# Active regions: name, MNI centre (mm), radius (mm), percent signal change per condition
# (face, house, tool, word) at the centre, HRF parameters (see HRF_PARAM_NAMES).
REGIONS = (
    ("ffa_right", (42, -52, -20), 10.0, (3.0, 0.6, 0.9, 1.2), (6.0, 1.0, 16.0, 1.0, 1 / 6)),
    ("ppa_left", (-28, -46, -8), 10.0, (0.6, 3.0, 1.2, 0.5), (4.5, 0.9, 14.0, 1.0, 1 / 6)),
    ("vwfa_left", (-44, -58, -14), 9.0, (0.9, 0.5, 0.8, 2.7), CANONICAL_HRF),
    ("tool_left", (-50, -66, 6), 9.0, (0.5, 0.5, 2.7, 0.6), (7.0, 1.2, 17.0, 1.2, 0.2)),
    ("visual_bilateral", (0, -88, 4), 14.0, (2.2, 2.2, 2.2, 2.2), (4.0, 0.8, 13.0, 1.0, 0.35)),
)


def double_gamma_hrf_by_peak(times, peak, dispersion, undershoot_peak, undershoot_dispersion,
                             undershoot_ratio):
    """Double-gamma HRF parametrised by the time of its peak: the positive lobe peaks at ``peak`` s.

    (:func:`neuroopt.fmri.hrf_basis.double_gamma_hrf` takes SPM's delays instead: its gamma
    shapes are ``delay / dispersion``, here ``peak / dispersion + 1``.) Arrays broadcast.
    """
    times = np.asarray(times, float)
    shape1 = peak / dispersion + 1.0
    shape2 = undershoot_peak / undershoot_dispersion + 1.0
    return gamma.pdf(times, shape1, scale=dispersion) - undershoot_ratio * gamma.pdf(
        times, shape2, scale=undershoot_dispersion
    )


def unit_hrfs(params):
    """(n_hrf_times, n) HRFs with unit L2 norm on ``HRF_TIMES`` from (n, 5) parameters."""
    params = np.asarray(params, float)
    unique, inverse = np.unique(params, axis=0, return_inverse=True)
    shapes = np.stack([double_gamma_hrf_by_peak(HRF_TIMES, *p) for p in unique], axis=1)
    shapes /= np.linalg.norm(shapes, axis=0, keepdims=True)
    return shapes[:, np.ravel(inverse)]


def _event_response(params):
    """Response to one 1-s event on the fine grid, scaled to a peak of 1."""
    fine = np.arange(0.0, 32.0, FINE_DT)
    hrf = double_gamma_hrf_by_peak(fine, *params)
    box = np.ones(int(round(FMRI_EVENT_DURATION / FINE_DT)))
    response = np.convolve(box, hrf)[: fine.size]
    return response / response.max()


def load_demo_mask(resolution):
    """nilearn's MNI152 brain mask (shipped with nilearn) at ``resolution`` mm, and the template."""
    from nilearn.datasets import load_mni152_template
    from nilearn.image import resample_img

    if float(resolution).is_integer():
        template = load_mni152_template(resolution=int(resolution))
    else:  # nilearn only takes integer resolutions: resample the 1 mm template the same way
        template = resample_img(
            load_mni152_template(resolution=1), target_affine=np.diag([resolution] * 3),
            interpolation="continuous", copy_header=True, force_resample=True,
        )
    # same threshold as nilearn.datasets.load_mni152_brain_mask
    mask = np.asarray(template.dataobj) > _MASK_THRESHOLD
    mask_img = template
    mask_img = nib.Nifti1Image(mask.astype(np.uint8), mask_img.affine)
    mask_img.header.set_xyzt_units("mm")
    mask_img.set_sform(mask_img.affine, code=4)
    mask_img.set_qform(mask_img.affine, code=4)
    return mask_img, np.asarray(template.dataobj, dtype=np.float64)


class FMRIGrid:
    """Mask, voxel coordinates and baseline template, shared by all subjects."""

    def __init__(self, resolution):
        self.mask_img, template = load_demo_mask(resolution)
        self.mask = np.asarray(self.mask_img.dataobj) > 0
        self.affine = self.mask_img.affine
        self.zooms = np.asarray(self.mask_img.header.get_zooms()[:3], dtype=float)
        ijk = np.argwhere(self.mask)  # C order == nilearn.masking.apply_mask order
        self.xyz = nib.affines.apply_affine(self.affine, ijk)
        tpl = template[self.mask]
        self.template = tpl / np.percentile(tpl, 99)


def _run_events(rng, n_trials_per_condition):
    conditions = rng.permutation(
        np.repeat(np.arange(len(DEMO_FMRI_CONDITIONS)), n_trials_per_condition)
    )
    isi = rng.uniform(*FMRI_ISI, conditions.size)
    onsets = 8.0 + np.concatenate([[0.0], np.cumsum(FMRI_EVENT_DURATION + isi[:-1])])
    onsets = np.round(onsets, 1)  # on the fine grid
    amplitudes = np.clip(rng.normal(1.0, TRIAL_AMPLITUDE_SD, conditions.size), 0.2, None)
    return pd.DataFrame(
        dict(
            onset=onsets,
            duration=FMRI_EVENT_DURATION,
            trial_type=[DEMO_FMRI_CONDITIONS[c] for c in conditions],
            amplitude=amplitudes,
        )
    )


def _condition_regressors(events, n_scans, params):
    """(n_scans, n_conditions) regressors for one HRF, amplitudes included."""
    n_fine = int(round(n_scans * FMRI_T_R / FINE_DT))
    trains = np.zeros((n_fine, len(DEMO_FMRI_CONDITIONS)))
    idx = np.round(events["onset"].to_numpy() / FINE_DT).astype(int)
    cond = np.array([DEMO_FMRI_CONDITIONS.index(c) for c in events["trial_type"]])
    np.add.at(trains, (idx, cond), events["amplitude"].to_numpy())
    response = _event_response(params)
    # FFT convolution of all condition trains at once, sampled at the scan onsets
    n_fft = n_fine + response.size
    conv = np.fft.irfft(
        np.fft.rfft(trains, n_fft, axis=0) * np.fft.rfft(response, n_fft)[:, None], n_fft, axis=0
    )[:n_fine]
    step = int(round(FMRI_T_R / FINE_DT))
    return conv[::step][:n_scans]


def _smooth_ar1_noise(grid, rng, n_scans):
    """(n_scans, n_vox) unit-variance noise: AR(1) in time, Gaussian-smooth in space."""
    rho = NOISE["ar1"]
    sigma = NOISE["spatial_fwhm_mm"] / np.sqrt(8 * np.log(2)) / grid.zooms
    # the first frame stands for the state before the run (stationary start)
    white = rng.standard_normal(grid.mask.shape + (n_scans + 1,), dtype=np.float32)
    smooth = gaussian_filter(white, sigma=tuple(sigma) + (0.0,), mode="wrap")[grid.mask].T
    smooth /= smooth.std()
    innovations = smooth[1:] * np.sqrt(1 - rho**2)
    return lfilter([1.0], [1.0, -rho], innovations, axis=0, zi=rho * smooth[:1])[0]


def simulate_fmri_subject(grid, rng, n_runs, trials_per_condition):
    """Simulate all runs of one subject. Returns (runs, truth); runs are (4D array, events)."""
    n_vox = grid.xyz.shape[0]
    # baseline: T2*-like contrast (CSF > grey > white matter, the inverse of the T1 template)
    # times a smooth subject-specific coil bias field
    centred = (grid.xyz - grid.xyz.mean(0)) / 100.0
    bias = 1.0 + centred @ rng.normal(0.0, 0.08, 3) + (centred**2) @ rng.normal(0.0, 0.05, 3)
    baseline = 1000.0 * (1.2 - 0.55 * np.clip(grid.template, 0, 1.1)) * bias
    # regions: jittered centres, Gaussian profile inside the sphere, winner-takes-voxel
    weights = np.zeros((len(REGIONS), n_vox))
    region_rows = []
    for r, (name, centre, radius, psc, hrf_params) in enumerate(REGIONS):
        centre = np.asarray(centre, float) + rng.normal(0.0, 2.0, 3)
        dist = np.linalg.norm(grid.xyz - centre, axis=1)
        weights[r] = np.where(dist <= radius, np.exp(-0.5 * (dist / (0.7 * radius)) ** 2), 0.0)
        scale = rng.uniform(0.8, 1.2)
        region_rows.append(
            dict(name=name, x=centre[0], y=centre[1], z=centre[2], radius=radius,
                 **{f"psc_{c}": p * scale for c, p in zip(DEMO_FMRI_CONDITIONS, psc)},
                 **{f"hrf_{k}": v for k, v in zip(HRF_PARAM_NAMES, hrf_params)})
        )
    regions = pd.DataFrame(region_rows)
    region_of = np.where(weights.max(0) > 0, weights.argmax(0), -1)
    psc = regions[[f"psc_{c}" for c in DEMO_FMRI_CONDITIONS]].to_numpy()
    betas = np.zeros((len(DEMO_FMRI_CONDITIONS), n_vox))
    hrf_params = np.tile(np.asarray(CANONICAL_HRF), (n_vox, 1))
    for r in range(len(REGIONS)):
        vox = region_of == r
        # voxels of a region share its selectivity but not exactly: fine-grained patterns
        pattern = np.exp(rng.normal(0.0, VOXEL_PATTERN_SD, (len(DEMO_FMRI_CONDITIONS), vox.sum())))
        betas[:, vox] = psc[r][:, None] * pattern * weights[r, vox] * baseline[vox] / 100.0
        hrf_params[vox] = REGIONS[r][4]
    runs, trials = [], {}
    sd = NOISE["sd_percent_of_baseline"] / 100.0 * baseline
    for run in range(1, n_runs + 1):
        events = _run_events(rng, trials_per_condition)
        last = events["onset"].iloc[-1]
        n_scans = int(np.ceil((last + 20.0) / FMRI_T_R))
        signal = np.zeros((n_scans, n_vox))
        for r in range(len(REGIONS)):
            vox = np.flatnonzero(region_of == r)
            if vox.size:
                design = _condition_regressors(events, n_scans, REGIONS[r][4])
                signal[:, vox] = design @ betas[:, vox]
        noise = _smooth_ar1_noise(grid, rng, n_scans)
        frames = np.arange(n_scans)
        drift_basis = np.column_stack(
            [frames / n_scans - 0.5]
            + [np.cos(np.pi * k * (frames + 0.5) / n_scans) for k in (1, 2, 3)]
        )
        drift = drift_basis @ rng.normal(0.0, 0.006, (4, n_vox))
        series = baseline * (1.0 + drift) + signal + sd * noise
        runs.append((series.astype(np.float32), events[["onset", "duration", "trial_type"]]))
        trials[run] = events
        logger.info("fMRI run %d: %d scans, %d trials", run, n_scans, len(events))
    truth = {
        "betas": betas,
        "hrf_params": hrf_params,
        "regions": regions,
        "trials": trials,
        "baseline": baseline,
    }
    return runs, truth


def _volume(grid, values, dtype=np.float32):
    """Put (n_vox,) or (n_vox, k) values in the grid (zeros outside the mask)."""
    values = np.asarray(values)
    out = np.zeros(grid.mask.shape + values.shape[1:], dtype=dtype)
    out[grid.mask] = values
    img = nib.Nifti1Image(out, grid.affine)
    img.header.set_xyzt_units("mm", "sec")
    img.set_sform(grid.affine, code=4)
    img.set_qform(grid.affine, code=4)
    return img


def _add_to_scans(root, subject, filenames, acq_times):
    """Append the BOLD runs to sub-XX_scans.tsv (mne-bids already lists the EEG runs there)."""
    scans_path = root / f"sub-{subject}" / f"sub-{subject}_scans.tsv"
    rows = pd.DataFrame({"filename": filenames, "acq_time": acq_times})
    if scans_path.exists():
        rows = pd.concat([pd.read_csv(scans_path, sep="\t"), rows], ignore_index=True)
    rows.to_csv(scans_path, sep="\t", index=False)


def write_fmri_subject(root, deriv_root, subject, grid, runs, truth, *, meas_date):
    """Write raw BOLD runs (BIDS) and the fMRI truth files of one subject."""
    func = root / f"sub-{subject}" / "func"
    func.mkdir(parents=True, exist_ok=True)
    filenames, acq_times = [], []
    for run, (series, events) in enumerate(runs, start=1):
        stem = f"sub-{subject}_task-demo_run-{run:02d}"
        img = _volume(grid, series.T)
        img.header["pixdim"][4] = FMRI_T_R
        img.header["descrip"] = b"neuroopt demo (simulated)"
        nib.save(img, func / f"{stem}_bold.nii.gz")
        sidecar = {
            "TaskName": "demo",
            "RepetitionTime": FMRI_T_R,
            "TaskDescription": "Event-related viewing of faces, houses, tools and words "
            "(simulated BOLD with known betas and HRFs; slice timing not simulated).",
            "Manufacturer": "neuroopt (simulated)",
            "SkullStripped": True,
        }
        (func / f"{stem}_bold.json").write_text(json.dumps(sidecar, indent=2) + "\n")
        events.to_csv(func / f"{stem}_events.tsv", sep="\t", index=False, float_format="%.4f")
        filenames.append(f"func/{stem}_bold.nii.gz")
        start = meas_date + datetime.timedelta(hours=1, minutes=8 * (run - 1))
        acq_times.append(start.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
    _add_to_scans(root, subject, filenames, acq_times)
    out = deriv_root / f"sub-{subject}" / "func"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"sub-{subject}_task-demo"
    nib.save(grid.mask_img, out / f"{stem}_mask.nii.gz")
    nib.save(_volume(grid, truth["betas"].T), out / f"{stem}_betas.nii.gz")
    nib.save(_volume(grid, truth["hrf_params"][:, 0]), out / f"{stem}_hrfpeak.nii.gz")
    nib.save(_volume(grid, truth["hrf_params"]), out / f"{stem}_hrfparams.nii.gz")
    nib.save(_volume(grid, truth["baseline"]), out / f"{stem}_baseline.nii.gz")
    truth["regions"].to_csv(out / f"{stem}_regions.tsv", sep="\t", index=False, float_format="%.6g")
    for run, table in truth["trials"].items():
        table.to_csv(out / f"{stem}_run-{run:02d}_trials.tsv", sep="\t", index=False,
                     float_format="%.6g")
    meta = {
        "Description": "Ground truth of the simulated BOLD. Expected response of voxel v to a "
        "trial of condition c with amplitude a at onset t0: betas[c, v] * a * g_v(t - t0), "
        "where g_v is the 1-s boxcar convolved with the voxel's double-gamma HRF, scaled to a "
        "peak of 1; betas are therefore in scanner units (baseline ~1000). Scans are sampled "
        "at t = k * RepetitionTime (slice timing ignored).",
        "t_r": FMRI_T_R,
        "conditions": list(DEMO_FMRI_CONDITIONS),
        "betas_units": "scanner intensity (peak response to one trial of amplitude 1)",
        "hrf_parameters": list(HRF_PARAM_NAMES),
        "hrf_formula": "gamma.pdf(t, peak/dispersion + 1, scale=dispersion) - undershoot_ratio * "
        "gamma.pdf(t, undershoot_peak/undershoot_dispersion + 1, scale=undershoot_dispersion)",
        "hrf_times": {"start": 0.0, "stop": 32.0, "step": float(HRF_TIMES[1])},
        "event_duration_s": FMRI_EVENT_DURATION,
        "trial_amplitude_sd": TRIAL_AMPLITUDE_SD,
        "voxel_pattern_sd": VOXEL_PATTERN_SD,
        "noise": NOISE,
    }
    betas_meta = {"conditions": list(DEMO_FMRI_CONDITIONS), "units": meta["betas_units"]}
    (out / f"{stem}_betas.json").write_text(json.dumps(betas_meta, indent=2) + "\n")
    (out / f"{stem}_fmritruth.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_fmri_truth(deriv_root, subject):
    """Read the fMRI truth of one subject (the dict documented in load_demo_truth)."""
    folder = deriv_root / f"sub-{subject}" / "func"
    stem = f"sub-{subject}_task-demo"
    meta = json.loads((folder / f"{stem}_fmritruth.json").read_text())
    mask_img = nib.load(folder / f"{stem}_mask.nii.gz")
    mask = np.asarray(mask_img.dataobj) > 0
    params_img = nib.load(folder / f"{stem}_hrfparams.nii.gz")
    params = np.asarray(params_img.dataobj, dtype=np.float64)[mask]
    trials = {}
    for path in sorted(folder.glob(f"{stem}_run-*_trials.tsv")):
        run = int(path.name.split("_run-")[1].split("_")[0])
        trials[run] = pd.read_csv(path, sep="\t")
    return {
        "t_r": float(meta["t_r"]),
        "conditions": sorted(meta["conditions"]),
        "mask_img": mask_img,
        "betas_img": nib.load(folder / f"{stem}_betas.nii.gz"),
        "hrf_peak_img": nib.load(folder / f"{stem}_hrfpeak.nii.gz"),
        "hrf_params_img": params_img,
        "baseline_img": nib.load(folder / f"{stem}_baseline.nii.gz"),
        "hrf_times": HRF_TIMES.copy(),
        "hrfs": unit_hrfs(params),
        "trials": trials,
        "regions": pd.read_csv(folder / f"{stem}_regions.tsv", sep="\t"),
        "noise": dict(meta["noise"]),
        "meta": meta,
    }
