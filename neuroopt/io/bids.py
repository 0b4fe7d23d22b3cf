"""Discover the recordings of a BIDS dataset once, and read its events and sidecars with clear errors.

The workflow calls :func:`discover_bids` once when it is parsed; jobs never re-scan the tree.
"""

from __future__ import annotations

import contextlib
import csv
import functools
import json
import math
import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from stat import S_ISREG
from typing import NamedTuple

import numpy as np
import pandas as pd

from ..utils import logger

# raw M/EEG formats MNE-BIDS reads, by the extension of the file that names the recording
MEEG_EXTENSIONS = (".fif", ".vhdr", ".edf", ".bdf", ".set", ".con", ".sqd", ".ds", ".pdf", ".mff", ".snirf")
ENTITY_ORDER = ("sub", "ses", "task", "acq", "ce", "rec", "dir", "run", "echo", "space", "res", "desc")
_ENTITY_RE = re.compile(r"([a-zA-Z]+)-([a-zA-Z0-9]+)")
EVENTS_COLUMNS = ("onset", "duration", "trial_type")


class BIDSError(ValueError):
    """Input that does not follow BIDS (or lacks what neuroopt needs); the message names the file."""


def parse_entities(fname):
    """Return (entities dict in file order, suffix, extension) of a BIDS file name."""
    name = Path(fname).name
    stem, dot, ext = name.partition(".")
    parts = stem.split("_")
    entities = {}
    for part in parts[:-1]:
        match = _ENTITY_RE.fullmatch(part)
        if match is None:
            raise BIDSError(f"{fname}: '{part}' is not a BIDS key-value entity (expected key-value).")
        entities[match.group(1)] = match.group(2)
    return entities, parts[-1], dot + ext


def make_basename(entities, suffix=None, extension=""):
    """Build a BIDS basename from entities (ordered as BIDS requires) and an optional suffix."""
    ordered = [f"{key}-{entities[key]}" for key in ENTITY_ORDER if entities.get(key) is not None]
    ordered += [f"{k}-{v}" for k, v in entities.items() if k not in ENTITY_ORDER and v is not None]
    if suffix:
        ordered.append(suffix)
    return "_".join(ordered) + extension


@dataclass(frozen=True)
class Recording:
    """One raw recording: an M/EEG run or a BOLD run, with its events file.

    Attributes
    ----------
    datatype : str
        ``"eeg"``, ``"meg"`` or ``"func"``.
    path : Path
        The data file (for M/EEG the file mne-bids reads; for fMRI the 4D NIfTI).
    entities : tuple
        ``((key, value), ...)`` in BIDS order, without the suffix.
    events : Path | None
        Its ``*_events.tsv``.
    """

    datatype: str  # "eeg", "meg" or "func"
    path: Path  # the data file (for M/EEG the file mne-bids reads; for fMRI the 4D NIfTI)
    entities: tuple  # ((key, value), ...) in BIDS order, without the suffix
    events: Path | None = None

    @functools.cached_property
    def entity_dict(self):
        return dict(self.entities)

    @property
    def subject(self):
        return self.entity_dict["sub"]

    @property
    def session(self):
        return self.entity_dict.get("ses")

    @property
    def task(self):
        return self.entity_dict.get("task")

    @property
    def run(self):
        return self.entity_dict.get("run")

    @functools.cached_property
    def stem(self):
        """BIDS basename of this recording without suffix, e.g. ``sub-01_task-demo_run-01``."""
        return make_basename(self.entity_dict)

    @functools.cached_property
    def group(self):
        """Basename of the runs analysed together (same subject/session/task), without ``run``."""
        entities = {k: v for k, v in self.entities if k in ("sub", "ses", "task")}
        return make_basename(entities)

    @functools.cached_property
    def companions(self):
        """The other files of this recording beside its data file (``<stem>_*``: sidecar JSON,
        channels.tsv, events.tsv, and the data/marker files of multi-file formats such as
        BrainVision's .eeg/.vmrk). A rule that reads the recording lists them as inputs, so that
        editing any of them reruns it."""
        prefix, folder, name = self.stem + "_", self.path.parent, self.path.name
        # one directory read per recording while planning (os.scandir: no Path or stat per entry)
        try:
            with os.scandir(folder) as entries:
                names = sorted(e.name for e in entries if e.name.startswith(prefix) and e.name != name and e.is_file())
        except (FileNotFoundError, NotADirectoryError):
            return ()
        return tuple(folder / n for n in names)

    @functools.cached_property
    def sdir(self):
        """Subject (and session) folder relative to the dataset root, e.g. ``sub-01/ses-01``."""
        return f"sub-{self.subject}" + (f"/ses-{self.session}" if self.session else "")


