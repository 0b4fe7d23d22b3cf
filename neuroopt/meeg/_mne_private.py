"""The private MNE helpers the sparse inverse relies on, gathered in one place.

MNE's ``mixed_norm`` prepares the whitened, depth-weighted gain and turns the sparse solution
into a source estimate and dipoles with these functions. They are not public API and may change
between MNE releases (written against MNE 1.13): if an import below fails after an MNE upgrade,
this is the only module to adapt.
"""

from __future__ import annotations

from mne.inverse_sparse.mxne_inverse import _make_dipoles_sparse as make_dipoles_sparse
from mne.inverse_sparse.mxne_inverse import _make_sparse_stc as make_sparse_stc
from mne.inverse_sparse.mxne_inverse import _prepare_gain
from mne.minimum_norm.inverse import _check_reference as check_reference

__all__ = ["check_reference", "make_dipoles_sparse", "make_sparse_stc", "prepare_gain"]


def prepare_gain(forward, info, noise_cov, *, depth, loose, rank):
    """Whitened, depth- and orientation-weighted gain, exactly as ``mne.inverse_sparse.mixed_norm``.

    Returns
    -------
    forward : mne.Forward
        Copy of the forward restricted to the good channels, converted to the orientation
        the inverse needs (surface-oriented for loose, fixed for ``loose=0``).
    gain : ndarray, shape (n_whitened, n_sources * n_orient)
        ``whitener @ G @ diag(source_weighting)``.
    gain_info : mne.Info
        Info of the channels used, in the order of the whitener's columns.
    whitener : ndarray, shape (n_whitened, n_channels)
        PCA whitener of the (unscaled) noise covariance: noise of one trial becomes white with
        unit variance, so an average of ``nave`` trials has variance ``1 / nave``.
    source_weighting : ndarray, shape (n_sources * n_orient,)
        Source standard deviations (depth and orientation priors); multiplying the solution of
        the weighted problem by them gives currents in A*m.
    """
    forward, gain, gain_info, whitener, source_weighting, _ = _prepare_gain(
        forward, info, noise_cov, True, depth, loose, rank, None, None
    )
    return forward, gain, gain_info, whitener, source_weighting
