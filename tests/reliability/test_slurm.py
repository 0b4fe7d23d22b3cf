"""The workflow on a real SLURM cluster through snakemake-executor-plugin-slurm, with the bundled
profile (``neuroopt run --profile slurm``).

``../shared/tools/slurm-local-up`` installs and starts a single-node cluster on this machine
(slurmctld, slurmd, munge, slurmdbd + MariaDB accounting, so the plugin's ``sacct`` polls work);
the module brings it up once and down at the end (unless it was already up). The profile groups
the jobs (one SLURM job per subject, one for the group-level steps, one for the demo generator):
the number of SLURM jobs must equal the number of groups, all completed, the outputs must equal
those of a local run, and a job that fails inside a group must end the run, naming the rule and
its log, in bounded time.
"""

import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
import yaml

from conftest import REPO_ROOT, TINY_DEMO, open_files, tiny_demo_workflow
from slurm_helpers import (
    bring_down,
    bring_up,
    cannot_install_reason,
    cluster_answers,
    compare_trees,
    packages_installed,
    planned_jobs,
    slurm_jobs,
    slurm_run_id,
)

pytestmark = [pytest.mark.slurm, pytest.mark.slow]

TOOLS = REPO_ROOT.parent / "shared" / "tools"
# Short jobs: poll sacct 1 s after submission (the profile says 10 s, the plugin's default is 40 s).
FAST_POLL = ["--slurm-init-seconds-before-status-checks", "1", "--latency-wait", "5"]
ENV = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def neuroopt_run(workdir, configfile, *args, timeout=1200):
    """``neuroopt run`` (the CLI users call) in ``workdir``; returns the process and its seconds."""
    command = [sys.executable, "-m", "neuroopt.cli", "run", "--configfile", str(configfile), *args]
    start = time.monotonic()
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout, env=ENV)
    return result, time.monotonic() - start


def write_config(path, **config):
    path.write_text(yaml.safe_dump(config))
    return path


@pytest.fixture(scope="module")
def slurm_cluster():
    """A running single-node SLURM cluster with accounting; skip only where it cannot be installed."""
    reason = cannot_install_reason(TOOLS)
    if reason:
        pytest.skip(f"no local SLURM cluster: {reason}")
    try:
        import snakemake_executor_plugin_slurm  # noqa: F401
    except ImportError:
        pytest.fail("snakemake-executor-plugin-slurm is not installed: pip install -e '.[test]' (or '.[slurm]')")
    was_up = cluster_answers()
    code, output, seconds = bring_up(TOOLS)
    if code != 0 and not packages_installed():
        pytest.skip(f"SLURM cannot be installed here (slurm-local-up failed to install it):\n{output[-1500:]}")
    assert code == 0, f"slurm-local-up failed (logs in /var/log/slurm/):\n{output[-3000:]}"
    print(f"\nslurm-local-up: {seconds:.0f} s ({'already up' if was_up else 'started'})")
    yield
    if not was_up:
        down = bring_down(TOOLS)
        assert down.returncode == 0, down.stderr


@pytest.fixture(scope="module")
def slurm_and_local_runs(slurm_cluster, tmp_path_factory):
    """The tiny demo run on SLURM with the bundled profile and, at the same time, locally: the local
    run is the one test_workflow.py checks (conftest.tiny_demo_workflow, made once per session;
    when the other worker is making it, this one waits for it while the SLURM run goes on)."""
    workdir = tmp_path_factory.mktemp("run_slurm")
    config = write_config(workdir / "tiny.yaml", demo={**TINY_DEMO, "path": "demo-ds"})
    with ThreadPoolExecutor(1) as pool:
        slurm = pool.submit(neuroopt_run, workdir, config, "--profile", "slurm", *FAST_POLL)
        local_dir, _, _, local_result = tiny_demo_workflow(tmp_path_factory)
        slurm_result, slurm_seconds = slurm.result()
    print(f"\nworkflow on SLURM: {slurm_seconds:.0f} s")
    assert slurm_result.returncode == 0, slurm_result.stdout[-4000:] + slurm_result.stderr[-6000:]
    return {"slurm": (workdir, slurm_result), "local": (local_dir, local_result)}


def profile_groups():
    """rule -> group name, from the slurm profile's ``groups:``."""
    profile = yaml.safe_load((REPO_ROOT / "config" / "profiles" / "slurm" / "config.yaml").read_text())
    return dict(item.split("=", 1) for item in profile["groups"])


