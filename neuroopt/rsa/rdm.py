"""RDM stacks (one RDM per time point or searchlight centre) with their axis, saved as NPZ."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..decoding._epochs import epochs_labels, epochs_runs
from ..utils import atomic_save_npz, check_option, logger, verbose
from .distances import condition_order, correlation, crossnobis, euclidean, mahalanobis

RDM_METHODS = ("crossnobis", "mahalanobis", "euclidean", "correlation")


def pairs_to_square(dissimilarities):
    """Square symmetric RDM(s) from upper-triangle vectors of shape (..., n_pairs).

    Parameters
    ----------
    dissimilarities : ndarray, shape (..., n_pairs)
        Upper-triangle vectors in ``numpy.triu_indices(n_conditions, k=1)`` order.

    Returns
    -------
    squares : ndarray, shape (..., n_conditions, n_conditions)
    """
    dissimilarities = np.asarray(dissimilarities, dtype=np.float64)
    n_pairs = dissimilarities.shape[-1]
    n_cond = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    if n_cond * (n_cond - 1) // 2 != n_pairs:
        raise ValueError(f"{n_pairs} is not a number of condition pairs n * (n - 1) / 2.")
    rows, cols = np.triu_indices(n_cond, k=1)
    square = np.zeros(dissimilarities.shape[:-1] + (n_cond, n_cond))
    square[..., rows, cols] = dissimilarities
    square[..., cols, rows] = dissimilarities
    return square


def square_to_pairs(square):
    """Upper-triangle vector(s) of square RDM(s) of shape (..., n_cond, n_cond).

    Parameters
    ----------
    square : ndarray, shape (..., n_conditions, n_conditions)
        Symmetric RDM(s).

    Returns
    -------
    dissimilarities : ndarray, shape (..., n_pairs)
        Upper triangles in ``numpy.triu_indices(n_conditions, k=1)`` order.
    """
    square = np.asarray(square, dtype=np.float64)
    if square.ndim < 2 or square.shape[-1] != square.shape[-2]:
        raise ValueError(f"square RDMs must have shape (..., n, n), got {square.shape}.")
    rows, cols = np.triu_indices(square.shape[-1], k=1)
    return square[..., rows, cols]


@dataclass
class RDMStack:
    """RDMs along one axis (time points or voxels) for one subject.

    Attributes
    ----------
    dissimilarities : ndarray, shape (n_axis, n_pairs)
        Upper-triangle dissimilarities, pairs ordered as ``np.triu_indices(n_conditions, 1)``.
    conditions : ndarray of str, shape (n_conditions,)
        Sorted condition labels (RDM row order).
    axis : ndarray, shape (n_axis,)
        Time points in seconds (``axis_name="time"``), searchlight-centre voxel indices
        (``"voxel"``) or ROI names (``"roi"``).
    axis_name : str
        ``"time"``, ``"voxel"`` or ``"roi"``.
    method : str
        Dissimilarity measure.
    noise : str
        Noise normalisation used (``"none"`` for identity).
    """

    dissimilarities: np.ndarray
    conditions: np.ndarray
    axis: np.ndarray
    axis_name: str = "time"
    method: str = "crossnobis"
    noise: str = "none"

    def __post_init__(self):
        self.dissimilarities = np.atleast_2d(np.asarray(self.dissimilarities, dtype=np.float64))
        self.conditions = np.asarray(self.conditions).astype(str)
        self.axis = np.asarray(self.axis)
        n_cond = self.conditions.size
        if self.dissimilarities.shape[1] != n_cond * (n_cond - 1) // 2:
            raise ValueError(
                f"dissimilarities have {self.dissimilarities.shape[1]} pairs but {n_cond} "
                f"conditions give {n_cond * (n_cond - 1) // 2}."
            )
        if self.axis.shape != (self.dissimilarities.shape[0],):
            raise ValueError(
                f"axis must have one entry per RDM ({self.dissimilarities.shape[0]}), got shape "
                f"{self.axis.shape}."
            )

    @property
    def n_conditions(self):
        return self.conditions.size

    def square(self, index=None):
        """Square RDM(s): all (n_axis, n_cond, n_cond), or one at ``index``."""
        values = self.dissimilarities if index is None else self.dissimilarities[index]
        return pairs_to_square(values)

    def save(self, path):
        """Write an ``.npz`` file atomically (arrays + metadata); read back with :meth:`load`."""
        atomic_save_npz(path, dissimilarities=self.dissimilarities,
                        conditions=self.conditions,
                        axis=self.axis,
                        axis_name=np.array(self.axis_name),
                        method=np.array(self.method),
                        noise=np.array(self.noise))
        logger.info(f"Saved RDM stack {self.dissimilarities.shape} to {path}")
        return path

    @classmethod
    def load(cls, path):
        """Read an RDM stack written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(
                dissimilarities=npz["dissimilarities"],
                conditions=npz["conditions"],
                axis=npz["axis"],
                axis_name=str(npz["axis_name"]),
                method=str(npz["method"]),
                noise=str(npz["noise"]),
            )


