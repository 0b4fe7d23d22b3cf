"""Labels of MNE epochs: event names (with MNE's "/" tags) and runs."""

from __future__ import annotations

import numpy as np


def epoch_event_names(epochs):
    """Event name of each epoch, from ``epochs.event_id``."""
    id_to_name = {code: name for name, code in epochs.event_id.items()}
    return np.array([id_to_name[code] for code in epochs.events[:, 2]])


def match_condition(names, selector):
    """Epochs whose event name equals ``selector`` or carries it as a "/"-separated tag."""
    tags = set(selector.split("/"))
    return np.array([name == selector or tags.issubset(name.split("/")) for name in names])


def epochs_labels(epochs, selectors=None):
    """Label of each epoch and which epochs are kept.

    Parameters
    ----------
    epochs : mne.Epochs
    selectors : list of str | None
        Event names or MNE tags (``"auditory"`` matches ``"auditory/left"``). With selectors,
        each kept epoch is labelled with the (single) selector it matches; ``None`` keeps all
        epochs labelled by their event name.

    Returns
    -------
    labels : ndarray of str, shape (n_kept,)
    keep : ndarray of bool, shape (n_epochs,)
    """
    names = epoch_event_names(epochs)
    if selectors is None:
        return names, np.ones(names.size, bool)
    selectors = list(selectors)
    matches = np.array([match_condition(names, sel) for sel in selectors])
    for sel, match in zip(selectors, matches):
        if not match.any():
            raise ValueError(f"Condition {sel!r} matches no epoch; event names are {sorted(set(names))}.")
    overlap = matches.sum(axis=0) > 1
    if overlap.any():
        raise ValueError(
            f"Conditions {selectors} overlap: epoch(s) with event {names[overlap][0]!r} match "
            "more than one; give disjoint conditions."
        )
    keep = matches.any(axis=0)
    labels = np.array(selectors)[np.argmax(matches, axis=0)]
    return labels[keep], keep


def epochs_runs(epochs, runs):
    """Run of each epoch: a column of ``epochs.metadata`` (by name) or an array."""
    if isinstance(runs, str):
        if epochs.metadata is None or runs not in epochs.metadata:
            cols = [] if epochs.metadata is None else list(epochs.metadata.columns)
            raise ValueError(
                f"runs={runs!r} is not a column of epochs.metadata (columns: {cols}). Pass the "
                "run of each epoch as an array or add it to the metadata."
            )
        return epochs.metadata[runs].to_numpy()
    runs = np.asarray(runs)
    if runs.shape != (len(epochs),):
        raise ValueError(f"runs must have one entry per epoch ({len(epochs)}), got shape {runs.shape}.")
    return runs
