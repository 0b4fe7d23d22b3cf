"""Malformed inputs at the workflow level: each case runs snakemake on a 2-subject dataset whose
sub-02 (or config) is broken, checks that the output names the offending file or config key, and
that sub-01's existing derivatives are neither lost nor rewritten (same bytes, same mtime).

The function-level checks are in tests/foundation/test_bids_inputs.py; here the point is what a
user sees in the snakemake output, and that valid subjects' results are safe.
"""

import gzip
import hashlib
import json
import os
import re
import resource
import shutil
import subprocess
import sys
from pathlib import Path

import nibabel as nib
import numpy as np
import pandas as pd
import pytest
import yaml

from conftest import REPO_ROOT, TINY_DEMO

pytestmark = pytest.mark.slow

# The cases are about inputs and the steps that read them (preprocessing, epochs, fMRI cleaning):
# the later stages are left out to keep the runs short.
BASE_CONFIG = {"r1glm": {"enabled": False}, "sparse": {"enabled": False}, "decoding": {"enabled": False}, "rsa": {"enabled": False},
               "report": {"enabled": False}}


def snakemake(workdir, configfile, *args, fsize_limit=None, timeout=900):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--cores", "2"]
    command += ["--configfile", str(configfile), "--keep-going", *args]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}

    def limit_file_size():  # a full disk, as seen by the writer: writes past the limit fail (EFBIG)
        import signal

        signal.signal(signal.SIGXFSZ, signal.SIG_IGN)
        resource.setrlimit(resource.RLIMIT_FSIZE, (fsize_limit, fsize_limit))

    result = subprocess.run(
        command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env,
        preexec_fn=limit_file_size if fsize_limit else None,
    )
    result.output = result.stdout + result.stderr
    return result


def state(folder):
    return {str(p): (hashlib.sha256(p.read_bytes()).hexdigest(), p.stat().st_mtime_ns) for p in sorted(Path(folder).rglob("*")) if p.is_file()}


class Study:
    """The dataset, its derivatives and a workdir, with helpers to break and restore inputs."""

    def __init__(self, root, workdir):
        self.root, self.workdir, self.deriv = root, workdir, workdir / "deriv"
        self._saved = {}

    def path(self, relative):
        return self.root / relative

    def config(self, **overrides):
        config = {"bids_root": str(self.root), "deriv_root": str(self.deriv), **BASE_CONFIG}
        for key, value in overrides.items():
            config[key] = {**config[key], **value} if isinstance(value, dict) and isinstance(config.get(key), dict) else value
        path = self.workdir / "case.yaml"
        path.write_text(yaml.safe_dump(config))
        return path

    def save(self, path):
        path = Path(path)
        if path not in self._saved:
            self._saved[path] = (path.read_bytes(), path.stat()) if path.exists() else None
        return path

    def write(self, relative, data):
        path = self.save(self.path(relative) if not Path(relative).is_absolute() else relative)
        (path.write_bytes if isinstance(data, bytes) else path.write_text)(data)
        return path

    def remove(self, relative):
        path = self.save(self.path(relative))
        path.unlink()
        return path

    def restore(self):
        for path, saved in self._saved.items():
            if saved is None:
                path.unlink(missing_ok=True)
                continue
            data, stat = saved
            path.write_bytes(data)
            os.utime(path, ns=(stat.st_atime_ns, stat.st_mtime_ns))
        self._saved.clear()


@pytest.fixture(scope="module")
def study(tmp_path_factory):
    from neuroopt.datasets import make_demo_dataset

    base = tmp_path_factory.mktemp("bad_inputs")
    root = make_demo_dataset(base / "ds", **{**TINY_DEMO, "n_subjects": 2})
    workdir = base / "work"
    workdir.mkdir()
    study = Study(root, workdir)
    first = snakemake(workdir, study.config())
    assert first.returncode == 0, first.output[-4000:]
    return study


@pytest.fixture
def case(study):
    """Yields the study; afterwards restores the inputs and checks sub-01's derivatives."""
    before = state(study.deriv / "sub-01")
    assert before, "the valid subject has no derivatives to protect"
    yield study
    study.restore()
    for extra in ("sub-03",):
        shutil.rmtree(study.root / extra, ignore_errors=True)
    assert state(study.deriv / "sub-01") == before, "a valid subject's derivatives were lost or rewritten"
    assert not [p for p in study.deriv.rglob(".*") if p.is_file()], "temporary files left in the derivatives"


