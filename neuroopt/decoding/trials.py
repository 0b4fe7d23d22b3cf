"""Decoding of fMRI trial patterns (e.g. R1-GLMS or least-squares-separate betas), grouped by run."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..utils import atomic_save_npz, check_array_2d, verbose
from .temporal import decode_time


@dataclass
class TrialDecodingResult:
    """Cross-validated decoding score of trial patterns in one region.

    Attributes
    ----------
    scores : ndarray, shape (n_folds,)
        Test score of each fold (one held-out run each), as ``TemporalDecodingResult.scores``.
    scoring : str
    chance : float
    classes : ndarray of str
    """

    scores: np.ndarray
    scoring: str
    chance: float
    classes: np.ndarray

    @property
    def mean_scores(self):
        """Score averaged over folds (a float: one region)."""
        return float(np.mean(self.scores))

    def save(self, path):
        """Write an ``.npz`` file atomically."""
        atomic_save_npz(path, scores=self.scores, scoring=np.array(self.scoring),
                        chance=np.array(self.chance), classes=np.asarray(self.classes).astype(str))
        return path

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            scores = npz["scores"] if "scores" in npz else npz["fold_scores"]  # files written before the rename
            return cls(scores, str(npz["scoring"]), float(npz["chance"]), npz["classes"])


@verbose
def decode_trials(betas, y, runs, *, estimator="lda", scoring="roc_auc", n_splits=None, verbose=None):
    """Cross-validated decoding of trial patterns, folds grouped by run.

    Parameters
    ----------
    betas : ndarray, shape (n_trials, n_voxels)
        One pattern per trial (e.g. masked R1-GLMS betas).
    y : array-like, shape (n_trials,)
        Condition of each trial.
    runs : array-like, shape (n_trials,)
        Run of each trial.
    estimator, scoring, n_splits
        As in :func:`neuroopt.decoding.decode_time` (batched shrinkage LDA by default).
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    TrialDecodingResult
    """
    betas = check_array_2d(betas, "betas")
    result = decode_time(betas[:, :, None], y, runs, estimator=estimator, scoring=scoring,
                         n_splits=n_splits, patterns=False)
    return TrialDecodingResult(result.scores[:, 0], scoring, result.chance, result.classes)


@verbose
def decode_roi(betas_img, roi_img, y, runs, *, verbose=None, **kwargs):
    """Decode trial beta images inside a region of interest.

    Parameters
    ----------
    betas_img : 4D Nifti-like
        One volume per trial.
    roi_img : 3D Nifti-like
        Binary ROI mask on the same grid.
    y, runs : array-like, shape (n_trials,)
        Condition and run of each trial.
    verbose : bool | str | int | None
        Log level for this call.
    **kwargs
        Passed to :func:`decode_trials`.

    Returns
    -------
    TrialDecodingResult
    """
    from nilearn.masking import apply_mask

    return decode_trials(apply_mask(betas_img, roi_img), y, runs, **kwargs)


def _sphere_groups(neighbors):
    """Group searchlight centres by sphere size, with their voxel indices as 2D arrays."""
    sizes = np.diff(neighbors.indptr)
    for size in np.unique(sizes):
        centres = np.flatnonzero(sizes == size)
        voxels = np.array([neighbors.indices[neighbors.indptr[c]:neighbors.indptr[c + 1]] for c in centres])
        yield centres, voxels


@verbose
def searchlight_decoding(betas_img, mask_img, y, runs, *, radius=6.0, estimator="lda",
                         scoring="roc_auc", n_splits=None, verbose=None):
    """Searchlight decoding of trial beta images, folds grouped by run.

    Parameters
    ----------
    betas_img : 4D Nifti-like
        One volume per trial.
    mask_img : 3D Nifti-like
        Brain mask: searchlight centres and voxels.
    y, runs : array-like, shape (n_trials,)
        Condition and run of each trial.
    radius : float
        Sphere radius in mm.
    estimator : "lda" | sklearn classifier
        ``"lda"``: batched shrinkage LDA; spheres of equal size are fitted together (the sphere
        axis plays the role of time in :func:`neuroopt.decoding.lda.fit_shrinkage_lda`).
        A scikit-learn classifier goes through nilearn's ``SearchLight`` (one fit per sphere).
    scoring : "roc_auc" | "balanced_accuracy"
        Score.
    n_splits : int | None
        Number of folds (``None``: leave-one-run-out).
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    score_img : Nifti1Image
        Mean cross-validated score per searchlight centre.
    """
    from nilearn.image import new_img_like
    from nilearn.masking import apply_mask, unmask

    from ..rsa.searchlight import searchlight_neighbors
    from .cv import grouped_folds
    from .temporal import _check_inputs, _lda_fold

    runs = np.asarray(runs)
    folds = grouped_folds(runs, n_splits)
    if not isinstance(estimator, str):
        from nilearn.decoding import SearchLight

        searchlight = SearchLight(mask_img, radius=radius, estimator=estimator, scoring=scoring,
                                  cv=folds, n_jobs=1, verbose=0)
        searchlight.fit(betas_img, np.asarray(y), groups=runs)
        return new_img_like(mask_img, searchlight.scores_)
    if estimator != "lda":
        raise ValueError(f"estimator must be 'lda' or a scikit-learn classifier, got {estimator!r}.")
    data = apply_mask(betas_img, mask_img)
    _, classes, y_index, runs = _check_inputs(data[:, :, None], y, runs, scoring)
    neighbors = searchlight_neighbors(mask_img, radius)
    scores = np.zeros(data.shape[1])
    for centres, voxels in _sphere_groups(neighbors):
        sphere_data = np.ascontiguousarray(data[:, voxels].transpose(1, 0, 2))  # (n_c, n_trials, size)
        fold_scores = [_lda_fold(sphere_data, y_index, classes.size, train, test, scoring, False)
                       for train, test in folds]
        scores[centres] = np.mean(fold_scores, axis=0)
    return unmask(scores, mask_img)
