"""Helpers of test_slurm.py: the local SLURM test cluster, what SLURM recorded of a run, and a
comparison of two output trees by content (not bytes: FIF files carry a file id with a time stamp).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import time
from collections import Counter
from pathlib import Path

import numpy as np

# ------------------------------------------------------------------------------------ the cluster
SLURM_PACKAGES = ("slurmctld", "slurmd", "slurm-client", "munge", "slurmdbd", "mariadb-server")


def cannot_install_reason(tools):
    """Why slurm-local-up cannot install and start SLURM here, or None when it can try."""
    if not (tools / "slurm-local-up").is_file():
        return f"{tools / 'slurm-local-up'} not found: clone the repository beside shared/"
    if os.geteuid() != 0:
        return "installing and starting SLURM (slurm-local-up) needs root, as in CI"
    if shutil.which("apt-get") is None or shutil.which("dpkg-query") is None:
        return "slurm-local-up installs Debian's slurm-wlm packages and this system has no apt-get"
    return None


def packages_installed():
    for name in SLURM_PACKAGES:
        result = subprocess.run(["dpkg-query", "-W", "-f=${Status}", name], capture_output=True, text=True)
        if "install ok installed" not in result.stdout:
            return False
    return True


def cluster_answers():
    """True when a SLURM controller answers and sacct reaches the accounting database."""
    if shutil.which("sinfo") is None or shutil.which("sacct") is None:
        return False
    checks = (["sinfo", "-h", "-o", "%P"], ["sacct", "-n", "-X", "-S", "now"])
    return all(subprocess.run(c, capture_output=True, timeout=30).returncode == 0 for c in checks)


def bring_up(tools, timeout=900, lock_wait=600):
    """Run slurm-local-up; retry while another apt/dpkg holds the package lock.

    Returns ``(returncode, output, seconds)``.
    """
    # slurm-local-up sizes the node with `nproc`, which obeys OMP_NUM_THREADS: with the BLAS
    # pinning of the test session it would declare one CPU (and restart a running cluster).
    env = {k: v for k, v in os.environ.items() if k not in ("OMP_NUM_THREADS", "OMP_THREAD_LIMIT")}
    start = time.monotonic()
    while True:
        result = subprocess.run([str(tools / "slurm-local-up")], capture_output=True, text=True, timeout=timeout, env=env)
        output = result.stdout + result.stderr
        locked = result.returncode != 0 and re.search(r"Could not get lock|Unable to lock", output)
        if not locked or time.monotonic() - start > lock_wait:
            return result.returncode, output, time.monotonic() - start
        time.sleep(10)


def bring_down(tools):
    return subprocess.run([str(tools / "slurm-local-down")], capture_output=True, text=True, timeout=120)


# ------------------------------------------------------------------------------ what SLURM saw
def planned_jobs(snakemake_output):
    """Jobs per rule planned: from the "Job stats" table Snakemake prints before running, or from
    ``neuroopt run``'s one-line version of it ("neuroopt: 51 jobs on 2 cores: 1 demo_dataset, ...",
    wrapped on indented lines; ``all`` left out)."""
    if "Job stats:" in snakemake_output:
        table = snakemake_output.split("Job stats:", 1)[1].split("total", 1)[0]
        return Counter({rule: int(n) for rule, n in re.findall(r"^(\w+)\s+(\d+)\s*$", table, flags=re.M)})
    line = re.search(r"^neuroopt: \d+ jobs[^:]*:(.*(?:\n  .*)*)", snakemake_output, flags=re.M)
    assert line, "no job-count line in the output:\n" + snakemake_output[-3000:]
    return Counter({rule: int(n) for n, rule in re.findall(r"(\d+)\s+(\w+)", line.group(1))})


def slurm_run_id(snakemake_output):
    """The run id the SLURM plugin gives every job of one run as its job name."""
    return re.search(r"SLURM run ID: (\S+)", snakemake_output).group(1)


def slurm_jobs(run_id):
    """Every SLURM job named ``run_id``: {job id: {state, exit_code, steps, comment}}.

    sacct gives states and steps (from the accounting database); the comment, where the plugin
    writes ``rule_<name>[_wildcards_<...>]``, is not stored in accounting by default, so it comes
    from squeue, which keeps finished jobs for MinJobAge (an hour on the test cluster).
    """
    sacct = subprocess.run(
        ["sacct", "-n", "-P", "--name", run_id, "-S", "now-1days", "-o", "JobID,JobName,State,ExitCode"],
        capture_output=True, text=True, check=True,
    ).stdout
    jobs = {}
    for line in sacct.splitlines():
        job_id, _, state, exit_code = line.split("|")
        main_id, _, step = job_id.partition(".")
        if not step:
            jobs[main_id] = {"state": state, "exit_code": exit_code, "steps": {}, "comment": None}
    if jobs:
        steps = subprocess.run(
            ["sacct", "-n", "-P", "-j", ",".join(jobs), "-o", "JobID,State"], capture_output=True, text=True, check=True
        ).stdout
        for line in steps.splitlines():
            job_id, state = line.split("|")
            main_id, _, step = job_id.partition(".")
            if step and main_id in jobs:
                jobs[main_id]["steps"][step] = state
        queue = subprocess.run(
            ["squeue", "-h", "--states=all", "-j", ",".join(jobs), "-o", "%i|%k"], capture_output=True, text=True, check=True
        ).stdout
        for line in queue.splitlines():
            job_id, comment = line.split("|", 1)
            if job_id in jobs:
                jobs[job_id]["comment"] = comment
    return jobs


# ------------------------------------------------------------------------- outputs by content
# Outputs that measure the run rather than the data: they differ between any two runs.
# (The rank-1 GLM stores its fit time in its summary, its model and the report's table.)
VOLATILE_KEYS = ("fit_time_s", "fit_time_")
VOLATILE_HTML = re.compile(r"(<th>fit time \(s\)</th><td>)[^<]*")
# MNE's Report stamps its pages ("Created on <date>") and gives HTML elements random uuid ids.
HTML_STAMPS = re.compile(r"Created on \d{4}-\d\d-\d\d \d\d:\d\d:\d\d|[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def _array_difference(name, a, b):
    a, b = np.asarray(a), np.asarray(b)
    if a.shape != b.shape:
        return f"{name}: shape {a.shape} != {b.shape}"
    if a.dtype.kind == "V":  # structured (e.g. a NIfTI header): NaN fields make == False
        return None if a.dtype == b.dtype and a.tobytes() == b.tobytes() else f"{name}: records differ"
    if a.dtype.kind in "fc":
        if not np.array_equal(a, b, equal_nan=True):
            return f"{name}: values differ (max |diff| {np.nanmax(np.abs(a - b)):.3g})"
    elif not np.array_equal(a, b):
        return f"{name}: values differ"
    return None


def _compare_fif(path_a, path_b):
    import mne

    name = path_a.name
    diffs = []
    if name.endswith("_raw.fif"):
        a, b = (mne.io.read_raw_fif(p, preload=True, verbose="error") for p in (path_a, path_b))
        pairs = [("data", a.get_data(), b.get_data()), ("annotations.onset", a.annotations.onset, b.annotations.onset)]
        facts = [("ch_names", a.ch_names, b.ch_names), ("bads", a.info["bads"], b.info["bads"]),
                 ("sfreq", a.info["sfreq"], b.info["sfreq"]),
                 ("annotations", list(a.annotations.description), list(b.annotations.description))]
    elif name.endswith("_epo.fif"):
        a, b = (mne.read_epochs(p, preload=True, verbose="error") for p in (path_a, path_b))
        pairs = [("data", a.get_data(), b.get_data()), ("events", a.events, b.events)]
        facts = [("ch_names", a.ch_names, b.ch_names), ("event_id", a.event_id, b.event_id),
                 ("metadata", None if a.metadata is None else a.metadata.to_dict("list"),
                  None if b.metadata is None else b.metadata.to_dict("list"))]
    elif name.endswith("_ave.fif"):
        a, b = (mne.read_evokeds(p, verbose="error") for p in (path_a, path_b))
        pairs = [(f"evoked {ea.comment}", ea.data, eb.data) for ea, eb in zip(a, b)]
        facts = [("conditions", [(e.comment, e.nave) for e in a], [(e.comment, e.nave) for e in b]),
                 ("ch_names", a[0].ch_names, b[0].ch_names)]
    elif name.endswith("_cov.fif"):
        a, b = (mne.read_cov(p, verbose="error") for p in (path_a, path_b))
        pairs = [("data", a.data, b.data)]
        facts = [("names", a.ch_names, b.ch_names), ("nfree", a.nfree, b.nfree)]
    elif name.endswith("fwd.fif"):
        a, b = (mne.read_forward_solution(p, verbose="error") for p in (path_a, path_b))
        pairs = [("gain", a["sol"]["data"], b["sol"]["data"])]
        pairs += [(f"source space {i} rr", sa["rr"], sb["rr"]) for i, (sa, sb) in enumerate(zip(a["src"], b["src"]))]
        pairs += [(f"source space {i} vertno", sa["vertno"], sb["vertno"]) for i, (sa, sb) in enumerate(zip(a["src"], b["src"]))]
        facts = [("ch_names", a.ch_names, b.ch_names), ("source_ori", a["source_ori"], b["source_ori"])]
    elif name.endswith("_ica.fif"):
        a, b = (mne.preprocessing.read_ica(p, verbose="error") for p in (path_a, path_b))
        pairs = [("unmixing", a.unmixing_matrix_, b.unmixing_matrix_), ("mixing", a.mixing_matrix_, b.mixing_matrix_),
                 ("pca_components", a.pca_components_, b.pca_components_)]
        facts = [("exclude", sorted(a.exclude), sorted(b.exclude)), ("ch_names", a.ch_names, b.ch_names)]
    else:
        if path_a.read_bytes() != path_b.read_bytes():
            diffs.append(f"{name}: FIF kind without a content reader here, and the bytes differ")
        return diffs
    for label, va, vb in pairs:
        d = _array_difference(f"{name} {label}", va, vb)
        if d:
            diffs.append(d)
    diffs += [f"{name} {label}: {va!r} != {vb!r}" for label, va, vb in facts if va != vb]
    return diffs


def _compare_nifti(path_a, path_b):
    import nibabel as nib

    a, b = nib.load(path_a), nib.load(path_b)
    diffs = [_array_difference(f"{path_a.name} voxels", np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)),
             _array_difference(f"{path_a.name} affine", a.affine, b.affine)]
    if a.get_data_dtype() != b.get_data_dtype():
        diffs.append(f"{path_a.name}: dtype {a.get_data_dtype()} != {b.get_data_dtype()}")
    return [d for d in diffs if d]


def _normalise(value, prefixes):
    """Replace each run's own folder by the same placeholder, in every string of a JSON value."""
    if isinstance(value, dict):
        return {k: _normalise(v, prefixes) for k, v in value.items()}
    if isinstance(value, list):
        return [_normalise(v, prefixes) for v in value]
    if isinstance(value, str):
        for prefix in prefixes:
            value = value.replace(prefix, "<RUN>")
    return value


