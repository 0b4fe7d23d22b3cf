"""Resumability: jobs killed mid-way (SIGTERM, SIGKILL, and the whole snakemake process) leave no
partial file, the run resumes as a user would (``--rerun-incomplete``), and its outputs equal those
of an uninterrupted run.

"Equal" per file type: FIF, NIfTI (nibabel writes gzip with mtime 0) and our JSON files must be
byte-identical (FIF files carry MNE's file ids, which are copied from the raw input, so they match
too); HTML reports must be equal after removing MNE's "Created on <date>" footer, the only time
stamp a third-party writer puts in our outputs, and after replacing the random UUIDs that MNE's HTML
representations of Raw/Info objects use as element ids (uuid4 per rendering).
"""

import hashlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, open_files

_MNE_REPORT_DATE = re.compile(rb"Created on [^<]*? via")
_UUID = re.compile(rb"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def snakemake_command(*args):
    return [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--cores", "2", *args]


def _env():
    return {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def run(workdir, *args, timeout=900):
    return subprocess.run(snakemake_command(*args), cwd=workdir, capture_output=True, text=True, timeout=timeout, env=_env())


def content_digest(path):
    """sha256 of what must be identical between runs (see the module docstring)."""
    data = Path(path).read_bytes()
    if path.suffix == ".html":
        data = _UUID.sub(b"<uuid>", _MNE_REPORT_DATE.sub(b"Created on <date> via", data))
    return hashlib.sha256(data).hexdigest()


def digests(root):
    return {str(p.relative_to(root)): content_digest(p) for p in sorted(Path(root).rglob("*")) if p.is_file()}


def _children(pid):
    """All descendants of ``pid`` (from /proc), each with its parent: ``{child: parent}``."""
    parents = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents.setdefault(int(fields[1]), []).append(int(stat.parent.name))
    out, todo = {}, [pid]
    while todo:
        parent = todo.pop()
        for child in parents.get(parent, []):
            out[child] = parent
            todo.append(child)
    return out


def _job_log(pid, log_dir):
    """The rule log under ``log_dir`` that process ``pid`` has open (run_rule opens it first)."""
    for target in open_files(pid):
        if target.startswith(str(log_dir) + os.sep) and target.endswith(".log"):
            return Path(target)
    return None


def _has_open(pid, path):
    return str(path) in open_files(pid)


def start_and_wait_for_job(workdir, log_path, *args, timeout=600):
    """Start snakemake; return (process, pid, log) of the job whose log is ``log_path`` once it runs.

    With ``log_path=None``, the first job that starts (which jobs are left depends on what the
    jobs running beside an interrupted one finished).

    The job is found as the descendant of snakemake holding its rule log open (``run_rule`` opens
    it first thing), so it is running neuroopt code, not starting up. Helper processes the job
    starts (e.g. multiprocessing's resource tracker, which ignores SIGTERM) inherit the open log:
    the job is the holder whose parent does not hold it.
    """
    process = subprocess.Popen(
        snakemake_command(*args), cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=_env()
    )
    log_path = (Path(workdir) / log_path).absolute() if log_path else None
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise AssertionError(f"snakemake ended before the job started:\n{process.stdout.read()[-3000:]}")
        descendants = _children(process.pid)
        holders = {}
        for pid in descendants:
            if log_path is None:
                found = _job_log(pid, (Path(workdir) / "logs").absolute())
                if found:
                    holders[pid] = found
            elif _has_open(pid, log_path):
                holders[pid] = log_path
        for pid, log in holders.items():
            if holders.get(descendants[pid]) != log:
                return process, pid, log
        time.sleep(0.2)
    process.kill()
    raise AssertionError(f"the job logging to {log_path} did not start within {timeout} s")


def _record(log):
    """The job's log text and its failure record, read right after the interruption."""
    record = log.with_name(log.name.replace(".log", ".failed.json"))
    return log.read_text(), json.loads(record.read_text()) if record.exists() else {}


def finish(process, timeout=900):
    output, _ = process.communicate(timeout=timeout)
    return process.returncode, output


def temporaries(deriv):
    """Files left under temporary names by atomic_path (hidden files in the derivatives)."""
    return sorted(str(p) for p in Path(deriv).rglob(".*") if p.is_file())


@pytest.fixture(scope="module")
def workflow(tmp_path_factory, tiny_demo):
    """An uninterrupted reference run, then a run interrupted three times and resumed."""
    workdir = tmp_path_factory.mktemp("resume")
    deriv = workdir / "deriv"
    config = workdir / "config.yaml"
    config.write_text(
        yaml.safe_dump(
            # the later stages (r1glm, sparse, decoding, RSA) have their own tests; left out here
            # to keep the repeated runs short (FIF, NIfTI, JSON and HTML outputs are still made)
            {"bids_root": str(tiny_demo), "deriv_root": str(deriv), "r1glm": {"enabled": False}, "sparse": {"enabled": False},
             "decoding": {"enabled": False}, "rsa": {"enabled": False}}
        )
    )
    args = ("--configfile", str(config))
    reference = run(workdir, *args)
    assert reference.returncode == 0, reference.stdout[-3000:] + reference.stderr[-3000:]
    shutil.move(deriv, workdir / "reference")
    shutil.rmtree(workdir / "logs")
    resume = ("--rerun-incomplete", *args)  # what the local profile sets
    phases = {}

    # 1. SIGTERM to a job (Ctrl-C, scancel and time limits send it)
    log = "logs/meeg_preprocess/sub-01/sub-01_task-demo_run-01_eeg.log"
    process, job, _ = start_and_wait_for_job(workdir, log, *resume)
    time.sleep(1.0)  # let it get into the computation
    os.kill(job, signal.SIGTERM)
    killed = deriv / "sub-01" / "eeg" / "sub-01_task-demo_run-01_proc-clean_raw.fif"
    phases["sigterm"] = (*finish(process), temporaries(deriv), workdir / log, killed.exists(), _record(workdir / log))

    # 2. SIGKILL to a job (the OOM killer): nothing in the job can clean up
    process, job, log = start_and_wait_for_job(workdir, None, *resume)
    time.sleep(0.5)
    os.kill(job, signal.SIGKILL)
    returncode, output = finish(process)
    rule = log.relative_to(workdir / "logs").parts[0]
    block = output[output.find(f"Error in rule {rule}") :]
    outputs = re.search(r"output: (.*)", block).group(1).split(", ") if "output: " in block else []
    phases["sigkill"] = (returncode, output, temporaries(deriv), log, [p for p in outputs if Path(p).exists()], outputs)

    # 3. SIGKILL to snakemake and its jobs (power loss): snakemake's own lock and incomplete
    # markers stay behind
    # (whichever job comes first: which ones are left depends on what finished in phase 2)
    process, job, _ = start_and_wait_for_job(workdir, None, *resume)
    time.sleep(1.0)
    for pid in [*_children(process.pid), process.pid]:
        os.kill(pid, signal.SIGKILL)
    process.communicate()
    phases["crash"] = run(workdir, *resume)
    phases["unlock"] = run(workdir, "--unlock", *args)

    final = run(workdir, *resume)
    assert final.returncode == 0, final.stdout[-3000:] + final.stderr[-3000:]
    phases["again"] = run(workdir, *resume)
    return {"workdir": workdir, "deriv": deriv, "reference": workdir / "reference", "phases": phases}


@pytest.mark.slow
def test_sigterm_stops_the_job_cleanly(workflow):
    returncode, output, temps, log, output_exists, (log_text, record) = workflow["phases"]["sigterm"]
    assert returncode != 0
    assert "Error in rule meeg_preprocess" in output, output[-3000:]
    assert temps == [], f"temporary files left by the terminated job: {temps}"
    assert not output_exists
    assert "FAILED: JobTerminated" in log_text and "SIGTERM" in log_text
    assert record["rule"] == "meeg_preprocess" and record["unit"] == "sub-01" and record["error"] == "JobTerminated"


@pytest.mark.slow
def test_sigkill_of_a_job_leaves_no_complete_looking_output(workflow):
    returncode, output, _, log, left, outputs = workflow["phases"]["sigkill"]
    rule = log.relative_to(workflow["workdir"] / "logs").parts[0]
    assert returncode != 0
    assert f"Error in rule {rule}" in output, output[-3000:]
    # Snakemake removes whatever outputs the killed job had already renamed into place
    assert outputs and left == [], left


@pytest.mark.slow
def test_crash_of_snakemake_is_resumed_after_unlock(workflow):
    crash, unlock = workflow["phases"]["crash"], workflow["phases"]["unlock"]
    # a killed snakemake leaves its lock: the next run refuses and tells the user to unlock
    assert crash.returncode != 0
    assert "--unlock" in crash.stdout + crash.stderr
    assert unlock.returncode == 0, unlock.stdout[-2000:] + unlock.stderr[-2000:]


@pytest.mark.slow
def test_resumed_outputs_equal_an_uninterrupted_run(workflow):
    resumed, reference = digests(workflow["deriv"]), digests(workflow["reference"])
    assert temporaries(workflow["deriv"]) == []
    assert sorted(resumed) == sorted(reference)
    differing = sorted(name for name in reference if resumed[name] != reference[name])
    assert differing == [], f"outputs differ from the uninterrupted run: {differing}"
    # and nothing is left to do
    again = workflow["phases"]["again"]
    assert again.returncode == 0 and "Nothing to be done" in again.stdout + again.stderr
    # no failure record survives a successful job
    assert list((workflow["workdir"] / "logs").rglob("*.failed.json")) == []


@pytest.mark.slow
def test_provenance_records_seed_config_and_versions(workflow, tiny_demo):
    deriv = workflow["deriv"]
    record = json.loads((deriv / "sub-01" / "eeg" / "sub-01_task-demo_run-01_proc-clean_raw.provenance.json").read_text())
    assert record["seed"] == 0
    # the job's inputs: the recording, then its BIDS companions (sidecars, channels.tsv, events.tsv...)
    assert record["inputs"][0] == str(tiny_demo / "sub-01" / "eeg" / "sub-01_task-demo_run-01_eeg.vhdr")
    assert str(tiny_demo / "sub-01" / "eeg" / "sub-01_task-demo_run-01_channels.tsv") in record["inputs"]
    assert record["params"]["cfg"]["artifacts"]["method"] == "ica" and len(record["params_hash"]) == 16
    assert "epochs" not in record["params"]["cfg"], "meeg_preprocess gets only the keys it uses"
    assert record["rule"] == "meeg_preprocess"
    assert record["outputs"] == sorted(
        ["sub-01_task-demo_run-01_proc-clean_raw.fif", "sub-01_task-demo_run-01_desc-preproc_summary.json",
         "sub-01_task-demo_run-01_ica.fif"]
    )
    import mne

    assert record["versions"]["mne"] == mne.__version__ and record["versions"]["neuroopt"]
    assert not re.search(r"\d{4}-\d\d-\d\d", json.dumps(record)), "a date would make identical runs differ"
    # every output of every job has one (the job runner writes them), reports included
    from neuroopt.io.derivatives import provenance_path

    outputs = [p for p in deriv.rglob("*") if p.is_file() and not p.name.endswith(".provenance.json")]
    missing = sorted(str(p.relative_to(deriv)) for p in outputs if not provenance_path(p).is_file())
    assert len(outputs) >= 19 and missing == [], missing  # M/EEG 6 + 4, fMRI 6, reports 2, dataset_description.json


# ---------------------------------------------------------------- the job wrapper, in process
class _Job:
    """The parts of Snakemake's ``snakemake`` script object that run_rule uses."""

    def __init__(self, tmp_path, outputs, unit="sub-01"):
        self.input = []
        self.output = [str(tmp_path / "deriv" / name) for name in outputs]
        self.log = [str(tmp_path / "logs" / "step" / f"{unit}.log")]
        Path(self.log[0]).parent.mkdir(parents=True, exist_ok=True)
        self.params, self.threads, self.rule = {}, 1, "step"
        self.wildcards = {"sdir": unit}


@pytest.fixture
def restore_sigterm():
    previous = signal.getsignal(signal.SIGTERM)
    yield
    signal.signal(signal.SIGTERM, previous)


@pytest.mark.usefixtures("restore_sigterm")
def test_sigterm_inside_a_write_removes_the_temporary_file(tmp_path):
    from neuroopt.pipeline.rule import JobTerminated, run_rule
    from neuroopt.utils import atomic_path

    job, seen = _Job(tmp_path, ["sub-01_x.fif"]), []

    def step(input, output, params, threads):
        with atomic_path(output[0]) as tmp:
            tmp.write_bytes(b"half of a file")
            seen.append(tmp)
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(30)  # interrupted: the handler raises

    start = time.monotonic()
    with pytest.raises(JobTerminated, match="SIGTERM"):
        run_rule(job, step)
    assert time.monotonic() - start < 20
    assert seen and not seen[0].exists() and not Path(job.output[0]).exists()
    record = json.loads((tmp_path / "logs" / "step" / "sub-01.failed.json").read_text())
    assert record["error"] == "JobTerminated" and record["unit"] == "sub-01" and record["rule"] == "step"
    assert "FAILED: JobTerminated" in Path(job.log[0]).read_text()


@pytest.mark.usefixtures("restore_sigterm")
def test_a_rerun_removes_what_a_killed_attempt_left(tmp_path):
    from neuroopt.pipeline.rule import run_rule
    from neuroopt.utils import atomic_write_text

    job = _Job(tmp_path, ["sub-01_x.json"])
    out = Path(job.output[0])
    out.parent.mkdir(parents=True)
    stale = [out.with_name(".sub-01_x.json.k2j3h4.json"), out.with_name(".sub-01_x.provenance.json.a8b7c6.json")]
    other_job = out.with_name(".sub-01_y.json.zz9z8z.json")  # another job's write in progress
    for path in (*stale, other_job):
        path.write_text("partial")
    record = tmp_path / "logs" / "step" / "sub-01.failed.json"
    record.write_text("{}")
    run_rule(job, lambda i, o, p, t: atomic_write_text(o[0], "{}"))
    assert out.read_text() == "{}"
    assert not any(p.exists() for p in stale) and other_job.exists()
    assert not record.exists(), "a successful job clears its failure record"


def test_failed_run_summary_and_group_page(tmp_path):
    from neuroopt.pipeline.rule import report_failed_run

    reports = tmp_path / "deriv" / "reports"
    reports.mkdir(parents=True)
    (reports / "sub-01_report.html").write_text("<html></html>")
    log = tmp_path / "logs" / "meeg_preprocess" / "sub-02" / "sub-02_task-x_run-01_eeg.log"
    log.parent.mkdir(parents=True)
    record = {"rule": "meeg_preprocess", "unit": "sub-02", "wildcards": {"sdir": "sub-02", "rec": "sub-02_task-x_run-01"},
              "error": "BIDSError", "message": "/ds/sub-02/eeg/x_eeg.vhdr contains NaN", "log": str(log),
              "outputs": [str(tmp_path / "deriv" / "missing.fif")], "time": ""}
    log.with_name(log.stem + ".failed.json").write_text(json.dumps(record))

    class Plan:
        config = {"report": {"enabled": True}}
        bids_root = tmp_path / "ds"
        invalid = [(tmp_path / "ds" / "sub-03", "no EEG/MEG or BOLD recording matching the selection")]

        def units(self):
            return {"sub-01": "sub-01", "sub-02": "sub-02"}

        def report(self, unit):
            return str(reports / f"{unit}_report.html")

        def group_summaries(self):
            return []

        def group_report(self):
            return str(reports / "index.html")

    summary = report_failed_run(Plan(), tmp_path / "logs")
    assert "1 job(s) failed" in summary and "sub-02: rule meeg_preprocess" in summary
    assert "BIDSError: /ds/sub-02/eeg/x_eeg.vhdr contains NaN" in summary and str(log) in summary
    index = (reports / "index.html").read_text()
    assert 'href="sub-01_report.html"' in index and 'href="sub-02_report.html"' not in index
    assert "Failed subjects" in index and "contains NaN" in index and "sub-03" in index
    assert (reports / "index.html").stat().st_mtime == 0


def test_failure_summary_ignores_earlier_runs(tmp_path):
    """A failure record left by an earlier run is not reported as a failure of this run."""
    import json
    import os
    import time

    from neuroopt.pipeline.rule import FAILURE_SUFFIX, collect_failures

    logs = tmp_path / "logs"
    logs.mkdir()
    for name, age in (("old", 3600), ("new", 0)):
        path = logs / f"{name}.log{FAILURE_SUFFIX}"
        record = {"rule": f"rule_{name}", "unit": "sub-01", "log": str(logs / f"{name}.log"), "outputs": [str(tmp_path / "missing")],
                  "error": "ValueError", "message": name, "wildcards": {}}
        path.write_text(json.dumps(record))
        stamp = time.time() - age
        os.utime(path, (stamp, stamp))
    start = time.time() - 60
    assert [r["rule"] for r in collect_failures(logs, since=start)] == ["rule_new"]
    assert [r["rule"] for r in collect_failures(logs)] == ["rule_new", "rule_old"]
