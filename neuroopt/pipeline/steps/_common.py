"""Helpers shared by the step modules: reading a derivative with an error naming the file,
writing a JSON summary atomically, and the demo's ground truth."""

from __future__ import annotations

import json

from ...utils import atomic_write_text


def read_derivative(reader, path, **kwargs):
    """``reader(path, **kwargs)``, with an error naming the file when it cannot be read.

    Readers of FIF and NIfTI files fail on a damaged file with messages such as "cannot reshape
    array" that do not say which file; the workflow's user needs the file (and the fix).
    """
    try:
        return reader(path, **kwargs)
    except Exception as err:
        raise ValueError(
            f"{path} could not be read ({type(err).__name__}: {err}). The file is damaged (a copy that "
            "was cut short, a full disk...): delete it and rerun the workflow to recompute it."
        ) from err


def write_json(path, data, default=str):
    """Write ``data`` as indented JSON with sorted keys at ``path``, atomically.

    Values JSON cannot encode go through ``default`` (``str``, or ``float`` for numbers).
    """
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=default) + "\n")


def runs_repetition_time(sidecars, runs):
    """The repetition time the cleaned runs share, from their sidecars (``fmri_clean`` writes them).

    Raises a ``ValueError`` naming the runs when they differ: one model cannot fit them together.
    """
    t_rs = set()
    for path in sidecars:
        with open(path) as fid:
            t_rs.add(json.load(fid)["RepetitionTime"])
    if len(t_rs) != 1:
        raise ValueError(f"The runs {list(runs)} have different repetition times {sorted(t_rs)}; "
                         "fit them separately.")
    return t_rs.pop()


def demo_truth(info):
    """The demo ground truth (``load_demo_truth``) described by ``params.truth``, or None."""
    if not info:
        return None
    from ...datasets import load_demo_truth

    return load_demo_truth(info["root"], info["subject"])
