"""Preconditions of the analysis stages that are known when the workflow is planned.

A stage that cannot apply to a recording (a single run for cross-validated decoding or crossnobis
RSA, a contrast with fewer than two classes present, EEG without electrode positions for source
estimation...) is planned out with its reason, logged once at planning and listed on the group
page, instead of failing when its job runs. The checks read only what planning already reads
(events files, file names, a BrainVision header's text).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

import numpy as np

from ..io.bids import events_trials

FAMILY_NAMES = {"meeg": "M/EEG", "func": "fMRI"}
# training trials of each class that the decoders' shrinkage LDA needs in every fold
MIN_TRAIN_PER_CLASS = 2


@dataclass(frozen=True)
class PlannedOut:
    """A stage left out of the plan for one subject/session/task, with the reason."""

    stage: str  # "decoding", "rsa" or "sparse"
    family: str  # "meeg" or "func"
    group: str  # e.g. "sub-01_task-localizer"
    reason: str
    contrast: str | None = None

    @property
    def what(self):
        """E.g. ``fMRI decoding faceVsHouse``."""
        return f"{FAMILY_NAMES[self.family]} {self.stage}" + (f" {self.contrast}" if self.contrast else "")

    def message(self):
        """One line, e.g. ``fMRI decoding skipped for sub-01 task-localizer: 1 run; ...``."""
        return f"{self.what} skipped for {self.group.replace('_', ' ')}: {self.reason}"


def partitions(recs, conditions, single_run="skip", gap=30.0):
    """Trial counts per condition of each cross-validation partition: the runs, or two halves.

    Parameters
    ----------
    recs : list of Recording
        The runs of one subject/session/task (with their events files).
    conditions : collection of str
        The conditions analysed (other trial types are not counted).
    single_run : "skip" | "split_half"
        With one run and ``"split_half"``, the partitions are the halves of
        :func:`neuroopt.decoding.cv.split_half_runs` (what the job will use).
    gap : float
        Seconds free of trials around the split.

    Returns
    -------
    counts : list of Counter
        condition -> number of trials, one per partition.
    unit : str
        ``"run"`` or ``"half"``.
    """
    conditions = set(conditions)
    if len(recs) == 1 and single_run == "split_half":
        from ..decoding.cv import split_half_runs  # only here: planning does not import scikit-learn otherwise

        types, onsets = events_trials(recs[0].events)
        keep = np.array([t in conditions for t in types], dtype=bool)
        if not keep.any():
            return [Counter()], "half"
        types = [t for t, k in zip(types, keep) if k]
        halves = split_half_runs(onsets[keep], gap)
        return [Counter(t for t, h in zip(types, halves) if h == half) for half in (1, 2)], "half"
    counts = []
    for rec in recs:
        types, _ = events_trials(rec.events)
        counts.append(Counter(t for t in types if t in conditions))
    return counts, "run"


def _class_counts(counts, classes):
    """(n_partitions, n_classes) trials of each class (a class is a condition or a ``/`` tag)."""
    names = sorted({name for part in counts for name in part})
    members = {c: [n for n in names if n == c or c in n.split("/")] for c in classes}
    return np.array([[sum(part[n] for n in members[c]) for c in classes] for part in counts], dtype=int)


def _single_run_hint(family):
    if family == "func":
        return " (or set fmri.single_run: split_half to use the two halves of the run as runs)"
    return ""


def decoding_problem(counts, unit, classes, family):
    """Why a contrast cannot be decoded with folds grouped by run, or None.

    Parameters
    ----------
    counts, unit
        From :func:`partitions`.
    classes : tuple of str
        The contrast's classes (conditions or tags).
    family : "meeg" | "func"
    """
    if len(counts) < 2:
        return f"1 {unit}; cross-validation needs runs (train and test on different runs){_single_run_hint(family)}"
    table = _class_counts(counts, classes)
    absent = [c for c, n in zip(classes, table.sum(axis=0)) if n == 0]
    if len(classes) - len(absent) < 2:
        return f"classes {absent} have no trial, so fewer than 2 of the classes {list(classes)} are present"
    if absent:
        return f"class(es) {absent} of {list(classes)} have no trial"
    # leave-one-run-out: the classifier (shrinkage LDA) needs 2 training trials of each class per fold
    train = table.sum(axis=0)[None, :] - table
    fold, klass = np.unravel_index(np.argmin(train), train.shape)
    if train[fold, klass] < MIN_TRAIN_PER_CLASS:
        return (
            f"too few trials: with {unit} {fold + 1} held out, class {classes[klass]!r} has {train[fold, klass]} "
            f"training trial(s); the classifier needs {MIN_TRAIN_PER_CLASS} per class in every fold"
        )
    return None


def rsa_problem(counts, unit, conditions, family, noise_from_trials):
    """Why a crossnobis RDM cannot be computed, or None.

    Parameters
    ----------
    counts, unit
        From :func:`partitions`.
    conditions : list of str
        The RDM conditions.
    family : "meeg" | "func"
    noise_from_trials : bool
        The noise is estimated from the trials' residuals around their (run, condition) means.
    """
    if len(conditions) < 2:
        return f"{len(conditions)} condition(s); an RDM needs 2 or more"
    if len(counts) < 2:
        return f"1 {unit}; crossnobis distances are cross-validated across runs{_single_run_hint(family)}"
    empty = [(i + 1, c) for i, part in enumerate(counts) for c in conditions if part[c] == 0]
    if empty:
        index, cond = empty[0]
        return (
            f"condition {cond!r} has no trial in {unit} {index} ({len(empty)} empty {unit} x condition cell(s)); "
            f"crossnobis needs every condition in every {unit}"
        )
    if noise_from_trials and all(part[c] <= 1 for part in counts for c in conditions):
        fix = "set rsa.fmri_noise: glm_residuals" if family == "func" else "set rsa.noise: none"
        return f"every ({unit}, condition) cell has a single trial, so the trials give no noise estimate ({fix})"
    return None


def _vhdr_has_coordinates(path):
    try:
        text = path.read_text(encoding="latin-1", errors="replace")
    except OSError:
        return True  # unreadable here: let the job report it
    return "[Coordinates]" in text


def _header_has_positions(path):
    """EEG channel positions in the data file's header (formats other than BrainVision and FIF)."""
    import mne

    try:
        raw = mne.io.read_raw(path, preload=False, verbose="error")
    except Exception:  # unreadable here: the preprocessing job reports it with the file
        return True
    locs = [ch["loc"][:3] for ch in raw.info["chs"] if ch["kind"] == mne.io.constants.FIFF.FIFFV_EEG_CH]
    return any(np.all(np.isfinite(loc)) and np.any(loc != 0) for loc in locs)


