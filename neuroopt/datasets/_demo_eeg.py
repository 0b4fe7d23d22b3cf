"""EEG part of the demo dataset: simulation with known dipoles, BIDS writing, truth files."""

from __future__ import annotations

import datetime
import json

import mne
import numpy as np
import pandas as pd

from ..meeg.forward import make_sphere_forward
from ..utils import logger

DEMO_EEG_CONDITIONS = ("auditory/left", "auditory/right", "visual/left", "visual/right")
EEG_EVENT_ID = {name: value for value, name in enumerate(DEMO_EEG_CONDITIONS, start=1)}

EEG_SFREQ = 500.0
EEG_LINE_FREQ = 50.0
EEG_REFERENCE = "FCz"  # online reference: not recorded, as with most active-electrode systems
EEG_GROUND = "AFz"
EOG_CHANNELS = ("VEOG", "HEOG")
# easycap-M1 without the reference, the ground and the lowest ring (rarely on 64-channel caps)
_EXCLUDED = (EEG_REFERENCE, EEG_GROUND, "Iz", "O9", "O10", "P9", "P10", "PO9", "PO10", "F9",
             "F10", "FT9", "FT10", "TP9", "TP10")
_BAD_CANDIDATES = ("C3", "C4", "P3", "P4", "T7", "T8", "CP5", "CP6", "FC5", "FC6", "P7", "P8")
EEG_TMIN, EEG_TMAX = -0.2, 0.5
FORWARD_POS, FORWARD_MINDIST = 10.0, 5.0

# Known generators, head coordinates (m). Orientations: auditory dipoles point up (N1 negative
# at the vertex), visual dipoles point back-up-out (P1 positive over occipital channels).
_SOURCES = (
    ("auditory_left", (-0.052, 0.0, 0.045), (0.25, 0.0, 1.0)),
    ("auditory_right", (0.052, 0.0, 0.045), (-0.25, 0.0, 1.0)),
    ("visual_left", (-0.022, -0.068, 0.045), (-0.3, -0.8, 0.5)),
    ("visual_right", (0.022, -0.068, 0.045), (0.3, -0.8, 0.5)),
)
# Evoked components per source family: (latency s, relative amplitude, width s)
_AUDITORY_COMPONENTS = ((0.050, 0.25, 0.010), (0.100, -1.0, 0.015), (0.180, 0.75, 0.025))
_VISUAL_COMPONENTS = ((0.100, 1.0, 0.015), (0.170, -1.2, 0.022), (0.260, 0.4, 0.040))
_PEAK_MOMENT = {"auditory": 100e-9, "visual": 60e-9}  # A*m
_IPSI_GAIN = {"auditory": 0.55, "visual": 0.15}
_IPSI_DELAY = 0.010  # s, interhemispheric transfer
TRIAL_AMPLITUDE_SD = 0.25
TRIAL_LATENCY_SD = 0.008  # s

NOISE = {
    "brain_noise_dipoles": 200,
    "brain_noise_spectrum": "1/f power (pink) above 0.1 Hz",
    "brain_noise_rms_uV": 7.0,
    "alpha_dipoles": 4,
    "alpha_rms_uV": 4.0,
    "sensor_white_noise_sd_uV": 1.5,
    "line_noise_uV": 6.0,
    "line_harmonic_ratio": 0.3,
    "drift_uV": 15.0,
    "blink_amplitude_uV": 150.0,
    "blink_interval_s": [2.0, 8.0],
}


def eeg_channel_names():
    montage = mne.channels.make_standard_montage("easycap-M1")
    return [name for name in montage.ch_names if name not in _EXCLUDED]


def make_eeg_info():
    """Info of the demo EEG recording (59 EEG + VEOG/HEOG) with the easycap-M1 montage."""
    names = eeg_channel_names()
    info = mne.create_info(
        names + list(EOG_CHANNELS), EEG_SFREQ, ["eeg"] * len(names) + ["eog"] * len(EOG_CHANNELS)
    )
    info.set_montage(mne.channels.make_standard_montage("easycap-M1"), on_missing="ignore")
    info["line_freq"] = EEG_LINE_FREQ
    return info


