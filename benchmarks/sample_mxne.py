"""The standard MxNE problem of the MNE sample data, prepared exactly as ``mne.inverse_sparse.mixed_norm``.

Shared by ``bench_sparse.py`` and the benchopt benchmarks (``benchopt_*/``). The problem is the one
``mixed_norm`` solves on the sample subject: an evoked condition of ``test-ave.fif.gz`` cropped
to 0-200 ms, MEG only, the gain of a volume source space (inner-skull BEM) whitened with the
noise covariance (SSP applied, PCA) and depth-weighted with exponent 0.8 by MNE's own
``_prepare_gain``; loose = 1 (free orientation, 3 columns per source). The fixed-orientation
variant keeps, for each source, the orientation of largest gain (first singular vector of its
3 columns): a volume grid has no cortical normals, so it has the size of a fixed-orientation
problem, not its anatomy.

The data come from ``../shared/data/meg_sample`` beside the repository, or from the folder named
by ``NEUROOPT_SHARED_DATA`` (its ``meg_sample`` subfolder). Problems are cached as ``.npz`` in
``benchmarks/results/`` (gitignored): the 5 mm forward takes about a minute to build.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np

BENCH_DIR = Path(__file__).resolve().parent
CACHE = BENCH_DIR / "results"


def sample_data_dir():
    """``meg_sample`` folder of the shared real data; a clear error when it is absent."""
    env = os.environ.get("NEUROOPT_SHARED_DATA")
    root = Path(env) if env else BENCH_DIR.parents[1] / "shared" / "data"
    folder = root / "meg_sample"
    if not (folder / "test-ave.fif.gz").is_file():
        raise FileNotFoundError(
            f"The MNE sample data were not found in {folder}: clone the repository beside "
            "shared/ (so that ../shared/data/meg_sample exists) or set NEUROOPT_SHARED_DATA to "
            "the shared data/ folder."
        )
    return folder


def mxne_problem(condition="Left Auditory", pos=5.0, orientation="free", tmin=0.0, tmax=0.2):
    """Gain ``X`` (n_sensors, n_columns), data ``Y`` (n_sensors, n_times) and their context.

    Parameters
    ----------
    condition : str
        Condition of ``test-ave.fif.gz`` ("Left Auditory", "Right Auditory", "Left visual",
        "Right visual").
    pos : float
        Spacing of the volume source grid, in mm.
    orientation : "free" | "fixed"
        Three columns per source (loose = 1), or one (the orientation of largest gain).
    tmin, tmax : float
        Time window, in seconds.

    Returns
    -------
    problem : dict
        ``X``, ``Y``, ``n_orient`` (3 or 1), ``ch_types`` (sensor type of each whitened row's
        dominant channel) and ``src_pos`` (n_sources, 3) in head coordinates (m).
    """
    if orientation not in ("free", "fixed"):
        raise ValueError(f"orientation must be 'free' or 'fixed', got {orientation!r}.")
    free = _free_problem(condition, pos, tmin, tmax)
    X = free["X"]
    if orientation == "fixed":
        n_sources = X.shape[1] // 3
        fixed = np.empty((X.shape[0], n_sources))
        for k in range(n_sources):
            u, s, _ = np.linalg.svd(X[:, 3 * k:3 * k + 3], full_matrices=False)
            fixed[:, k] = u[:, 0] * s[0]
        X = fixed
    return dict(free, X=np.ascontiguousarray(X), n_orient=3 if orientation == "free" else 1)


def _free_problem(condition, pos, tmin, tmax):
    key = f"mxne_{condition.replace(' ', '_')}_pos{pos:g}_{tmin:g}-{tmax:g}s.npz"
    cache = CACHE / key
    if cache.is_file():
        with np.load(cache) as loaded:
            return {name: loaded[name] for name in loaded.files}
    import mne
    from mne.inverse_sparse.mxne_inverse import _prepare_gain

    data = sample_data_dir()
    evoked = mne.read_evokeds(data / "test-ave.fif.gz", condition=condition, verbose=False)
    evoked.pick("meg", exclude="bads").crop(tmin, tmax)
    noise_cov = mne.read_cov(data / "test-cov.fif", verbose=False)
    bem = mne.read_bem_solution(data / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    src = mne.setup_volume_source_space(None, pos=pos, bem=bem, verbose=False)
    fwd = mne.make_forward_solution(evoked.info, data / "sample_audvis_trunc-trans.fif", src,
                                    bem, meg=True, eeg=False, verbose=False)
    # mixed_norm's own preparation: whitening (pca=True), depth 0.8, loose=1, rank from the data
    fwd, gain, gain_info, whitener, _, _ = _prepare_gain(
        fwd, evoked.info, noise_cov, pca=True, depth=0.8, loose=1.0, rank=None)
    sel = [evoked.ch_names.index(name) for name in gain_info["ch_names"]]
    Y = whitener @ evoked.data[sel]
    ch_types = np.array(gain_info.get_channel_types())
    dominant = np.abs(whitener).argmax(axis=1)  # the PCA whitener mixes channels
    out = dict(X=np.ascontiguousarray(gain), Y=np.ascontiguousarray(Y),
               ch_types=ch_types[dominant], src_pos=fwd["source_rr"])
    CACHE.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_name(cache.name + ".tmp.npz")
    np.savez(tmp, **out)
    os.replace(tmp, cache)
    return out