@verbose
def epochs_rdms(epochs, runs="run", method="crossnobis", noise="shrinkage_diag", conditions=None,
                picks="data", verbose=None):
    """Time-resolved RDM stack of MNE epochs (one RDM per time point).

    Parameters
    ----------
    epochs : mne.Epochs
        Epochs of one subject, all runs concatenated.
    runs : str | array-like
        Column of ``epochs.metadata`` holding the run, or the run of each epoch.
    method : "crossnobis" | "mahalanobis" | "euclidean" | "correlation"
        Dissimilarity measure.
    noise : None | str | ndarray
        Noise normalisation (see :func:`neuroopt.rsa.crossnobis`); ignored for Euclidean and
        correlation distances.
    conditions : list of str | None
        Event names or MNE tags (``"auditory"`` pools ``"auditory/left"`` and
        ``"auditory/right"``) defining the RDM conditions; default: every event name.
    picks : str | list
        Channels (MNE ``picks``); bad channels are excluded.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    RDMStack
        With ``axis`` the epoch times in seconds.
    """
    check_option("method", method, RDM_METHODS)
    labels, keep = epochs_labels(epochs, conditions)
    run_labels = epochs_runs(epochs, runs)
    data = epochs[np.flatnonzero(keep)].pick(picks, exclude="bads").get_data()
    labels, run_labels = labels[keep], run_labels[keep]
    if method == "crossnobis":
        dist = crossnobis(data, labels, run_labels, noise=noise)
    elif method == "mahalanobis":
        dist = mahalanobis(data, labels, noise=noise, runs=run_labels)
    elif method == "euclidean":
        dist = euclidean(data, labels)
    else:
        dist = correlation(data, labels)
    noise_name = "none" if method in ("euclidean", "correlation") or noise is None else (
        noise if isinstance(noise, str) else "precision")
    return RDMStack(dist, condition_order(labels), epochs.times.copy(), "time", method, noise_name)


@verbose
def roi_rdms(betas_img, roi_imgs, conditions, runs, *, noise="shrinkage_diag", residuals=None,
             dof=None, roi_names=None, verbose=None):
    """Crossnobis RDM of fMRI trial patterns in each region of interest.

    Parameters
    ----------
    betas_img : 4D Nifti-like
        One volume per trial, e.g. ``R1GLMImages.trial_betas`` of
        :func:`neuroopt.fmri.maps.fit_r1glm_images` (``trial_betas=True``).
    roi_imgs : 3D Nifti-like | list of them
        Binary ROI masks on the same grid.
    conditions, runs : array-like, shape (n_trials,)
        Condition and run of each trial (``trials.trial_type`` and ``trials.run``).
    noise : None | str | ndarray
        Noise normalisation (see :func:`neuroopt.rsa.crossnobis`). A string estimates the noise
        precision in each ROI from ``residuals`` when given, else from the trial patterns' residuals
        around their (run, condition) means, which needs two trials or more in some cell; with
        more voxels than residual rows the shrinkage precision is applied with the Woodbury
        identity.
    residuals : 4D Nifti-like | None
        Residual time series of the first-level GLM on the same grid (one volume per scan), e.g.
        :func:`neuroopt.fmri.residuals.r1glm_residuals` saved with
        :func:`neuroopt.fmri.residuals.save_residuals`: the standard noise estimate (Walther et
        al. 2016), and the only one for designs with one trial per condition per run.
    dof : int | None
        Degrees of freedom of ``residuals`` (default: number of volumes - 1).
    roi_names : list of str | None
        Names stored as the stack's axis (default ``"roi0"``, ...).
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    RDMStack
        One RDM per ROI (``axis_name="roi"``).
    """
    from nilearn.masking import apply_mask

    if not isinstance(roi_imgs, (list, tuple)):
        roi_imgs = [roi_imgs]
    names = list(roi_names) if roi_names is not None else [f"roi{i}" for i in range(len(roi_imgs))]
    if len(names) != len(roi_imgs):
        raise ValueError(f"{len(names)} roi_names for {len(roi_imgs)} ROI images.")
    conditions, runs = np.asarray(conditions), np.asarray(runs)
    if residuals is not None and not isinstance(noise, str):
        raise ValueError(
            f"residuals are only used to estimate the noise when noise is a string (one of "
            f"'diag', 'shrinkage_diag', ...), got noise={noise!r}."
        )
    dist = [
        crossnobis(apply_mask(betas_img, roi), conditions, runs, noise=noise,
                   residuals=None if residuals is None else apply_mask(residuals, roi), dof=dof)
        for roi in roi_imgs
    ]
    noise_name = "none" if noise is None else (noise if isinstance(noise, str) else "precision")
    if residuals is not None:
        noise_name += " from GLM residuals"
    return RDMStack(np.array(dist), condition_order(conditions), np.array(names), "roi",
                    "crossnobis", noise_name)
