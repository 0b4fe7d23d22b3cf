"""The rank used to whiten M/EEG data with a noise covariance, consistent from the covariance to
every whitening (report plots, sparse inverse).

``rank="info"`` counts the channels minus the SSP projectors (and the SSS components after a
Maxwell filter), but the data can have a lower rank: a bad channel interpolated from its
neighbours, ICA components removed, noise simulated from a rank-deficient covariance. Whitening
with a rank above the data's divides by near-zero eigenvalues: MNE warns ("rank['meg']=303 exceeds
the estimated rank of the noise covariance (302) ... increase in noise during whitening by a
factor of 2e+06") and the whitened data are wrong. So the rank is estimated from the data (or the covariance) with a relative tolerance
(``DATA_TOL``) and capped by the ``"info"`` rank, per channel type (MEG magnetometers and
gradiometers together, as MNE whitens them).
"""

from __future__ import annotations

import mne

from ..utils import logger, validate_type

# Singular values of the (channel-type scaled) data below DATA_TOL times the largest count as zero
# (eigenvalues of a covariance: below DATA_TOL ** 2): whitening a dimension 1e5 times weaker than
# the strongest amplifies its noise 1e5 times, where MNE warns (eigenvalue ratio 1e10). Genuine
# dimensions of M/EEG noise are within about 1e-2 of the largest (the real sample array, scaled
# by type as MNE does); an interpolated channel leaves a dimension at 1e-16.
DATA_TOL = 1e-5


def _capped(estimated, info_rank):
    return {ch_type: int(min(rank, estimated.get(ch_type, rank))) for ch_type, rank in info_rank.items()}


def data_rank(inst):
    """Rank per channel type of Raw/Epochs data, after their projectors, at most the ``"info"`` rank.

    Parameters
    ----------
    inst : mne.io.Raw | mne.Epochs
        Data (with the projectors that will be applied).

    Returns
    -------
    rank : dict
        ``{"meg": ..., "eeg": ...}``, as :func:`mne.compute_rank` returns it.
    """
    validate_type(inst, (mne.io.BaseRaw, mne.BaseEpochs), "inst")
    with mne.utils.use_log_level("error"):
        estimated = mne.compute_rank(inst, rank=None, tol=DATA_TOL, tol_kind="relative")
        rank = _capped(estimated, mne.compute_rank(inst, rank="info"))
    logger.info(f"Data rank (estimated, capped by the info): {rank}")
    return rank


def covariance_rank(noise_cov, info):
    """Rank per channel type of a noise covariance to whiten ``info``'s channels with.

    Estimated from the covariance's eigenvalues after ``info``'s projectors, at most the
    ``"info"`` rank. Pass it as ``rank=`` to MNE's whitening functions
    (:meth:`mne.Evoked.plot_white`, :func:`mne.cov.compute_whitener`).
    """
    validate_type(noise_cov, mne.Covariance, "noise_cov")
    validate_type(info, mne.Info, "info")
    with mne.utils.use_log_level("error"):
        info_rank = mne.compute_rank(noise_cov, rank="info", info=info)
        estimated = mne.compute_rank(noise_cov, rank=None, info=info, tol=DATA_TOL ** 2, tol_kind="relative")
    return _capped(estimated, info_rank)
