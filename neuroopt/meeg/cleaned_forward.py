"""The forward model of cleaned data: each run's cleaning (ICA removal, interpolation) applied to the gain.

Removing ICA components and interpolating bad channels are linear maps of the channel data. The
data an inverse sees went through them, the forward model did not, so a source whose topography
overlaps a removed component (an up-pointing auditory dipole and the frontal blink component) or
an interpolated channel has a different pattern in the data than in the gain. Whitening makes it
worse: the covariance of cleaned data is smallest where the cleaning removed the most, and the
whitener amplifies exactly those directions of the gain. MNE applies SSP projectors to the gain
for this reason (``mne.inverse_sparse.mixed_norm`` and ``make_inverse_operator`` do); here the
same is done for the ICA removal and the interpolation of each run. Runs cleaned differently
(one ICA per run) are averaged into an evoked response in proportion to their epochs, so the
gain is cleaned by the same weighted average of their maps.
"""

from __future__ import annotations

import mne
import numpy as np

from ..utils import validate_type


def _data_picks(info):
    return mne.pick_types(info, meg=True, eeg=True, seeg=True, ecog=True, dbs=True, ref_meg=False,
                          exclude=())


def cleaning_operator(info, *, ica=None, interpolated=()):
    """The linear map a run's cleaning applied to its data channels.

    The map is obtained by cleaning an identity "recording" with MNE itself
    (:meth:`mne.preprocessing.ICA.apply`, then :meth:`mne.Evoked.interpolate_bads`, the order of
    :func:`neuroopt.meeg.preprocessing.preprocess_raw`), so it is the map the data went through,
    not a re-implementation. Projectors (average reference, SSP) are not part of it: MNE applies
    them to the gain itself.

    Parameters
    ----------
    info : mne.Info
        Info of the cleaned data (e.g. ``epochs.info``), with the channel positions the
        interpolation used.
    ica : mne.preprocessing.ICA | None
        The run's fitted ICA with its ``exclude`` list; None (or nothing excluded): no removal.
    interpolated : list of str
        The channels interpolated in this run (after the ICA).

    Returns
    -------
    operator : ndarray, shape (n_channels, n_channels)
        ``cleaned = operator @ data`` for the M/EEG data channels of ``info``, in the order of
        ``info["ch_names"]``.
    """
    validate_type(info, mne.Info, "info")
    if ica is not None:
        validate_type(ica, mne.preprocessing.ICA, "ica")
    info = mne.pick_info(info, _data_picks(info))
    names = info["ch_names"]
    unknown = sorted(set(interpolated) - set(names))
    if unknown:
        raise ValueError(f"interpolated lists {unknown}, which are not data channels of info; pass "
                         "the channels this run interpolated (its preprocessing summary's 'interpolated').")
    n = len(names)
    # one column per channel, plus a zero column: ICA.apply centres with its PCA mean, an affine map
    identity = mne.EvokedArray(np.hstack([np.eye(n), np.zeros((n, 1))]), info, tmin=0.0, nave=1,
                               verbose="error")
    identity.info["bads"] = list(interpolated)
    if ica is not None and len(ica.exclude):
        identity = ica.apply(identity, verbose="error")
    if len(interpolated):
        identity.interpolate_bads(reset_bads=True, verbose="error")
    return identity.data[:, :n] - identity.data[:, n:]


def clean_forward(forward, info, operators, weights=None):
    """A copy of ``forward`` whose gain went through the cleaning of the data.

    Parameters
    ----------
    forward : mne.Forward
        Forward solution of the raw sensor geometry.
    info : mne.Info
        Info of the cleaned data, as passed to :func:`cleaning_operator`.
    operators : list of ndarray, shape (n_channels, n_channels)
        :func:`cleaning_operator` of each run, on the data channels of ``info``.
    weights : array-like of float | None
        Share of each run in the averaged data (e.g. its number of epochs of the condition);
        normalised to sum 1. None: equal shares.

    Returns
    -------
    forward : mne.Forward
        Copy with ``sol["data"]`` (and the saved original solution MNE converts orientations
        from) replaced by ``operator @ gain``, ``operator`` the weighted mean of ``operators``.
        Forward channels that are not data channels of ``info`` are left as they are.
    """
    validate_type(forward, mne.Forward, "forward")
    validate_type(info, mne.Info, "info")
    ch_names = [info["ch_names"][i] for i in _data_picks(info)]
    operators = [np.asarray(op, dtype=float) for op in operators]
    n = len(ch_names)
    if not operators or any(op.shape != (n, n) for op in operators):
        raise ValueError(f"operators must be one ({n}, {n}) array per run for the {n} data channels of info, "
                         f"got shapes {[op.shape for op in operators]}.")
    weights = np.ones(len(operators)) if weights is None else np.asarray(weights, dtype=float)
    if weights.shape != (len(operators),) or np.any(weights < 0) or weights.sum() <= 0:
        raise ValueError(f"weights must be {len(operators)} non-negative numbers, not all zero "
                         f"(one per operator), got {weights!r}.")
    operator = np.tensordot(weights / weights.sum(), np.stack(operators), axes=1)
    rows = list(forward["sol"]["row_names"])
    index = {name: i for i, name in enumerate(ch_names)}
    common = [i for i, name in enumerate(rows) if name in index]
    sub = operator[np.ix_([index[rows[i]] for i in common], [index[rows[i]] for i in common])]
    forward = forward.copy()
    for key in ("sol", "_orig_sol"):
        gain = forward[key]["data"] if key == "sol" else forward.get(key)
        if gain is None:
            continue
        gain = gain.copy()
        gain[common] = sub @ gain[common]
        if key == "sol":
            forward["sol"]["data"] = gain
        else:
            forward[key] = gain
    return forward