@dataclass
class BIDSLayout:
    """The recordings found in a BIDS dataset, indexed for the workflow.

    The workflow looks recordings up once per job while Snakemake builds the DAG (thousands of
    times on a large dataset), so the groups and the name index are computed once and reused
    until ``recordings`` changes (it is edited in place or replaced while the plan is made).

    Attributes
    ----------
    root : Path
        The dataset folder.
    recordings : list of Recording
        The recordings selected.
    excluded : list of (Path, str)
        Recordings left out, with the reason.
    """

    root: Path
    recordings: list = field(default_factory=list)
    excluded: list = field(default_factory=list)  # (path, reason)
    _cache: dict = field(default_factory=dict, init=False, repr=False, compare=False)

    def _cached(self, key, compute):
        recs = self.recordings
        # identity and length change with every append/remove/reassignment of the list
        version = (id(recs), len(recs), id(recs[0]) if recs else None, id(recs[-1]) if recs else None)
        if self._cache.get("version") != version:
            self._cache.clear()
            self._cache["version"] = version
        if key not in self._cache:
            self._cache[key] = compute()
        return self._cache[key]

    def select(self, datatype=None, group=None):
        return [
            rec
            for rec in self.recordings
            if (datatype is None or rec.datatype == datatype or (datatype == "meeg" and rec.datatype in ("eeg", "meg")))
            and (group is None or rec.group == group)
        ]

    def groups(self, datatype):
        """Sorted dict group name -> list of recordings (sorted by run) for one datatype family."""

        def compute():
            out = {}
            for rec in self.select(datatype):
                out.setdefault(rec.group, []).append(rec)
            return {key: sorted(value, key=lambda r: (r.run or "", r.stem)) for key, value in sorted(out.items())}

        # a new dict per call (callers may edit it); the run lists are shared: do not edit them
        return dict(self._cached(("groups", datatype), compute))

    def get(self, stem, datatype):
        def compute():
            index = {}
            for rec in self.recordings:
                index.setdefault((rec.datatype, rec.stem), rec)
            return index

        index = self._cached("by_stem", compute)
        kinds = ("eeg", "meg") if datatype == "meeg" else (datatype,)
        for kind in kinds:
            if (kind, stem) in index:
                return index[(kind, stem)]
        raise KeyError(f"No {datatype} recording named {stem!r} in {self.root}.")

    @property
    def subjects(self):
        return sorted({rec.subject for rec in self.recordings})


def check_bids_root(root):
    """Raise a BIDSError naming what is missing if ``root`` is not a BIDS dataset."""
    root = Path(root)
    if not root.exists():
        raise BIDSError(
            f"bids_root {str(root)!r} does not exist. Set the config key 'bids_root' to the folder of a "
            "BIDS dataset (or to 'demo' for the built-in demo dataset)."
        )
    if not root.is_dir():
        raise BIDSError(f"bids_root {str(root)!r} is a file, not a folder: point 'bids_root' at the dataset folder.")
    description = root / "dataset_description.json"
    if not description.is_file():
        raise BIDSError(
            f"{description} is missing, so {root} is not a BIDS dataset. Every BIDS dataset has a "
            "dataset_description.json at its top level (with at least Name and BIDSVersion): add one, "
            "or point 'bids_root' at the dataset's top folder."
        )
    try:
        json.loads(description.read_text())
    except json.JSONDecodeError as err:
        raise BIDSError(f"{description} is not valid JSON ({err}); fix or regenerate it.") from err
    return root