class EEGModel:
    """Forward model shared by all subjects (same cap, same sphere)."""

    def __init__(self):
        self.info = make_eeg_info()
        self.forward, self.src, self.sphere = make_sphere_forward(
            self.info, pos=FORWARD_POS, mindist=FORWARD_MINDIST
        )
        # The reference electrode is not recorded, but its potential is subtracted from all
        # channels: compute its gain on the same source space and sphere.
        ref_info = mne.create_info([EEG_REFERENCE], EEG_SFREQ, "eeg")
        ref_info.set_montage(mne.channels.make_standard_montage("easycap-M1"))
        ref_fwd = mne.make_forward_solution(
            ref_info, trans=None, src=self.src, bem=self.sphere, meg=False, eeg=True,
            verbose=False,
        )
        self.ref_pos = ref_info["chs"][0]["loc"][:3].copy()  # head coordinates
        # (n_eeg, n_sources, 3) gains relative to the reference electrode
        gain = self.forward["sol"]["data"] - ref_fwd["sol"]["data"]
        self.gain = gain.reshape(gain.shape[0], -1, 3)
        self.rr = self.src[0]["rr"][self.src[0]["vertno"]]
        eeg_kind = mne.io.constants.FIFF.FIFFV_EEG_CH
        self.eeg_pos = np.array(
            [ch["loc"][:3] for ch in self.info["chs"] if ch["kind"] == eeg_kind]
        )

    def fixed_gain(self, src_index, ori):
        """(n_eeg, n_dipoles) gain of dipoles at source points with unit orientations."""
        return np.einsum("csk,sk->cs", self.gain[:, src_index], ori)