def has_electrode_positions(rec):
    """Whether an EEG recording comes with electrode positions (BIDS electrodes.tsv, or in its file).

    Parameters
    ----------
    rec : Recording

    Returns
    -------
    bool
    """
    folder = rec.path.parent
    prefix = f"sub-{rec.subject}" + (f"_ses-{rec.session}" if rec.session else "")
    if folder.is_dir() and any(
        p.name.startswith(prefix) and p.name.endswith("_electrodes.tsv") for p in folder.iterdir()
    ):
        return True
    suffix = rec.path.suffix.lower()
    if suffix == ".fif":
        return True  # FIF files carry their digitization
    if suffix == ".vhdr":
        return _vhdr_has_coordinates(rec.path)
    return _header_has_positions(rec.path)


def sparse_problem(recs, forward):
    """Why sparse source estimation cannot run on a subject's M/EEG, or None.

    Parameters
    ----------
    recs : list of Recording
    forward : str
        The ``sparse.forward`` config value: a model built from the sensor positions, or a
        ``-fwd.fif`` path (which needs no positions).
    """
    if str(forward).endswith(".fif") or recs[0].datatype != "eeg":
        return None
    if not has_electrode_positions(recs[0]):
        return (
            f"EEG without electrode positions ({recs[0].path.name}: no _electrodes.tsv, none in the data file); "
            "a forward model needs them: add the BIDS electrodes.tsv, or give sparse.forward a -fwd.fif made elsewhere"
        )
    return None