def _wanted(value, selection):
    return selection is None or selection == "all" or value in selection


def _meeg_file(folder, datatype):
    """Yield the files (or .ds folders) that name an M/EEG recording in one datatype folder."""
    for path in sorted(folder.iterdir()):
        name = path.name
        if name.startswith("."):
            continue
        stem, _, _ = name.partition(".")
        ext = name[len(stem):]
        if not stem.endswith(f"_{datatype}") or ext not in MEEG_EXTENSIONS:
            continue
        entities, _, _ = parse_entities(name)
        if entities.get("split", "01") not in ("01", "1"):
            continue  # later split files belong to the first one
        yield path, entities


def discover_bids(
    root,
    *,
    subjects=None,
    sessions=None,
    tasks=None,
    datatypes=("eeg", "meg", "func"),
    bold_root=None,
    bold_space=None,
):
    """Find the M/EEG and BOLD recordings of a BIDS dataset, and their events files.

    Parameters
    ----------
    root : path-like
        The BIDS dataset (the folder with ``dataset_description.json``).
    subjects, sessions, tasks : list of str | "all" | None
        Restrict to these labels (without the ``sub-``/``ses-``/``task-`` prefix).
    datatypes : tuple of str
        Which of ``"eeg"``, ``"meg"``, ``"func"`` to look for.
    bold_root : path-like | None
        Where to take BOLD images from instead of ``root``: an fMRIPrep derivatives folder. Events
        are always read from ``root``.
    bold_space : str | None
        With ``bold_root``, the ``space-`` label of the ``desc-preproc_bold`` images to use.

    Returns
    -------
    layout : BIDSLayout
    """
    root = check_bids_root(root)
    layout = BIDSLayout(root=root)
    sub_dirs = sorted(p for p in root.glob("sub-*") if p.is_dir())
    if not sub_dirs:
        raise BIDSError(f"{root} has no sub-* folders: a BIDS dataset keeps each subject's data in sub-<label>/.")
    for sub_dir in sub_dirs:
        label = sub_dir.name[4:]
        if not _wanted(label, subjects):
            continue
        ses_dirs = sorted(p for p in sub_dir.glob("ses-*") if p.is_dir()) or [sub_dir]
        found = 0
        for ses_dir in ses_dirs:
            if ses_dir is not sub_dir and not _wanted(ses_dir.name[4:], sessions):
                continue
            for datatype in datatypes:
                if datatype == "func":
                    found += _add_bold(layout, root, ses_dir, tasks, bold_root, bold_space)
                    continue
                folder = ses_dir / datatype
                if not folder.is_dir():
                    continue
                for path, entities in _meeg_file(folder, datatype):
                    if not _wanted(entities.get("task"), tasks):
                        continue
                    entities.pop("split", None)
                    events = _events_path(path, datatype)
                    layout.recordings.append(Recording(datatype, path, tuple(entities.items()), events))
                    found += 1
        if not found:
            layout.excluded.append((sub_dir, "no EEG/MEG or BOLD recording matching the selection"))
            logger.warning(f"{sub_dir}: no recording matching the selection; this subject is skipped.")
    if subjects not in (None, "all"):
        missing = sorted(set(subjects) - {d.name[4:] for d in sub_dirs})
        if missing:
            raise BIDSError(
                f"config 'subjects' lists {missing}, which have no sub-<label> folder in {root}. "
                f"Available subjects: {[d.name[4:] for d in sub_dirs]}."
            )
    if not layout.recordings:
        raise BIDSError(
            f"No recording in {root} matches subjects={subjects}, sessions={sessions}, tasks={tasks}, "
            f"datatypes={list(datatypes)}. Check these config keys against the dataset's file names."
        )
    return layout


