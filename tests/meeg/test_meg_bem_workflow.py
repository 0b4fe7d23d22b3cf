"""MEG with real anatomy end to end (issue 18): the workflow on a MEG BIDS dataset with the real
sample geometry, a BEM forward from FreeSurfer-like anatomy and the T1w landmarks, and the sparse
stage finding both auditory cortices; plus the bad-input errors of the forward model.
"""

from __future__ import annotations

import json
import shutil

import mne
import numpy as np
import pytest
import yaml
from meg_bids_utils import make_meg_bids, meg_subjects_dir

from conftest import REPO_ROOT, shared_dataset, snakemake
from sample_forward_utils import cached_volume_forward

MAX_DISTANCE_M = 0.030


@pytest.fixture(scope="module")
def meg_dataset(request, tmp_path_factory):
    meg_sample = shared_dataset("meg_sample")
    subjects_dir = meg_subjects_dir(meg_sample, tmp_path_factory.mktemp("subjects"))
    cache = getattr(request.config, "cache", None)
    cache_dir = cache.mkdir("neuroopt_sparse_inverse") if cache is not None else tmp_path_factory.mktemp("fwd")
    forward = cached_volume_forward(meg_sample, cache_dir, subjects_dir, pos=10.0)
    root = tmp_path_factory.mktemp("meg_bids") / "ds"
    truth = make_meg_bids(root, meg_sample, forward, subjects_dir)
    return dict(root=root, subjects_dir=subjects_dir, meg_sample=meg_sample, **truth)


def _config(path, ds, **sparse):
    config = {
        "bids_root": str(ds["root"]),
        "fmri": {"enabled": False},
        "meeg": {"resample_sfreq": None, "notch_freqs": "none", "artifacts": {"method": "none"},
                 "epochs": {"tmin": -0.2, "tmax": 0.4}},
        "sparse": {"forward": "bem", "subjects_dir": str(ds["subjects_dir"]), "fs_subject": "sample",
                   "estimators": ["mtl", "sgcl"], "tmin": 0.05, "tmax": 0.15, **sparse},
        "decoding": {"enabled": False},
        "rsa": {"enabled": False},
        "report": {"enabled": False},
    }
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.mark.slow
def test_meg_bem_workflow_finds_both_auditory_cortices(meg_dataset, tmp_path):
    config = _config(tmp_path / "meg.yaml", meg_dataset)
    run = snakemake(tmp_path, configfile=config)
    assert run.returncode == 0, run.stdout[-3000:] + run.stderr[-5000:]
    meg = meg_dataset["root"] / "derivatives" / "neuroopt" / "sub-01" / "meg"
    summary = json.loads((meg / "sub-01_desc-forward_summary.json").read_text())
    assert summary["forward"] == "bem" and summary["source_space"] == "volume"
    assert summary["bem"].endswith("sample-1280-bem-sol.fif") and "T1w.json" in summary["trans_from"]
    # the transform made from the T1w landmarks is the real one (within 2 mm at the head centre)
    trans = mne.read_trans(meg / "sub-01_trans.fif")
    real = mne.read_trans(meg_dataset["meg_sample"] / "sample_audvis_trunc-trans.fif")
    if trans["from"] != real["from"]:
        trans = mne.transforms.invert_transform(trans)
    assert np.abs(trans["trans"][:3, 3] - real["trans"][:3, 3]).max() < 0.002
    forward = mne.read_forward_solution(meg / "sub-01_fwd.fif", verbose=False)
    assert set(forward["info"].get_channel_types()) == {"grad", "mag"}
    from neuroopt.meeg.sources_io import read_source_estimates

    from sample_forward_utils import strongest_source_per_hemisphere

    for estimator in ("mtl", "sgcl"):
        estimates = read_source_estimates(meg / f"sub-01_task-auditory_desc-{estimator}_sources.h5")
        for condition, estimate in estimates.items():
            strongest = strongest_source_per_hemisphere(estimate["stc"], forward)
            for hemi in ("lh", "rh"):
                assert strongest[hemi] is not None, (estimator, condition, hemi)
                distance = float(np.linalg.norm(strongest[hemi] - meg_dataset["seeds"][hemi]))
                assert distance < MAX_DISTANCE_M, (estimator, condition, hemi, distance)
    sparse = json.loads((meg / "sub-01_task-auditory_desc-sparse_summary.json").read_text())
    rows = sparse["estimators"]["sgcl"]["tone/high"]["noise_levels"]
    assert {r["ch_type"] for r in rows} == {"grad", "mag"}  # both sensor types in SGCL's noise groups
    # the forward model's report section (the workflow ran with report off, to stay fast)
    from neuroopt.report.subject import build_subject_report

    section = {"kind": "forward", "title": "sub-01", "forward": str(meg / "sub-01_fwd.fif"),
               "summary": str(meg / "sub-01_desc-forward_summary.json"), "trans": str(meg / "sub-01_trans.fif")}
    report = build_subject_report("sub-01", [section])
    assert {"forward", "bem", "alignment"} <= set(report.tags)