# ------------------------------------------------------------------ inputs checked while planning
def _events(study, rel, **columns):
    frame = pd.read_csv(study.path(rel), sep="\t")
    for name, value in columns.items():
        if value is None:
            frame = frame.drop(columns=name)
        else:
            frame[name] = frame[name].astype(object)  # the value may be of another type ("soon")
            frame.loc[0, name] = value
    return study.write(rel, frame.to_csv(sep="\t", index=False))


FUNC1 = "sub-02/func/sub-02_task-demo_run-01"
FUNC2 = "sub-02/func/sub-02_task-demo_run-02"
EEG1 = "sub-02/eeg/sub-02_task-demo_run-01"
EEG2 = "sub-02/eeg/sub-02_task-demo_run-02"


def _bold_with(study, rel, *, t_r=None, data=None, drop_dim=False):
    img = nib.load(study.path(rel))
    array = np.asarray(img.dataobj, dtype=np.float32) if data is None else data(np.asarray(img.dataobj, dtype=np.float32))
    if drop_dim:
        array = array[..., 0]
    out = nib.Nifti1Image(array, img.affine, img.header)
    if t_r is not None:
        out.header.set_zooms(img.header.get_zooms()[:3] + (t_r,))
    path = study.save(study.path(rel))
    out.to_filename(path)
    return path


PLANNING_CASES = {
    "missing dataset_description.json": (
        lambda s: s.remove("dataset_description.json"), {}, lambda s: [f"{s.root / 'dataset_description.json'} is missing"]),
    "dataset_description.json not JSON": (
        lambda s: s.write("dataset_description.json", "{Name: x"), {}, lambda s: [f"{s.root / 'dataset_description.json'} is not valid JSON"]),
    "bids_root is a file": (
        lambda s: None, {"bids_root": "@file"}, lambda s: ["is a file, not a folder", str(s.workdir / "case.yaml")]),
    "events without trial_type": (
        lambda s: _events(s, FUNC1 + "_events.tsv", trial_type=None), {},
        lambda s: [f"{s.path(FUNC1 + '_events.tsv')} lacks the column(s) ['trial_type']"]),
    "events written as CSV": (
        lambda s: s.write(EEG1 + "_events.tsv", pd.read_csv(s.path(EEG1 + "_events.tsv"), sep="\t").to_csv(index=False)), {},
        lambda s: [f"{s.path(EEG1 + '_events.tsv')} lacks the column(s)"]),
    "negative duration": (
        lambda s: _events(s, EEG2 + "_events.tsv", duration=-1.0), {},
        lambda s: [f"{s.path(EEG2 + '_events.tsv')}: negative duration on row(s) [1]"]),
    "onset past the end of the run": (
        lambda s: _events(s, FUNC2 + "_events.tsv", onset=1e4), {},
        lambda s: [f"{s.path(FUNC2 + '_events.tsv')}: onset(s) on row(s)", "after the end"]),
    "non-numeric onset": (
        lambda s: _events(s, FUNC1 + "_events.tsv", onset="soon"), {},
        lambda s: [f"{s.path(FUNC1 + '_events.tsv')}: column 'onset' has non-numeric"]),
    "empty trial_type": (
        lambda s: _events(s, EEG1 + "_events.tsv", trial_type="n/a"), {},
        lambda s: [f"{s.path(EEG1 + '_events.tsv')}: empty trial_type on row(s) [1]"]),
    "missing events file": (
        lambda s: s.remove(EEG1 + "_events.tsv"), {}, lambda s: [f"{s.path(EEG1 + '_events.tsv')} is missing"]),
    "bold without RepetitionTime": (
        lambda s: s.write(FUNC1 + "_bold.json", json.dumps({"TaskName": "demo"})), {},
        lambda s: [f"{s.path(FUNC1 + '_bold.nii.gz')}: no RepetitionTime"]),
    "TR mismatch sidecar vs header": (
        lambda s: s.write(FUNC2 + "_bold.json", json.dumps({**json.loads(s.path(FUNC2 + "_bold.json").read_text()), "RepetitionTime": 3.5})), {},
        lambda s: [f"{s.path(FUNC2 + '_bold.nii.gz')}: the NIfTI header says TR", "RepetitionTime = 3.5 s"]),
    "bold sidecar not JSON": (
        lambda s: s.write(FUNC1 + "_bold.json", '{"RepetitionTime": 2.0,'), {}, lambda s: [f"{s.path(FUNC1 + '_bold.json')} is not valid JSON"]),
    "truncated bold header": (
        lambda s: s.write(FUNC2 + "_bold.nii.gz", s.path(FUNC2 + "_bold.nii.gz").read_bytes()[:40]), {},
        lambda s: [f"{s.path(FUNC2 + '_bold.nii.gz')} cannot be read as NIfTI"]),
    "bold is 3D": (
        lambda s: _bold_with(s, FUNC1 + "_bold.nii.gz", drop_dim=True), {}, lambda s: [f"{s.path(FUNC1 + '_bold.nii.gz')} is not a 4D image"]),
    "unknown nested config key": (
        lambda s: None, {"meeg": {"bad_channels": {"zscore": 4}}}, lambda s: [
            "meeg.bad_channels.zscore: unknown key", "did you mean meeg.bad_channels.zscore_threshold?"]),
    "config value of the wrong type": (
        lambda s: None, {"fmri": {"high_pass": "0.01"}}, lambda s: ["'0.01' is not of type", "high_pass"]),
    "subject filter matching nothing": (
        lambda s: None, {"subjects": ["99"]}, lambda s: ["'subjects' lists ['99']", "Available subjects: ['01', '02']"]),
    "task filter matching nothing": (
        lambda s: None, {"tasks": ["rest"]}, lambda s: ["tasks=['rest']"]),
}


