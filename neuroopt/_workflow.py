"""Locate the workflow files (Snakefile, config, profiles) in a clone or an installed wheel."""

from __future__ import annotations

from importlib import resources
from pathlib import Path


def workflow_root():
    """Folder holding ``Snakefile``, ``workflows/`` and ``config/``.

    In a wheel they are package data under ``neuroopt/_workflow``; in a clone (editable install)
    they are at the top of the repository, beside the ``neuroopt`` package.
    """
    packaged = resources.files("neuroopt") / "_workflow"
    if packaged.is_dir() and (packaged / "Snakefile").is_file():
        return Path(str(packaged))
    repo = Path(__file__).resolve().parents[1]
    if (repo / "Snakefile").is_file():
        return repo
    raise FileNotFoundError(
        "The neuroopt workflow files (Snakefile, workflows/, config/) were not found in the package "
        f"({packaged}) nor in the source tree ({repo}); reinstall neuroopt."
    )


def snakefile():
    return workflow_root() / "Snakefile"


def default_config():
    return workflow_root() / "config" / "config.yaml"


def profile_dir(name):
    """A profile bundled with neuroopt (``local``, ``slurm``), or a path given by the user."""
    path = Path(name)
    if path.is_dir():
        return path
    bundled = workflow_root() / "config" / "profiles" / name
    if not bundled.is_dir():
        available = sorted(p.name for p in (workflow_root() / "config" / "profiles").iterdir() if p.is_dir())
        raise FileNotFoundError(f"No profile {name!r}: give a folder or one of {available}.")
    return bundled