# ---------------------------------------------------------------------------------------- bad input
def _plan(root, **sparse):
    from snakemake.utils import validate

    from neuroopt.pipeline import make_plan

    config = {"bids_root": str(root), "fmri": {"enabled": False}, "sparse": {"forward": "bem", **sparse}}
    validate(config, str(REPO_ROOT / "config" / "schema.yaml"))
    return make_plan(config)


def test_bem_forward_plans_one_forward_per_subject(meg_dataset):
    plan = _plan(meg_dataset["root"], subjects_dir=str(meg_dataset["subjects_dir"]), fs_subject="sample")
    outputs = plan.forward_outputs("sub-01_task-auditory")
    assert outputs["forward"].endswith("sub-01/meg/sub-01_fwd.fif") and outputs["trans"].endswith("sub-01_trans.fif")
    assert {s["kind"] for s in plan.report_sections("sub-01")} >= {"forward", "sparse"}


def test_bem_forward_without_subjects_dir_fails_at_planning(meg_dataset):
    from neuroopt.io.bids import BIDSError

    with pytest.raises(BIDSError, match="sparse.subjects_dir is not set"):
        _plan(meg_dataset["root"])
    with pytest.raises(BIDSError, match="sparse.fs_subject"):
        _plan(meg_dataset["root"], subjects_dir=str(meg_dataset["subjects_dir"]))  # sub-01 is not a FreeSurfer subject


def test_bem_forward_without_transform_fails_at_planning(meg_dataset, tmp_path):
    from neuroopt.io.bids import BIDSError

    root = tmp_path / "ds"
    shutil.copytree(meg_dataset["root"], root, ignore=shutil.ignore_patterns("derivatives"))
    sidecar = root / "sub-01" / "anat" / "sub-01_T1w.json"
    sidecar.write_text(json.dumps({k: v for k, v in json.loads(sidecar.read_text()).items()
                                   if k != "AnatomicalLandmarkCoordinates"}))
    kwargs = dict(subjects_dir=str(meg_dataset["subjects_dir"]), fs_subject="sample")
    with pytest.raises(BIDSError, match="sub-01_T1w.json has no AnatomicalLandmarkCoordinates"):
        _plan(root, **kwargs)
    with pytest.raises(BIDSError, match="sparse.trans: the transform .*missing-trans.fif does not exist"):
        _plan(root, trans=str(tmp_path / "missing-trans.fif"), **kwargs)
    _plan(root, trans=str(meg_dataset["meg_sample"] / "sample_audvis_trunc-trans.fif"), **kwargs)  # a given trans: fine


def test_trans_putting_the_head_outside_the_skull_is_an_error(meg_dataset):
    from meg_bids_utils import sample_meg_info

    from neuroopt.meeg.forward import make_bem_forward

    trans = mne.read_trans(meg_dataset["meg_sample"] / "sample_audvis_trunc-trans.fif")
    trans["trans"][:3, 3] += [0.0, 0.0, 0.08]  # the head 8 cm off
    info = sample_meg_info(meg_dataset["meg_sample"])
    with pytest.raises(ValueError, match="my-trans.fif: the head<->MRI transform puts the head outside the inner skull"):
        make_bem_forward(info, subject="sample", subjects_dir=meg_dataset["subjects_dir"], trans=trans,
                         trans_source="my-trans.fif")


def test_maxwell_filter_megin_only(meg_dataset):
    from meg_bids_utils import sample_meg_info

    from neuroopt.meeg.preprocessing import maxwell_filter_raw

    info = sample_meg_info(meg_dataset["meg_sample"])
    rng = np.random.default_rng(0)
    raw = mne.io.RawArray(1e-12 * rng.standard_normal((len(info["ch_names"]), 1600)), info, verbose=False)
    raw.del_proj()
    sss, details = maxwell_filter_raw(raw)
    assert details["calibration"] is None and sss.info["proc_history"]  # SSS recorded: rank "info" follows it
    assert mne.compute_rank(sss, "info", verbose=False)["meg"] < 100
    # after SSS both sensor types still have their place in SGCL's noise groups
    from neuroopt.meeg.inverse import _whitened_row_groups
    from neuroopt.meeg.whitening import covariance_rank, data_rank

    cov = mne.compute_raw_covariance(sss, method="empirical", rank=data_rank(sss), verbose=False)
    whitener, _ = mne.cov.compute_whitener(cov, sss.info, rank=covariance_rank(cov, sss.info), pca=True,
                                           verbose="error")
    assert set(_whitened_row_groups(whitener, sss.info)) in ({"meg"}, {"grad", "mag"})
    eeg = mne.io.RawArray(np.zeros((3, 100)), mne.create_info(3, 100.0, "eeg"), verbose=False)
    with pytest.raises(ValueError, match="eeg.fif: meeg.maxwell is enabled but this recording has no MEG channel"):
        maxwell_filter_raw(eeg, source="eeg.fif")