@pytest.mark.parametrize("name", list(PLANNING_CASES))
def test_planning_error_names_the_input(case, name):
    mutate, overrides, needles = PLANNING_CASES[name]
    mutate(case)
    if overrides.get("bids_root") == "@file":
        overrides = {"bids_root": str(case.workdir / "case.yaml")}
    result = snakemake(case.workdir, case.config(**overrides))
    assert result.returncode != 0
    for needle in needles(case):
        assert needle in result.output, f"{needle!r} not in:\n{result.output[-3000:]}"
    assert "Job stats" not in result.output, "jobs ran although planning failed"


def test_subject_folder_without_data_is_skipped_and_named(case):
    (case.root / "sub-03" / "func").mkdir(parents=True)
    result = snakemake(case.workdir, case.config())
    assert result.returncode == 0, result.output[-3000:]
    assert f"{case.root / 'sub-03'}: no recording matching the selection" in result.output
    assert "Nothing to be done" in result.output


def test_skip_invalid_runs_the_valid_ones_and_names_the_skipped(case):
    bad = _events(case, FUNC1 + "_events.tsv", duration=-2.0)
    result = snakemake(case.workdir, case.config(on_invalid_input="skip"))
    assert result.returncode == 0, result.output[-3000:]
    assert f"Skipping {case.path(FUNC1 + '_bold.nii.gz')}: {bad}: negative duration" in result.output
    # the other run of sub-02 is still cleaned; the skipped one is not a target any more
    assert (case.deriv / "sub-02" / "func" / "sub-02_task-demo_run-02_desc-clean_bold.nii.gz").is_file()


# ------------------------------------------------------------------ inputs that fail inside a job
def _nan_in_eeg(study):
    path = study.save(study.path(EEG1 + "_eeg.eeg"))
    data = bytearray(path.read_bytes())
    offset = 4 * 61 * 100  # float32, 61 channels multiplexed: sample 100 of channel 1 (Fp1, EEG)
    data[offset : offset + 4] = np.array([np.nan], dtype="<f4").tobytes()
    path.write_bytes(bytes(data))


def _channel_renamed(study):
    rel = EEG1 + "_channels.tsv"
    table = pd.read_csv(study.path(rel), sep="\t")
    table.loc[0, "name"] = "NotAChannel"
    study.write(rel, table.to_csv(sep="\t", index=False))