def _pink_noise(rng, n_series, n_times, sfreq, fmin=0.1):
    """Unit-variance noise with a 1/f power spectrum above ``fmin`` (rows independent)."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    scale = np.zeros_like(freqs)
    keep = freqs >= fmin
    scale[keep] = 1.0 / np.sqrt(freqs[keep])
    spectrum = rng.standard_normal((n_series, freqs.size)) + 1j * rng.standard_normal(
        (n_series, freqs.size)
    )
    series = np.fft.irfft(spectrum * scale, n=n_times, axis=1)
    return series / series.std(axis=1, keepdims=True)


def _alpha_noise(rng, n_series, n_times, sfreq, peak):
    """Unit-variance narrow-band noise around ``peak`` Hz (alpha rhythm with waxing/waning)."""
    freqs = np.fft.rfftfreq(n_times, 1.0 / sfreq)
    scale = np.exp(-0.5 * ((freqs - peak) / 0.8) ** 2)
    spectrum = rng.standard_normal((n_series, freqs.size)) + 1j * rng.standard_normal(
        (n_series, freqs.size)
    )
    series = np.fft.irfft(spectrum * scale, n=n_times, axis=1)
    return series / series.std(axis=1, keepdims=True)


def _components_waveform(times, components, amplitude, latency_shift):
    wave = np.zeros_like(times)
    for latency, rel_amp, width in components:
        wave += rel_amp * np.exp(-0.5 * ((times - latency - latency_shift) / width) ** 2)
    wave[np.abs(wave) < 1e-9] = 0.0  # Gaussian tails: keep the truth files readable
    return amplitude * wave


def _condition_waveforms(times, subject_params, amplitude=1.0, latency_shift=0.0):
    """(n_conditions, n_sources, n_times) source moments (A*m) for one trial or the mean."""
    out = np.zeros((len(DEMO_EEG_CONDITIONS), len(_SOURCES), times.size))
    for ci, condition in enumerate(DEMO_EEG_CONDITIONS):
        modality, side = condition.split("/")
        components = _AUDITORY_COMPONENTS if modality == "auditory" else _VISUAL_COMPONENTS
        for si, (name, _, _) in enumerate(_SOURCES):
            src_modality, hemi = name.split("_")
            if src_modality != modality:
                continue
            contralateral = hemi != side  # left stimulus -> right hemisphere
            gain = 1.0 if contralateral else _IPSI_GAIN[modality]
            delay = 0.0 if contralateral else _IPSI_DELAY
            moment = _PEAK_MOMENT[modality] * subject_params["moment_scale"][si] * gain
            out[ci, si] = _components_waveform(
                times, components, moment * amplitude,
                subject_params["latency_shift"][si] + delay + latency_shift,
            )
    return out


def _choose_sources(model, rng):
    rows = []
    for name, target, ori in _SOURCES:
        # subject-specific anatomy: jitter the target by a few mm, then snap to the grid
        target = np.asarray(target) + rng.normal(0.0, 0.003, 3)
        src_index = int(np.argmin(np.linalg.norm(model.rr - target, axis=1)))
        ori = np.asarray(ori, float) + rng.normal(0.0, 0.1, 3)
        ori /= np.linalg.norm(ori)
        x, y, z = model.rr[src_index]
        rows.append(dict(name=name, x=x, y=y, z=z, ori_x=ori[0], ori_y=ori[1], ori_z=ori[2],
                         src_index=src_index))
    return pd.DataFrame(rows)


def _trial_schedule(rng, n_trials_per_condition, n_runs):
    """Per run: list of condition indices in random order (trials split evenly over runs)."""
    per_run = [[] for _ in range(n_runs)]
    for ci in range(len(DEMO_EEG_CONDITIONS)):
        for run, chunk in enumerate(np.array_split(np.arange(n_trials_per_condition), n_runs)):
            per_run[run] += [ci] * len(chunk)
    return [rng.permutation(np.array(conds, int)) for conds in per_run]


def _blink_topography(model):
    """Relative blink amplitude at each EEG channel (VEOG = 1), decaying away from the eyes."""
    # eyes: head coordinates, just behind and below the nasion (which is at z = 0)
    eyes = np.array([[-0.032, 0.085, 0.0], [0.032, 0.085, 0.0]])
    dist = np.min(np.linalg.norm(model.eeg_pos[:, None] - eyes[None], axis=2), axis=1)
    ref_dist = np.min(np.linalg.norm(eyes - model.ref_pos, axis=1))
    return 1.4 * (np.exp(-dist / 0.07) - np.exp(-ref_dist / 0.07))


def simulate_eeg_subject(model, rng, subject_index, n_runs, trials_per_condition):
    """Simulate all runs of one subject. Returns (runs, truth)."""
    sfreq = EEG_SFREQ
    n_eeg = model.gain.shape[0]
    ch_names = model.info["ch_names"]
    sources = _choose_sources(model, rng)
    src_gain = model.fixed_gain(
        sources["src_index"].to_numpy(), sources[["ori_x", "ori_y", "ori_z"]].to_numpy()
    )
    subject_params = {
        "moment_scale": rng.uniform(0.8, 1.2, len(_SOURCES)),
        "latency_shift": rng.normal(0.0, 0.005, len(_SOURCES)),
    }
    times = np.arange(int(round(EEG_TMIN * sfreq)), int(round(EEG_TMAX * sfreq)) + 1) / sfreq
    mean_waveforms = _condition_waveforms(times, subject_params)
    bad_kind = "flat" if subject_index % 2 == 0 else "noisy"
    bad_channel = str(rng.choice(_BAD_CANDIDATES))
    blink_topo = _blink_topography(model)
    alpha_peak = rng.uniform(9.0, 11.5)
    # background generators, fixed for the subject
    n_bg = NOISE["brain_noise_dipoles"]
    bg_index = rng.choice(model.rr.shape[0], n_bg, replace=False)
    bg_ori = rng.standard_normal((n_bg, 3))
    bg_ori /= np.linalg.norm(bg_ori, axis=1, keepdims=True)
    bg_gain = model.fixed_gain(bg_index, bg_ori)
    # n_bg independent pink sources seen through bg_gain have the sensor covariance
    # bg_gain @ bg_gain.T (times the pink spectrum): draw n_eeg pink series and mix them with
    # its square root instead, the same Gaussian process at a fraction of the FFT cost.
    eigval, eigvec = np.linalg.eigh(bg_gain @ bg_gain.T)
    bg_mixing = (eigvec * np.sqrt(np.clip(eigval, 0, None))) @ eigvec.T
    occipital = np.flatnonzero((model.rr[:, 1] < -0.04) & (model.rr[:, 2] > 0.03))
    alpha_index = rng.choice(occipital, NOISE["alpha_dipoles"], replace=False)
    alpha_ori = rng.standard_normal((alpha_index.size, 3))
    alpha_ori /= np.linalg.norm(alpha_ori, axis=1, keepdims=True)
    alpha_gain = model.fixed_gain(alpha_index, alpha_ori)
    line_amp = NOISE["line_noise_uV"] * 1e-6 * rng.lognormal(0.0, 0.4, n_eeg)
    line_phase = rng.uniform(0, 2 * np.pi, n_eeg)

    schedules = _trial_schedule(rng, trials_per_condition, n_runs)
    runs = []
    trial_tables = {}
    for run, conditions in enumerate(schedules, start=1):
        soas = rng.uniform(1.0, 1.5, conditions.size)
        onsets = 3.0 + np.concatenate([[0.0], np.cumsum(soas[:-1])])
        n_times = int(np.ceil((onsets[-1] + 3.0) * sfreq))
        t = np.arange(n_times) / sfreq
        data = np.zeros((n_eeg + len(EOG_CHANNELS), n_times))
        eeg = data[:n_eeg]
        # evoked responses, with trial-to-trial amplitude and latency jitter
        amplitudes = np.clip(rng.normal(1.0, TRIAL_AMPLITUDE_SD, conditions.size), 0.2, None)
        latencies = rng.normal(0.0, TRIAL_LATENCY_SD, conditions.size)
        samples = np.round(onsets * sfreq).astype(int)
        onsets = samples / sfreq  # events on the sample grid
        first = int(round(EEG_TMIN * sfreq))
        for ci, sample, amp, lat in zip(conditions, samples, amplitudes, latencies):
            moments = _condition_waveforms(times, subject_params, amp, lat)[ci]
            eeg[:, sample + first: sample + first + times.size] += src_gain @ moments
        # spatially correlated background activity and alpha rhythm
        brain = bg_mixing @ _pink_noise(rng, n_eeg, n_times, sfreq)
        brain *= NOISE["brain_noise_rms_uV"] * 1e-6 / np.sqrt(np.mean(brain**2))
        alpha = alpha_gain @ _alpha_noise(rng, alpha_index.size, n_times, sfreq, alpha_peak)
        alpha *= NOISE["alpha_rms_uV"] * 1e-6 / np.sqrt(np.mean(alpha**2))
        eeg += brain + alpha
        # line noise (50 Hz + 100 Hz harmonic), slow drifts, amplifier noise
        line = np.sin(2 * np.pi * EEG_LINE_FREQ * t[None] + line_phase[:, None])
        line += NOISE["line_harmonic_ratio"] * np.sin(
            2 * np.pi * 2 * EEG_LINE_FREQ * t[None] + 2 * line_phase[:, None]
        )
        eeg += line_amp[:, None] * line
        n_all = data.shape[0]
        drift_freqs = rng.uniform(0.005, 0.08, (n_all, 3))
        drift_phase = rng.uniform(0, 2 * np.pi, (n_all, 3))
        drift_amp = rng.normal(0.0, NOISE["drift_uV"] * 1e-6, (n_all, 3))
        data += np.einsum(
            "ck,ckt->ct", drift_amp,
            np.sin(2 * np.pi * drift_freqs[:, :, None] * t[None, None] + drift_phase[:, :, None]),
        )
        data += rng.normal(0.0, NOISE["sensor_white_noise_sd_uV"] * 1e-6, data.shape)
        # eye blinks: VEOG, weaker on HEOG, propagated to frontal EEG
        blink_wave = np.zeros(n_times)
        blink_times = []
        tb = rng.uniform(*NOISE["blink_interval_s"]) / 2
        while tb < t[-1] - 0.5:
            blink_times.append(tb)
            dur = rng.uniform(0.25, 0.4)
            idx = slice(int(tb * sfreq), int((tb + dur) * sfreq))
            phase = (t[idx] - tb) / dur
            blink_wave[idx] += rng.uniform(0.7, 1.3) * np.sin(np.pi * phase) ** 2
            tb += rng.uniform(*NOISE["blink_interval_s"])
        blink_wave *= NOISE["blink_amplitude_uV"] * 1e-6
        eeg += blink_topo[:, None] * blink_wave[None]
        data[n_eeg] += blink_wave
        data[n_eeg + 1] += 0.1 * blink_wave
        # one bad channel on purpose
        bad = ch_names.index(bad_channel)
        if bad_kind == "flat":
            data[bad] = 0.0
        else:
            data[bad] += rng.normal(0.0, 60e-6, n_times) + 40e-6 * np.sin(2 * np.pi * 1.3 * t)
        events = np.column_stack(
            [samples, np.zeros_like(samples), np.array([ci + 1 for ci in conditions])]
        )
        runs.append((data, events))
        trial_tables[run] = pd.DataFrame(
            dict(
                onset=onsets,
                sample=samples,
                trial_type=[DEMO_EEG_CONDITIONS[ci] for ci in conditions],
                value=conditions + 1,
                amplitude=amplitudes,
                latency_shift=latencies,
            )
        )
        logger.info("EEG run %d: %d trials, %.1f s, %d blinks", run, conditions.size,
                    n_times / sfreq, len(blink_times))
    truth = {
        "sources": sources,
        "times": times,
        "waveforms": {c: mean_waveforms[ci] for ci, c in enumerate(DEMO_EEG_CONDITIONS)},
        "bad_channels": [bad_channel],
        "bad_channel_kind": bad_kind,
        "trials": trial_tables,
        "alpha_peak_hz": float(alpha_peak),
    }
    return runs, truth


def write_eeg_subject(root, deriv_root, subject, model, runs, truth, *, meas_date):
    """Write the raw runs with mne-bids and the truth files of one subject."""
    import mne_bids

    for run, (data, events) in enumerate(runs, start=1):
        raw = mne.io.RawArray(data, model.info.copy(), verbose=False)
        raw.set_meas_date(meas_date + datetime.timedelta(minutes=10 * (run - 1)))
        bids_path = mne_bids.BIDSPath(
            subject=subject, task="demo", run=f"{run:02d}", datatype="eeg", root=root
        )
        mne_bids.write_raw_bids(
            raw, bids_path, events=events, event_id=EEG_EVENT_ID, format="BrainVision",
            allow_preload=True, overwrite=True, verbose=False,
        )
        sidecar = bids_path.copy().update(suffix="eeg", extension=".json")
        mne_bids.update_sidecar_json(
            sidecar,
            {
                "EEGReference": EEG_REFERENCE,
                "EEGGround": EEG_GROUND,
                "CapManufacturer": "EasyCap",
                "CapManufacturersModelName": "M1",
                "EEGPlacementScheme": "10-10 (easycap-M1 subset)",
                "SoftwareFilters": "n/a",
                "TaskDescription": "Auditory (left/right ear) and visual (left/right hemifield) "
                "stimuli, simulated EEG with known dipoles (neuroopt demo).",
            },
            verbose=False,
        )
    out = deriv_root / f"sub-{subject}" / "eeg"
    out.mkdir(parents=True, exist_ok=True)
    stem = f"sub-{subject}_task-demo"
    truth["sources"].to_csv(out / f"{stem}_sources.tsv", sep="\t", index=False, float_format="%.9g")
    times = truth["times"]
    rows = []
    for condition, wave in truth["waveforms"].items():
        frame = pd.DataFrame(wave.T, columns=list(truth["sources"]["name"]))
        frame.insert(0, "time", times)
        frame.insert(0, "condition", condition)
        rows.append(frame)
    pd.concat(rows).to_csv(
        out / f"{stem}_waveforms.tsv", sep="\t", index=False, float_format="%.9g"
    )
    for run, table in truth["trials"].items():
        table.to_csv(out / f"{stem}_run-{run:02d}_trials.tsv", sep="\t", index=False,
                     float_format="%.9g")
    meta = {
        "Description": "Ground truth of the simulated EEG. Waveforms are the mean source "
        "moments (A*m) per condition; each trial scales them by 'amplitude' and shifts them by "
        "'latency_shift' (s), see *_trials.tsv. src_index indexes src[0]['vertno'] of "
        "neuroopt.meeg.make_sphere_forward(raw.info) with its defaults.",
        "bad_channels": truth["bad_channels"],
        "bad_channel_kind": truth["bad_channel_kind"],
        "line_freq": EEG_LINE_FREQ,
        "reference": EEG_REFERENCE,
        "sfreq": EEG_SFREQ,
        "sphere_r0_m": [float(v) for v in model.sphere["r0"]],
        "sphere_head_radius_m": float(model.sphere.radius),
        "forward": {
            "pos_mm": FORWARD_POS,
            "mindist_mm": FORWARD_MINDIST,
            "n_sources": int(model.rr.shape[0]),
        },
        "trial_amplitude_sd": TRIAL_AMPLITUDE_SD,
        "trial_latency_sd_s": TRIAL_LATENCY_SD,
        "alpha_peak_hz": truth["alpha_peak_hz"],
        "noise": NOISE,
    }
    (out / f"{stem}_eegtruth.json").write_text(json.dumps(meta, indent=2) + "\n")


def read_eeg_truth(deriv_root, subject):
    """Read the EEG truth of one subject (the dict documented in load_demo_truth)."""
    folder = deriv_root / f"sub-{subject}" / "eeg"
    stem = f"sub-{subject}_task-demo"
    meta = json.loads((folder / f"{stem}_eegtruth.json").read_text())
    sources = pd.read_csv(folder / f"{stem}_sources.tsv", sep="\t")
    waves = pd.read_csv(folder / f"{stem}_waveforms.tsv", sep="\t")
    names = list(sources["name"])
    waveforms, times = {}, None
    for condition in DEMO_EEG_CONDITIONS:
        sel = waves[waves["condition"] == condition]
        times = sel["time"].to_numpy()
        waveforms[condition] = sel[names].to_numpy().T
    trials = {}
    for path in sorted(folder.glob(f"{stem}_run-*_trials.tsv")):
        run = int(path.name.split("_run-")[1].split("_")[0])
        trials[run] = pd.read_csv(path, sep="\t")
    return {
        "sources": sources,
        "times": times,
        "waveforms": waveforms,
        "bad_channels": list(meta["bad_channels"]),
        "bad_channel_kind": meta["bad_channel_kind"],
        "line_freq": float(meta["line_freq"]),
        "reference": meta["reference"],
        "trials": trials,
        "meta": meta,
    }