def _events_path(data_path, suffix):
    name = data_path.name.split(".")[0]
    events = data_path.with_name(name[: -len(suffix)] + "events.tsv")
    return events if events.is_file() else None


def _add_bold(layout, root, ses_dir, tasks, bold_root, bold_space):
    raw_func = ses_dir / "func"
    if bold_root is None:
        candidates = sorted(raw_func.glob("*_bold.nii*")) if raw_func.is_dir() else []
    else:
        prep_func = Path(bold_root) / ses_dir.relative_to(root) / "func"
        pattern = f"*_space-{bold_space}_desc-preproc_bold.nii*" if bold_space else "*_desc-preproc_bold.nii*"
        candidates = sorted(prep_func.glob(pattern)) if prep_func.is_dir() else []
    count = 0
    for path in candidates:
        entities, _, _ = parse_entities(path.name)
        if not _wanted(entities.get("task"), tasks):
            continue
        raw_entities = {k: v for k, v in entities.items() if k not in ("space", "res", "desc")}
        events = raw_func / (make_basename(raw_entities, "events", ".tsv"))
        layout.recordings.append(
            Recording("func", path, tuple(raw_entities.items()), events if events.is_file() else None)
        )
        count += 1
    return count


_NA = "n/a"


def _parse_number(text):
    try:
        return float(text)
    except ValueError:
        return None


class _EventsTable(NamedTuple):
    """One parsed and checked events file, as plain columns (building a DataFrame costs more than
    parsing: planning only needs the checks, the onsets and the trial types)."""

    columns: dict  # name -> list of stripped strings, in file order
    numeric: dict  # "onset", "duration" -> float arrays in file order ("n/a" duration = 0)
    trial_types: frozenset


# Unbounded: planning reads every events file in two passes (the input checks, then each group's
# conditions), and an LRU cache smaller than the dataset evicts each file before its second read
# (8192 entries re-read 9 800 of the 12 000 files of 1000 subjects x 2 sessions x 2 x 3 runs).
# An entry is a few columns of short strings; a changed file gets a new key.
@functools.lru_cache(maxsize=None)
def _read_events_cached(path, mtime_ns, size):
    """Parse and check one events file; cached on (path, mtime, size) so planning reads it once."""
    try:
        text = Path(path).read_text(encoding="utf-8-sig")
    except UnicodeDecodeError as err:
        raise BIDSError(f"{path} is not a readable tab-separated file: {err}") from err
    rows = [row for row in csv.reader(text.splitlines(), delimiter="\t", quoting=csv.QUOTE_NONE) if row]
    if not rows:
        raise BIDSError(f"{path} is empty: it needs a header line (onset, duration, trial_type) and one line per event.")
    header, body = [h.strip() for h in rows[0]], rows[1:]
    bad_width = [i + 2 for i, row in enumerate(body) if len(row) != len(header)]
    if bad_width:
        raise BIDSError(
            f"{path} is not a readable tab-separated file: line(s) {bad_width[:10]} do not have the "
            f"{len(header)} tab-separated fields of the header {header}."
        )
    missing = [col for col in EVENTS_COLUMNS if col not in header]
    if missing:
        raise BIDSError(
            f"{path} lacks the column(s) {missing} (it has {header}). BIDS events files "
            "need onset and duration; neuroopt also needs trial_type to know each event's condition."
        )
    if not body:
        raise BIDSError(f"{path} has no events: add the task's events or exclude this run with the config 'tasks'.")
    columns = {name: [row[i].strip() for row in body] for i, name in enumerate(header)}
    numeric = {}
    for col in ("onset", "duration"):
        values = [(np.nan if v == _NA and col == "duration" else _parse_number(v)) for v in columns[col]]
        bad = [i + 1 for i, v in enumerate(values) if v is None or (col == "onset" and not math.isfinite(v))]
        bad += [i + 1 for i, v in enumerate(values) if col == "duration" and v is not None and math.isinf(v)]
        if bad:
            raise BIDSError(f"{path}: column '{col}' has non-numeric values on row(s) {sorted(bad)[:10]}.")
        numeric[col] = np.asarray(values, dtype=float)
    numeric["duration"] = np.nan_to_num(numeric["duration"], nan=0.0)  # "n/a" duration = an impulse
    for col, what in (("duration", "durations are >= 0 seconds"), ("onset", "onsets are seconds from the first scan/sample")):
        rows_bad = (np.flatnonzero(numeric[col] < 0) + 1).tolist()
        if rows_bad:
            raise BIDSError(f"{path}: negative {col} on row(s) {rows_bad[:10]}; {what}.")
    empty = [i + 1 for i, v in enumerate(columns["trial_type"]) if v in ("", _NA)]
    if empty:
        raise BIDSError(f"{path}: empty trial_type on row(s) {empty[:10]}; give every event a condition.")
    return _EventsTable(columns, numeric, frozenset(columns["trial_type"]))


