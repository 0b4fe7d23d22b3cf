"""Paths of neuroopt's BIDS derivatives and the provenance written beside them."""

from __future__ import annotations

import hashlib
import json
import platform
import sys
from functools import lru_cache
from importlib import metadata
from pathlib import Path

from ..utils import atomic_write_text

PIPELINE_NAME = "neuroopt"
_TRACKED_PACKAGES = ("neuroopt", "mne", "mne-bids", "nilearn", "nibabel", "numpy", "scipy", "scikit-learn", "numba")


def derivative_path(deriv_root, sdir, datatype, basename, suffix):
    """``<deriv_root>/<sdir>/<datatype>/<basename>_<suffix>``, e.g. ``.../sub-01/eeg/sub-01_task-x_epo.fif``.

    Parameters
    ----------
    deriv_root : path-like
        The derivatives folder (``<bids_root>/derivatives/neuroopt``).
    sdir : str
        Subject (and session) folder, ``sub-01`` or ``sub-01/ses-1``.
    datatype : str
        BIDS data type folder (``eeg``, ``meg``, ``func``).
    basename : str
        File name entities, e.g. ``sub-01_task-x``.
    suffix : str
        The rest of the name, e.g. ``epo.fif``.

    Returns
    -------
    path : Path
    """
    return Path(deriv_root) / sdir / datatype / f"{basename}_{suffix}"


@lru_cache(maxsize=1)
def _tool_versions():
    versions = {"python": sys.version.split()[0], "platform": platform.platform()}
    for name in _TRACKED_PACKAGES:
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


def tool_versions():
    """Versions of the packages that shape the numbers in the derivatives."""
    return dict(_tool_versions())


def config_hash(config):
    """Stable hash of a (JSON-serialisable) config section."""
    text = json.dumps(config, sort_keys=True, default=str)
    return hashlib.sha256(text.encode()).hexdigest()[:16]


def provenance_path(output_path):
    """``.../x_desc-clean_bold.nii.gz`` -> ``.../x_desc-clean_bold.provenance.json``."""
    output_path = Path(output_path)
    return output_path.with_name(output_path.name.split(".")[0] + ".provenance.json")


def write_provenance(output_path, *, inputs=(), params=None, seed=None, rule=None, outputs=None, hashed=None):
    """Write ``<output>.provenance.json`` beside an output: inputs, parameters, seed, tool versions.

    The workflow writes one for every output of every job (:func:`neuroopt.pipeline.rule.run_rule`).
    The JSON holds no time stamp so that identical runs give identical files.

    Parameters
    ----------
    output_path : path-like
        The output file described.
    inputs : iterable of path-like
        The files it was computed from.
    params : dict | None
        The parameters of the computation (JSON-serialisable; other values are written as text).
    seed : int | None
        The random seed used, if any.
    rule : str | None
        The workflow rule that wrote the file.
    outputs : iterable of path-like | None
        Every file written by the same job (names only are recorded); default: ``output_path``.
    hashed : dict | None
        The part of ``params`` that ``params_hash`` covers (default: all of it). The workflow
        hashes the config keys a rule uses, not the paths derived from the dataset's location,
        so that the same analysis of the same data has the same hash wherever it runs.

    Returns
    -------
    path : Path
        The provenance file.
    """
    output_path = Path(output_path)
    record = {
        "GeneratedBy": [{"Name": PIPELINE_NAME, "Version": tool_versions()["neuroopt"]}],
        "rule": rule,
        # a job's outputs may share a provenance file (x_bold.nii.gz and x_bold.json): the record
        # is the job's, the same for each of them
        "outputs": sorted(Path(p).name for p in (outputs if outputs is not None else [output_path])),
        "inputs": [str(p) for p in inputs],
        "params": params or {},
        "params_hash": config_hash(params or {} if hashed is None else hashed),
        "seed": seed,
        "versions": tool_versions(),
    }
    target = provenance_path(output_path)
    atomic_write_text(target, json.dumps(record, indent=2, sort_keys=True, default=str) + "\n")
    return target


def write_dataset_description(deriv_root, source_name="unknown"):
    """Write the derivative dataset's ``dataset_description.json`` (BIDS requires one)."""
    description = {
        "Name": f"{PIPELINE_NAME} derivatives of {source_name}",
        "BIDSVersion": "1.9.0",
        "DatasetType": "derivative",
        "GeneratedBy": [{"Name": PIPELINE_NAME, "Version": tool_versions()["neuroopt"]}],
    }
    path = Path(deriv_root) / "dataset_description.json"
    atomic_write_text(path, json.dumps(description, indent=2) + "\n")
    return path


def write_sessions_table(path, rows):
    """Write a BIDS ``sub-<label>_sessions.tsv``: one row per session, ``session_id`` first.

    Parameters
    ----------
    path : path-like
        The table, e.g. ``derivatives/neuroopt/sub-01/sub-01_sessions.tsv`` (written atomically).
    rows : list of dict
        One mapping per session, each with ``session_id`` and the same other columns.

    Returns
    -------
    path : Path
    """
    if not rows or any("session_id" not in row for row in rows):
        raise ValueError(f"rows of {path} must be one mapping per session, each with 'session_id'; got {rows!r}.")
    columns = ["session_id", *[key for key in rows[0] if key != "session_id"]]
    if any(set(row) != set(columns) for row in rows):
        raise ValueError(f"rows of {path} must have the same columns ({', '.join(columns)}); got {rows!r}.")
    lines = ["\t".join(columns)] + ["\t".join(str(row[c]) for c in columns) for row in rows]
    atomic_write_text(path, "\n".join(lines) + "\n")
    return Path(path)
