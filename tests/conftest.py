"""Shared pytest fixtures: where the real test datasets live, and BLAS pinned to one thread."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from neuroopt.utils import pin_blas_threads

REPO_ROOT = Path(__file__).resolve().parents[1]

pin_blas_threads(1)


def snakemake(workdir, *args, configfile=None, timeout=900):
    """Run the project's Snakefile in ``workdir`` (2 cores, one BLAS thread per job); the CompletedProcess."""
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(REPO_ROOT / "Snakefile"), "--cores", "2"]
    if configfile:
        command += ["--configfile", str(configfile)]
    env = {**os.environ, "OPENBLAS_NUM_THREADS": "1", "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    return subprocess.run(command + list(args), cwd=workdir, capture_output=True, text=True, timeout=timeout, env=env)


def _shared_data_root():
    env = os.environ.get("NEUROOPT_SHARED_DATA")
    return Path(env) if env else REPO_ROOT.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data():
    """Folder of the small real datasets (``../shared/data`` beside the repo); skip when absent."""
    root = _shared_data_root()
    if not root.is_dir():
        pytest.skip(
            f"real test data not found at {root}: clone the repo beside shared/ or set "
            "NEUROOPT_SHARED_DATA to its data/ folder"
        )
    return root


def shared_dataset(name):
    """Return the path of one shared dataset, skipping the test with the reason when missing."""
    path = _shared_data_root() / name
    if not path.is_dir():
        pytest.skip(f"real dataset {name!r} not found at {path} (see ../shared/data/*/README.md)")
    return path


TINY_DEMO = dict(n_subjects=1, n_runs=2, eeg_trials_per_condition=20, fmri_trials_per_condition=6, fmri_resolution=8.0)


@pytest.fixture(scope="session")
def tiny_demo(tmp_path_factory):
    """A small demo BIDS dataset (1 subject, 2 runs, EEG + fMRI at 8 mm), generated once per session."""
    from neuroopt.datasets import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "neuroopt-demo", **TINY_DEMO)