def test_maxwell_uses_the_bids_fine_calibration_file(meg_dataset, tmp_path):
    """A fine-calibration file stored in the BIDS dataset (``write_meg_calibration``) is found for the
    recording and applied. Cross-talk files are FIF products of MEGIN's software that cannot be made
    here; ``bids_maxwell_files`` returns None for them, and the filter runs without."""
    import mne_bids

    from neuroopt.meeg.preprocessing import bids_maxwell_files, maxwell_filter_raw

    root = tmp_path / "ds"
    shutil.copytree(meg_dataset["root"], root)
    raw_path = sorted(root.rglob("*_meg.fif"))[0]
    assert bids_maxwell_files(raw_path) == (None, None)

    raw = mne.io.read_raw_fif(raw_path, preload=True, verbose=False).crop(0.0, 10.0)
    meg = mne.pick_types(raw.info, meg=True, exclude=[])
    calibration = {
        "ch_names": [raw.ch_names[i].replace(" ", "") for i in meg],  # the file's names have no space
        "locs": np.array([raw.info["chs"][i]["loc"][:12] for i in meg]),
        # magnetometers: one calibration factor; gradiometers: one imbalance term
        "imb_cals": [np.array([1.01]) if raw.info["chs"][i]["coil_type"] == 3024 else np.array([0.0]) for i in meg],
    }
    cal_file = tmp_path / "sss_cal.dat"
    mne.preprocessing.write_fine_calibration(cal_file, calibration)
    subject = mne_bids.get_entities_from_fname(raw_path)["subject"]
    mne_bids.write_meg_calibration(cal_file, mne_bids.BIDSPath(subject=subject, root=root), verbose=False)

    found, cross_talk = bids_maxwell_files(raw_path)
    assert found is not None and found.name == f"sub-{subject}_acq-calibration_meg.dat" and cross_talk is None
    sss, details = maxwell_filter_raw(raw, calibration=found)
    assert details["calibration"] == str(found)
    assert sss.info["proc_history"][0]["max_info"]["sss_cal"]  # MNE records the fine calibration it applied
    plain, _ = maxwell_filter_raw(raw)
    assert not plain.info["proc_history"][0]["max_info"]["sss_cal"]
    calibrated, uncalibrated = sss.get_data(picks="mag"), plain.get_data(picks="mag")
    assert np.linalg.norm(calibrated - uncalibrated) > 1e-3 * np.linalg.norm(uncalibrated)


def test_find_bem_from_watershed_surfaces(tmp_path):
    """FreeSurfer's watershed output (``bem/watershed/<subject>_inner_skull_surface``, linked as
    ``bem/inner_skull.surf`` by ``mne watershed_bem``) gives a 1-layer BEM; without the link, the error
    names the missing file and the command that makes it."""
    from mne.surface import _get_ico_surface

    from neuroopt.meeg.forward import find_bem

    bem_dir = tmp_path / "sample" / "bem"
    (bem_dir / "watershed").mkdir(parents=True)
    # watershed surfaces are ico-5 meshes in mm (surface RAS): an 80 mm sphere of that topology
    ico = _get_ico_surface(5)
    surface = bem_dir / "watershed" / "sample_inner_skull_surface"
    mne.write_surface(surface, 80.0 * ico["rr"], ico["tris"], overwrite=True)
    with pytest.raises(FileNotFoundError, match=r"inner_skull.surf is missing .*mne watershed_bem -s sample"):
        find_bem("sample", tmp_path)
    (bem_dir / "inner_skull.surf").symlink_to(surface)
    bem, source = find_bem("sample", tmp_path)
    assert source.endswith("(watershed)")
    assert len(bem["surfs"]) == 1 and bem["surfs"][0]["np"] == 2562  # downsampled to ico 4 by make_bem_model
    with pytest.raises(FileNotFoundError, match="No BEM with 3 layer"):
        find_bem("sample", tmp_path, n_layers=3)
