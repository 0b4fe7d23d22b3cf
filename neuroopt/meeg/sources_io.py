"""Save and read the sparse source estimates of several conditions in one HDF5 file."""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd

from ..utils import atomic_path


def save_source_estimates(path, solutions):
    """Write ``{condition: SparseInverseSolution}`` to an HDF5 file (atomically).

    Each condition keeps its source estimate (data, vertices, tmin, tstep, kind), the noise-level
    table, and the regularization actually used.
    """
    import h5io

    payload = {}
    for condition, sol in solutions.items():
        stc = sol.stc
        payload[condition] = {
            "kind": type(stc).__name__,
            "data": np.asarray(stc.data),
            "vertices": [np.asarray(v) for v in stc.vertices],
            "tmin": float(stc.tmin),
            "tstep": float(stc.tstep),
            "subject": stc.subject or "",
            "noise_levels": {c: sol.noise_levels[c].tolist() for c in sol.noise_levels.columns},
            "alpha": float(sol.alpha),
            "alpha_max": float(sol.alpha_max),
            "alpha_method": str(sol.alpha_method),
            "explained_variance": float(sol.explained_variance),
        }
    with atomic_path(path, suffix=".h5") as tmp:
        h5io.write_hdf5(tmp, payload, title="neuroopt_sparse", overwrite=True, slash="replace")
    return path


def read_source_estimates(path):
    """Read a file of :func:`save_source_estimates`.

    Returns
    -------
    estimates : dict
        condition -> dict with ``stc`` (``mne.VolSourceEstimate`` or ``mne.SourceEstimate``),
        ``noise_levels`` (DataFrame), ``alpha``, ``alpha_max``, ``alpha_method``,
        ``explained_variance``.
    """
    import h5io

    payload = h5io.read_hdf5(path, title="neuroopt_sparse", slash="replace")
    out = {}
    for condition, item in payload.items():
        cls = getattr(mne, item["kind"])
        vertices = [np.asarray(v, dtype=int) for v in item["vertices"]]
        data = np.asarray(item["data"])
        stc = cls(data, vertices, item["tmin"], item["tstep"], item["subject"] or None)
        out[condition] = {
            "stc": stc,
            "noise_levels": pd.DataFrame(item["noise_levels"]),
            **{k: item[k] for k in ("alpha", "alpha_max", "alpha_method", "explained_variance")},
        }
    return out
