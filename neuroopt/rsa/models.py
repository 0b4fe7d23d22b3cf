"""Model RDMs: built from condition labels, or read from TSV / NPY files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from .rdm import square_to_pairs


def model_rdm_from_labels(conditions, factor=None):
    """Categorical model RDM: 1 where two conditions differ (in one label factor), else 0.

    Parameters
    ----------
    conditions : sequence of str
        Sorted condition labels (RDM order), e.g. ``["auditory/left", "auditory/right", ...]``.
    factor : int | None
        Index of the ``"/"``-separated part to compare (``0``: "auditory" vs "visual",
        ``1``: "left" vs "right"); ``None`` compares whole labels (every pair differs).

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    conditions = [str(c) for c in conditions]
    if factor is None:
        levels = conditions
    else:
        parts = [c.split("/") for c in conditions]
        if any(len(p) <= factor for p in parts):
            raise ValueError(
                f"factor={factor} but some condition labels have fewer '/'-separated parts: "
                f"{conditions}."
            )
        levels = [p[factor] for p in parts]
    levels = np.asarray(levels)
    return square_to_pairs((levels[:, None] != levels[None, :]).astype(float))


def load_model_rdm(path, conditions):
    """Read a model RDM and put it in the order of ``conditions``.

    Parameters
    ----------
    path : path-like
        ``.tsv``: a square table whose first column and header hold the condition names;
        ``.npy``: a square array or an upper-triangle vector, already in the sorted order.
    conditions : sequence of str
        Sorted condition labels of the data RDMs.

    Returns
    -------
    ndarray, shape (n_pairs,)
    """
    path = Path(path)
    conditions = [str(c) for c in conditions]
    n_cond = len(conditions)
    if path.suffix == ".npy":
        values = np.load(path, allow_pickle=False).astype(float)
        if values.ndim == 2:
            if values.shape != (n_cond, n_cond):
                raise ValueError(f"{path} holds a {values.shape} RDM but there are {n_cond} conditions.")
            return square_to_pairs(values)
        if values.shape != (n_cond * (n_cond - 1) // 2,):
            raise ValueError(
                f"{path} holds {values.shape} values; expected {n_cond * (n_cond - 1) // 2} pairs."
            )
        return values
    if path.suffix != ".tsv":
        raise ValueError(f"Model RDM files must be .tsv or .npy, got {path.name!r}.")
    table = pd.read_csv(path, sep="\t", index_col=0)
    table.index = table.index.astype(str)
    table.columns = table.columns.astype(str)
    missing = sorted(set(conditions) - set(table.index) | set(conditions) - set(table.columns))
    if missing:
        raise ValueError(f"Model RDM {path.name} lacks conditions {missing}; it has {list(table.index)}.")
    return square_to_pairs(table.loc[conditions, conditions].to_numpy(dtype=float))