def _json_differences(a, b, where=""):
    if isinstance(a, dict) and isinstance(b, dict):
        out = [f"{where}/{k}: only in one run" for k in sorted(set(a) ^ set(b))]
        for k in sorted((set(a) & set(b)) - set(VOLATILE_KEYS)):
            out += _json_differences(a[k], b[k], f"{where}/{k}")
        return out
    if isinstance(a, list) and isinstance(b, list) and len(a) == len(b):
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _json_differences(x, y, f"{where}[{i}]")]
    return [] if a == b else [f"{where}: {a!r} != {b!r}"]


def _compare_object(name, a, b, prefixes, depth=0):
    """Loaded objects (joblib, HDF5): arrays by value, tables with ``equals``, strings with each
    run's folder replaced, containers and objects' attributes recursively."""
    import nibabel as nib
    import pandas as pd

    if depth > 10:
        return [f"{name}: nested too deep to compare"]
    if isinstance(a, (pd.DataFrame, pd.Series)) and type(a) is type(b):
        return [] if a.equals(b) else [f"{name}: tables differ"]
    if isinstance(a, nib.spatialimages.SpatialImage) and type(a) is type(b):
        diffs = (_array_difference(f"{name} voxels", np.asanyarray(a.dataobj), np.asanyarray(b.dataobj)),
                 _array_difference(f"{name} affine", a.affine, b.affine))
        return [d for d in diffs if d]
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        d = _array_difference(name, a, b)
        return [d] if d else []
    if isinstance(a, (str, Path)) and isinstance(b, (str, Path)):
        a, b = _normalise(str(a), prefixes), _normalise(str(b), prefixes)
        return [] if a == b else [f"{name}: {a!r} != {b!r}"]
    if isinstance(a, dict) and isinstance(b, dict):
        if set(a) != set(b):
            return [f"{name}: keys differ"]
        keys = [k for k in a if k not in VOLATILE_KEYS]
        return [d for k in keys for d in _compare_object(f"{name}.{k}", a[k], b[k], prefixes, depth + 1)]
    if isinstance(a, (list, tuple)) and isinstance(b, (list, tuple)):
        if len(a) != len(b):
            return [f"{name}: lengths differ"]
        return [d for i, (x, y) in enumerate(zip(a, b)) for d in _compare_object(f"{name}[{i}]", x, y, prefixes, depth + 1)]
    if hasattr(a, "__dict__") and type(a) is type(b):
        return _compare_object(name, vars(a), vars(b), prefixes, depth + 1)
    try:
        return [] if bool(a == b) else [f"{name}: {a!r} != {b!r}"]
    except (TypeError, ValueError):
        return [f"{name}: cannot compare {type(a).__name__}"]