@functools.lru_cache(maxsize=8192)
def _events_frame(path, mtime_ns, size):
    """The checked events of one file as a DataFrame sorted by onset (cached like the parse).

    pandas reads the file and infers the types of the other columns; onset, duration and
    trial_type are the checked values of :func:`_read_events_cached`.
    """
    table = _read_events_cached(path, mtime_ns, size)
    events = pd.read_csv(path, sep="\t", na_values=[_NA], keep_default_na=False,
                         quoting=csv.QUOTE_NONE, encoding="utf-8-sig")
    events.columns = [str(name).strip() for name in events.columns]
    events["onset"] = table.numeric["onset"]
    events["duration"] = table.numeric["duration"]
    events["trial_type"] = pd.array(table.columns["trial_type"], dtype="str")
    order = np.argsort(events["onset"].to_numpy(), kind="stable")
    return events.iloc[order].reset_index(drop=True)


def _file_key(path, missing):
    """``(path, mtime_ns, size)``: the key of the per-file read caches, so that a file changed
    on disk is read again. ``missing`` is the BIDSError message when ``path`` is not a file."""
    try:
        stat = os.stat(path)
    except (FileNotFoundError, NotADirectoryError) as err:
        raise BIDSError(missing) from err
    if not S_ISREG(stat.st_mode):
        raise BIDSError(missing)
    return str(path), stat.st_mtime_ns, stat.st_size


def _checked_events_table(path, n_scans, t_r, duration):
    """Stat, parse (once) and check one events file, including events past the recording's end."""
    path = Path(path)
    key = _file_key(path, f"{path} is missing: every task recording needs its _events.tsv "
                          "(onset, duration, trial_type).")
    table = _read_events_cached(*key)
    if n_scans is not None and t_r is not None:
        duration = n_scans * t_r
    if duration is not None:
        late = np.flatnonzero(table.numeric["onset"] >= duration)
        if late.size:
            rows = (late + 1).tolist()[:10]
            raise BIDSError(
                f"{path}: onset(s) on row(s) {rows} are at or after the end of the recording ({duration:g} s). "
                "Check that the events belong to this run and are in seconds."
            )
    return key, table


def read_events(path, *, n_scans=None, t_r=None, duration=None):
    """Read a BIDS ``events.tsv`` and check what the analyses need.

    Parameters
    ----------
    path : path-like
        The events file.
    n_scans, t_r : int, float | None
        With both, events starting after the end of the run are an error.
    duration : float | None
        Length of the recording in seconds (alternative to ``n_scans * t_r``).

    Returns
    -------
    events : pandas.DataFrame
        With float ``onset`` and ``duration`` (``n/a`` durations are 0) and str ``trial_type``,
        sorted by onset; other columns as int, float or str.

    Notes
    -----
    The file is parsed once per (path, modification time, size) in a process: planning a large
    dataset checks each events file several times without re-reading it.
    """
    key, _ = _checked_events_table(path, n_scans, t_r, duration)
    # a new frame sharing the cached data: pandas' copy-on-write copies it if a caller edits it
    return _events_frame(*key).copy(deep=False)