def test_one_slurm_job_per_group(slurm_and_local_runs):
    workdir, result = slurm_and_local_runs["slurm"]
    output = result.stdout + result.stderr
    planned = planned_jobs(output)
    grouped = profile_groups()
    # `all` only collects targets (no action): Snakemake never submits it. Every other job runs on
    # the cluster: the subject's jobs in its group job, the group-level ones in theirs, the demo
    # generator alone.
    expected = planned - Counter({"all": planned["all"]})
    # subjects_done writes a marker where Snakemake runs, not on the cluster (localrules, workflows/gate.smk)
    expected -= Counter({"subjects_done": planned["subjects_done"]})
    assert {"demo_dataset", "meeg_preprocess", "fmri_clean", "subject_report", "group_report"} <= set(expected)
    alone = {rule: n for rule, n in expected.items() if rule not in grouped}
    assert alone == {"demo_dataset": 1}, alone
    group_jobs = Counter(re.findall(r"Group job (\w+) \(jobs in lexicogr\. order\)", output))
    # the tiny demo has one subject: one group job for it, one for the group page
    assert group_jobs == Counter({"subject": 1, "dataset": 1}), group_jobs
    jobs = slurm_jobs(slurm_run_id(output))
    assert len(jobs) == sum(alone.values()) + sum(group_jobs.values()), (expected, jobs)
    for job_id, job in jobs.items():
        assert job["state"] == "COMPLETED" and job["exit_code"] == "0:0", (job_id, job)
        assert job["steps"] and all(state == "COMPLETED" for state in job["steps"].values()), (job_id, job)
    kinds = Counter(
        "demo_dataset" if job["comment"].startswith("rule_demo_dataset") else job["comment"].split("_")[1] for job in jobs.values()
    )
    assert kinds == Counter({"demo_dataset": 1, "subject": 1, "dataset": 1}), [job["comment"] for job in jobs.values()]
    assert "Nothing to be done" not in output
    assert f"reports: {workdir / 'demo-ds' / 'derivatives' / 'neuroopt' / 'reports' / 'index.html'}" in output


def test_per_rule_jobs_without_groups(slurm_cluster, tmp_path):
    """``--groups none=none`` (replacing the profile's groups by one for a rule that does not exist)
    submits one SLURM job per rule instance, as before groups; checked on the planned jobs (dry run)."""
    config = write_config(tmp_path / "tiny.yaml", demo={**TINY_DEMO, "path": "demo-ds"})
    result, _ = neuroopt_run(tmp_path, config, "--profile", "slurm", "--groups", "none=none", "-n")
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-3000:]
    assert "Group job" not in output
    grouped, _ = neuroopt_run(tmp_path, config, "--profile", "slurm", "-n")
    assert "Group job subject" in grouped.stdout + grouped.stderr


def test_slurm_outputs_equal_a_local_run(slurm_and_local_runs):
    (slurm_dir, _), (local_dir, _) = slurm_and_local_runs["slurm"], slurm_and_local_runs["local"]
    # The whole demo tree: the generated BIDS dataset, its truth, and every derivative.
    diffs, n_files = compare_trees(slurm_dir / "demo-ds", local_dir / "demo-ds", prefixes=(str(slurm_dir), str(local_dir)))
    assert n_files > 50
    assert not diffs, "\n".join(diffs[:40])


def test_failing_job_ends_the_run_with_its_rule_and_log(slurm_cluster, tiny_demo, tmp_path):
    """A recording whose EEG data file is missing passes planning (which does not read signals);
    its job fails on the cluster, and the run must stop, naming the rule and its log."""
    dataset = tmp_path / "ds"
    shutil.copytree(tiny_demo, dataset)
    broken = sorted(dataset.glob("sub-01/eeg/*_run-02_eeg.eeg"))
    assert len(broken) == 1
    broken[0].unlink()
    config = write_config(tmp_path / "broken.yaml", bids_root=str(dataset), fmri={"enabled": False})
    timeout = 900
    result, seconds = neuroopt_run(tmp_path, config, "--profile", "slurm", *FAST_POLL, timeout=timeout)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    assert seconds < timeout / 3, f"the failed run took {seconds:.0f} s to end"
    log = Path("logs/meeg_preprocess/sub-01/sub-01_task-demo_run-02_eeg.log")
    # the job runs inside the subject's group job: Snakemake names the group and its failed
    # member's rule and log; neuroopt's summary names the rule, the error and the log
    assert "Error in group subject" in output or "Error in rule meeg_preprocess" in output, output[-3000:]
    assert "rule meeg_preprocess" in output and str(log) in output, output[-3000:]
    assert re.search(r"sub-01: rule meeg_preprocess .*\n.*\n\s+log: .*" + re.escape(str(log)), output), output[-3000:]
    assert ".snakemake/slurm_logs/group_subject_" in output  # the SLURM job's own log
    text = (tmp_path / log).read_text()
    assert "rule meeg_preprocess FAILED" in text and "_run-02_eeg.eeg" in text, text[-2000:]
    jobs = slurm_jobs(slurm_run_id(output))
    states = Counter(job["state"] for job in jobs.values())
    assert states["FAILED"] == 1, jobs
    print(f"\nfailing run ended after {seconds:.0f} s")


def _process_holding(path):
    """The process that has ``path`` open and whose parent does not (a job's python, not the
    helpers that inherited its log), or None."""
    # A job's helper processes (multiprocessing's resource tracker, which ignores SIGTERM) hold the
    # log too: reading the job's descriptors must not miss it, or a helper is taken for the job.
    holders = {}
    for proc in Path("/proc").glob("[0-9]*"):
        if str(path) in open_files(proc.name):
            try:
                holders[int(proc.name)] = int((proc / "stat").read_text().rsplit(")", 1)[1].split()[1])
            except OSError:
                continue
    return next((pid for pid, parent in holders.items() if parent not in holders), None)