def _read_hdf5(path):
    import h5py

    content = {}
    with h5py.File(path, "r") as f:
        def visit(key, obj):
            content[f"{key} attrs"] = {k: np.asarray(v) for k, v in obj.attrs.items()}
            if isinstance(obj, h5py.Dataset):
                content[key] = obj[()]
        f.visititems(visit)
    return content


def compare_file(path_a, path_b, prefixes):
    """Differences in content between two files of the same name (an empty list when equal)."""
    name = path_a.name
    if name.endswith(".fif"):
        return _compare_fif(path_a, path_b)
    if name.endswith((".nii", ".nii.gz")):
        return _compare_nifti(path_a, path_b)
    if name.endswith(".json"):
        a, b = (_normalise(json.loads(p.read_text()), prefixes) for p in (path_a, path_b))
        return [f"{name}{d}" for d in _json_differences(a, b)]
    if path_a.read_bytes() == path_b.read_bytes():
        return []
    if name.endswith(".joblib"):
        import joblib

        return _compare_object(name, joblib.load(path_a), joblib.load(path_b), prefixes)
    if name.endswith(".npz"):  # a zip archive: its entries carry the time they were written
        with np.load(path_a) as a, np.load(path_b) as b:
            return _compare_object(name, dict(a), dict(b), prefixes)
    if name.endswith(".h5"):  # HDF5 stores object times by default; compare datasets and attributes
        return _compare_object(name, _read_hdf5(path_a), _read_hdf5(path_b), prefixes)
    if name.endswith((".tsv", ".csv", ".txt", ".vhdr", ".vmrk", ".html", ".svg")):
        a, b = (_normalise(p.read_text(errors="replace"), prefixes) for p in (path_a, path_b))
        if name.endswith(".html"):
            a, b = (HTML_STAMPS.sub("<STAMP>", VOLATILE_HTML.sub(r"\1", t)) for t in (a, b))
        if a == b:
            return []
        at = next((i for i, (x, y) in enumerate(zip(a, b)) if x != y), min(len(a), len(b)))
        return [f"{name}: text differs at character {at}: {a[max(0, at - 80):at + 40]!r} != {b[max(0, at - 80):at + 40]!r}"]
    return [] if path_a.read_bytes() == path_b.read_bytes() else [f"{name}: bytes differ"]


def compare_trees(root_a, root_b, prefixes, skip=()):
    """Content differences between two output trees: missing files, then files that differ."""
    def files(root):
        return {p.relative_to(root) for p in root.rglob("*") if p.is_file() and not any(s in p.name for s in skip)}

    fa, fb = files(root_a), files(root_b)
    diffs = [f"{p}: only in {root_a}" for p in sorted(fa - fb)] + [f"{p}: only in {root_b}" for p in sorted(fb - fa)]
    for rel in sorted(fa & fb):
        diffs += [f"{rel.parent}/{d}" for d in compare_file(root_a / rel, root_b / rel, prefixes)]
    return diffs, len(fa & fb)