def _truncated_bold_data(study):
    path = study.path(FUNC1 + "_bold.nii.gz")
    raw = gzip.decompress(path.read_bytes())
    study.write(path, gzip.compress(raw[: len(raw) // 2]))


def _nan_in_bold(study):
    def poison(data):
        data[1, 1, 1, 3] = np.nan
        return data

    _bold_with(study, FUNC1 + "_bold.nii.gz", data=poison)


def _truncated_clean_fif(study):
    path = study.deriv / "sub-02" / "eeg" / "sub-02_task-demo_run-02_proc-clean_raw.fif"
    study.write(path, path.read_bytes()[: path.stat().st_size // 2])


def _clean(study, run):
    return str(study.deriv / "sub-02" / "eeg" / f"sub-02_task-demo_run-{run}_proc-clean_raw.fif")


def _mask(study):
    return str(study.deriv / "sub-02" / "func" / "sub-02_task-demo_desc-brain_mask.nii.gz")


JOB_CASES = {
    "NaN in EEG data": (_nan_in_eeg, lambda s: _clean(s, "01"), lambda s: [f"{s.path(EEG1 + '_eeg.vhdr')} contains NaN"]),
    "channel names not matching channels.tsv": (
        _channel_renamed, lambda s: _clean(s, "01"), lambda s: [f"{s.path(EEG1 + '_eeg.vhdr')}: its channels.tsv does not match"]),
    "corrupt vhdr": (
        lambda s: s.write(EEG1 + "_eeg.vhdr", "not a BrainVision header\n"), lambda s: _clean(s, "01"),
        lambda s: [f"{s.path(EEG1 + '_eeg.vhdr')} could not be read"]),
    "truncated bold data": (_truncated_bold_data, _mask, lambda s: [f"{s.path(FUNC1 + '_bold.nii.gz')} cannot be read as NIfTI"]),
    "NaN in bold data": (_nan_in_bold, _mask, lambda s: [f"{s.path(FUNC1 + '_bold.nii.gz')} contains NaN"]),
    "truncated FIF (a derivative read by the next step)": (
        _truncated_clean_fif,
        lambda s: str(s.deriv / "sub-02" / "eeg" / "sub-02_task-demo_epo.fif"),
        lambda s: [f"{_clean(s, '02')} could not be read"]),
}


# files a job reads that are not declared inputs of its rule (see test_editing_a_companion_file_reruns)
UNTRACKED = {"NaN in EEG data": "meeg_preprocess", "channel names not matching channels.tsv": "meeg_preprocess"}


@pytest.mark.parametrize("name", list(JOB_CASES))
def test_job_error_names_the_input(case, name):
    mutate, target, needles = JOB_CASES[name]
    mutate(case)
    force = ("--forcerun", UNTRACKED[name]) if name in UNTRACKED else ()
    result = snakemake(case.workdir, case.config(), target(case), *force)
    assert result.returncode != 0
    assert "Error in rule" in result.output
    for needle in needles(case):
        assert needle in result.output, f"{needle!r} not in:\n{result.output[-4000:]}"
    assert not Path(target(case)).exists()


def test_editing_a_companion_file_reruns_the_recording(case):
    rel = EEG2 + "_channels.tsv"
    table = pd.read_csv(case.path(rel), sep="\t")
    case.write(rel, table.to_csv(sep="\t", index=False).replace("\n", "\r\n"))  # same table, edited
    assert Path(_clean(case, "02")).exists()
    result = snakemake(case.workdir, case.config(), _clean(case, "02"), "-n")
    assert result.returncode == 0, result.output[-3000:]
    assert "Nothing to be done" not in result.output


def test_disk_full_during_a_write_keeps_nothing_partial(case):
    target = Path(_clean(case, "02"))
    case.save(target)
    target.unlink()
    result = snakemake(case.workdir, case.config(), str(target), fsize_limit=1_000_000)
    assert result.returncode != 0
    assert f"while writing the outputs of rule meeg_preprocess ({target}" in result.output, result.output[-4000:]
    assert not target.exists()


# ------------------------------------------------------------------ --keep-going
def test_keep_going_finishes_other_subjects_and_lists_the_failed_one(case):
    case.write(EEG1 + "_eeg.vhdr", "not a BrainVision header\n")
    result = snakemake(case.workdir, case.config(report={"enabled": True}))
    assert result.returncode != 0
    reports = case.deriv / "reports"
    assert (reports / "sub-01_report.html").is_file(), result.output[-4000:]
    assert not (reports / "sub-02_report.html").exists()
    # sub-02's fMRI runs do not depend on the broken EEG file: they are done too
    assert (case.deriv / "sub-02" / "func" / "sub-02_task-demo_run-02_desc-clean_bold.nii.gz").is_file()
    assert f"{case.path(EEG1 + '_eeg.vhdr')} could not be read" in result.output
    assert "neuroopt: 1 job(s) failed" in result.output and "sub-02: rule meeg_preprocess" in result.output
    index = (reports / "index.html").read_text()
    assert 'href="sub-01_report.html"' in index and "Failed subjects" in index
    assert re.search(r"sub-02</td>.*rule meeg_preprocess: BIDSError: [^<]*could not be read", index, flags=re.S)
    assert (reports / "index.html").stat().st_mtime == 0  # rebuilt by group_report on the next full run