def events_trials(path):
    """``(trial_types, onsets)`` of an events file, in file order, from the planning cache.

    What planning needs to count the trials of each condition in each run (and to split a run in
    halves) without building a DataFrame; same checks and errors as :func:`read_events`.
    """
    _, table = _checked_events_table(path, None, None, None)
    return list(table.columns["trial_type"]), table.numeric["onset"]


def check_events_file(path, *, n_scans=None, t_r=None, duration=None):
    """Check an events file like :func:`read_events` and return its trial types, without a DataFrame.

    What planning needs from each events file (the checks and the condition names), at a fraction
    of the cost of :func:`read_events` on large datasets; same errors, same cache.

    Returns
    -------
    trial_types : frozenset of str
    """
    _, table = _checked_events_table(path, n_scans, t_r, duration)
    return table.trial_types


# folder -> sorted names, while planning reads the sidecars of every run (see listing_cache)
_LISTINGS = None


@contextlib.contextmanager
def listing_cache():
    """Within this block, :func:`find_sidecar` lists each folder once.

    Planning looks up the inherited sidecars of every BOLD run, and each lookup lists the folders
    up to the dataset root (whose listing has every subject): on 200 subjects that was a third of
    the input checks. The tree must not change inside the block.
    """
    global _LISTINGS
    outer, _LISTINGS = _LISTINGS, {} if _LISTINGS is None else _LISTINGS
    try:
        yield
    finally:
        _LISTINGS = outer


def _json_names(folder, ending):
    """Sorted names in ``folder`` that end with ``ending`` ([] if it cannot be listed)."""
    if _LISTINGS is not None and folder in _LISTINGS:
        names = _LISTINGS[folder]
    else:
        try:
            names = sorted(e.name for e in os.scandir(folder) if e.name.endswith(".json"))
        except OSError:
            names = []
        if _LISTINGS is not None:
            _LISTINGS[folder] = names
    return [name for name in names if name.endswith(ending)]


def find_sidecar(data_path, suffix, root=None):
    """Find the JSON sidecars of a data file by BIDS inheritance, most general first.

    Returns the list of existing sidecar paths whose entities are a subset of the data file's, from
    the dataset root down to the file's folder (later ones override earlier ones).

    Parameters
    ----------
    data_path : path-like
        The data file (e.g. ``*_bold.nii.gz``).
    suffix : str
        The sidecar's suffix (``"bold"``, ``"eeg"``...).
    root : path-like | None
        Dataset root: the search stops there (default: the first folder with a
        ``dataset_description.json``).

    Returns
    -------
    sidecars : list of Path
    """
    data_path = Path(data_path)
    entities, _, _ = parse_entities(data_path.name)
    folder = data_path.parent
    stop = Path(root) if root is not None else None
    folders = [folder]
    while folder.parent != folder and (stop is None or folder != stop):
        folder = folder.parent
        folders.append(folder)
        if (folder / "dataset_description.json").exists():
            break
    found = []
    ending = f"{suffix}.json"
    for level in reversed(folders):
        for name in _json_names(level, ending):
            candidate = level / name
            cand_entities, cand_suffix, _ = parse_entities(name)
            if cand_suffix != suffix:
                continue
            if all(entities.get(k) == v for k, v in cand_entities.items()):
                found.append(candidate)
    return found


@functools.lru_cache(maxsize=8192)
def _read_header_cached(path, mtime_ns, size):
    import nibabel as nib

    try:
        # the header alone (a quarter of the cost of nib.load on small images); NIfTI-2 and
        # other formats through nib.load
        with nib.openers.ImageOpener(path) as fobj:
            block = fobj.read(348)
        if len(block) == 348 and 348 in (int.from_bytes(block[:4], "little"), int.from_bytes(block[:4], "big")):
            return nib.Nifti1Header(block, endianness="<" if block[:4] == (348).to_bytes(4, "little") else ">")
        return nib.load(path).header
    except Exception as err:  # nibabel raises several types for corrupt files
        raise BIDSError(f"{path} cannot be read as NIfTI ({type(err).__name__}: {err}).") from err