def test_interrupted_group_job_resumes(slurm_cluster, tiny_demo, tmp_path):
    """A member of a subject's group job is terminated (SIGTERM, as a time limit sends it): the
    group job and the run fail, naming the group; the same command again finishes the run, with
    no temporary file left. (The SLURM "node" is this machine, so the member's process is found
    by the rule log it holds open, as in test_resume.py.)"""
    deriv = tmp_path / "deriv"
    config = write_config(
        tmp_path / "c.yaml", bids_root=str(tiny_demo), deriv_root=str(deriv),
        fmri={"enabled": False}, sparse={"enabled": False},
    )
    command = [sys.executable, "-m", "neuroopt.cli", "run", "--configfile", str(config), "--profile", "slurm", *FAST_POLL]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    log = (tmp_path / "logs/meeg_preprocess/sub-01/sub-01_task-demo_run-01_eeg.log").absolute()
    deadline, pid = time.monotonic() + 900, None
    while pid is None and process.poll() is None and time.monotonic() < deadline:
        pid = _process_holding(log)
        time.sleep(0.5)
    assert pid is not None, "the member job did not start"
    time.sleep(1.0)
    os.kill(pid, signal.SIGTERM)
    output, _ = process.communicate(timeout=900)
    assert process.returncode != 0, output[-3000:]
    assert "Error in group subject" in output and "rule meeg_preprocess" in output, output[-3000:]
    assert "FAILED: JobTerminated" in log.read_text()
    resumed, _ = neuroopt_run(tmp_path, config, "--profile", "slurm", *FAST_POLL, timeout=1200)
    output = resumed.stdout + resumed.stderr
    assert resumed.returncode == 0, output[-4000:]
    assert "Group job subject" in output
    assert sorted(str(p) for p in deriv.rglob(".*") if p.is_file()) == []
    assert (deriv / "reports" / "sub-01_report.html").is_file()
    again, _ = neuroopt_run(tmp_path, config, "--profile", "slurm", "-n")
    assert "Nothing to be done" in again.stdout + again.stderr


def test_cancelled_group_job_ends_the_run(slurm_cluster, tiny_demo, tmp_path):
    """``scancel`` of a subject's group job. sacct reports its state as "CANCELLED by <uid>", which
    the plugin (2.8) does not count as a failure: with its default status command (sacct) the run
    waits for the job forever. With ``--slurm-status-command squeue`` (state "CANCELLED") the run
    ends soon after, naming the group (README "When something goes wrong")."""
    config = write_config(tmp_path / "c.yaml", bids_root=str(tiny_demo), deriv_root=str(tmp_path / "deriv"),
                          fmri={"enabled": False}, sparse={"enabled": False})
    command = [sys.executable, "-m", "neuroopt.cli", "run", "--configfile", str(config), "--profile", "slurm", *FAST_POLL,
               "--slurm-status-command", "squeue"]
    process = subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=ENV)
    lines = []
    reader = threading.Thread(target=lambda: lines.extend(process.stdout), daemon=True)
    reader.start()
    try:
        deadline, job_id = time.monotonic() + 600, None
        while job_id is None and process.poll() is None and time.monotonic() < deadline:
            time.sleep(1.0)
            run_id = re.search(r"SLURM run ID: (\S+)", "".join(lines))
            if run_id:
                queue = subprocess.run(["squeue", "-h", "--name", run_id.group(1), "-o", "%i|%k|%T"],
                                       capture_output=True, text=True).stdout
                job_id = next((line.split("|")[0] for line in queue.splitlines()
                               if line.split("|")[1].startswith("rule_subject_") and line.endswith("|RUNNING")), None)
        assert job_id is not None, "the subject's group job did not start:\n" + "".join(lines)[-3000:]
        subprocess.run(["scancel", job_id], check=True)
        cancelled = time.monotonic()
        state = ""
        while not state.startswith("CANCELLED") and time.monotonic() - cancelled < 60:
            time.sleep(1.0)
            state = subprocess.run(["sacct", "-X", "-n", "-P", "-j", job_id, "-o", "State"], capture_output=True, text=True).stdout.strip()
        assert re.fullmatch(r"CANCELLED by \d+", state), state  # what the plugin's sacct poll reads
        process.wait(timeout=300)
        seconds = time.monotonic() - cancelled
    finally:
        if process.poll() is None:
            process.kill()
        reader.join(timeout=10)
    output = "".join(lines)
    assert process.returncode != 0, output[-3000:]
    assert "neuroopt: the run failed" in output, output[-3000:]
    snakemake_log = max((tmp_path / ".snakemake" / "log").glob("*.snakemake.log")).read_text()
    assert "Error in group subject" in snakemake_log, snakemake_log[-3000:]
    assert seconds < 120, f"the run ended {seconds:.0f} s after the scancel"
    print(f"\nrun ended {seconds:.0f} s after the scancel")