def _shared_bold_header(bold_path):
    """The cached header itself (read-only use in this module: no copy)."""
    return _read_header_cached(*_file_key(bold_path, f"{bold_path} does not exist."))


def read_bold_shape(bold_path):
    """The data shape of a BOLD image from its header, read once per path, modification time and size.

    Raises a BIDSError naming the file when it cannot be read as NIfTI. Planning uses it for the
    number of volumes, without loading the data.
    """
    return _shared_bold_header(bold_path).get_data_shape()


def _read_json_sidecar(path):
    """The metadata of one JSON sidecar, parsed once per (path, modification time, size): an
    inherited sidecar (e.g. the dataset's ``task-x_bold.json``) is shared by every run."""
    return _read_json_cached(*_file_key(path, f"{path} does not exist."))


@functools.lru_cache(maxsize=1024)
def _read_json_cached(path, mtime_ns, size):
    try:
        return json.loads(Path(path).read_text())
    except json.JSONDecodeError as err:
        raise BIDSError(f"{path} is not valid JSON ({err}).") from err


def read_repetition_time(bold_path, root=None, check_header=True, tolerance=1e-3):
    """RepetitionTime (s) of a BOLD run from its JSON sidecar(s), checked against the NIfTI header.

    Raises a BIDSError naming the file when no sidecar gives RepetitionTime, when it is not a
    positive number, or (``check_header``) when the header's pixdim[4] disagrees with it by more
    than ``tolerance`` seconds while being set (headers with a zero or unit TR are treated as unset
    only when ``check_header="lenient"``).

    Parameters
    ----------
    bold_path : path-like
        The BOLD run.
    root : path-like | None
        Dataset root, for inherited sidecars (see :func:`find_sidecar`).
    check_header : bool | "lenient"
        Compare with the NIfTI header's TR; ``"lenient"`` ignores headers with a TR of 0 or 1.
    tolerance : float
        Largest accepted difference in seconds.

    Returns
    -------
    t_r : float
        Repetition time in seconds.
    """
    bold_path = Path(bold_path)
    t_r = None
    for sidecar in find_sidecar(bold_path, "bold", root=root):
        meta = _read_json_sidecar(sidecar)
        if "RepetitionTime" in meta:
            t_r = meta["RepetitionTime"]
            source = sidecar
    if t_r is None:
        raise BIDSError(
            f"{bold_path}: no RepetitionTime found in its JSON sidecar(s). Add \"RepetitionTime\": <seconds> to "
            f"{bold_path.name.split('.')[0]}.json (or to a task-level *_bold.json at the dataset root)."
        )
    if isinstance(t_r, bool) or not isinstance(t_r, (int, float)) or not np.isfinite(t_r) or t_r <= 0:
        raise BIDSError(f"{source}: RepetitionTime must be a positive number of seconds, got {t_r!r}.")
    if check_header:
        header = _shared_bold_header(bold_path)
        zooms = header.get_zooms()
        if len(zooms) < 4:
            raise BIDSError(f"{bold_path} is not a 4D image (shape {header.get_data_shape()}): a BOLD run is 4D.")
        header_tr = float(zooms[3])
        unit = header.get_xyzt_units()[1]
        if unit == "msec":
            header_tr /= 1000.0
        unset = header_tr == 0 or (check_header == "lenient" and header_tr == 1.0)
        if not unset and abs(header_tr - float(t_r)) > tolerance:
            raise BIDSError(
                f"{bold_path}: the NIfTI header says TR = {header_tr:g} s but {source.name} says "
                f"RepetitionTime = {t_r:g} s. Fix whichever is wrong (set fmri.check_tr_header: false to "
                "trust the sidecar)."
            )
    return float(t_r)
