"""Scores of many decision-value sets at once (time points x folds), rank-based and exact."""

from __future__ import annotations

import numpy as np
from scipy.stats import rankdata

SCORINGS = ("roc_auc", "balanced_accuracy")


def batched_roc_auc(decision, y_true):
    """ROC-AUC of decision values along the last axis (ties count one half, as in sklearn).

    Parameters
    ----------
    decision : ndarray, shape (..., n_samples)
        Decision values; larger means more likely the positive class.
    y_true : ndarray of bool, shape (n_samples,)
        True for the positive class.

    Returns
    -------
    auc : ndarray, shape (...)
    """
    y_true = np.asarray(y_true, bool)
    n_pos = int(y_true.sum())
    n_neg = y_true.size - n_pos
    if n_pos == 0 or n_neg == 0:
        raise ValueError("ROC-AUC needs both classes in every test fold; use more runs per fold.")
    ranks = rankdata(decision, axis=-1)
    rank_sum = ranks[..., y_true].sum(axis=-1)
    return (rank_sum - n_pos * (n_pos + 1) / 2.0) / (n_pos * n_neg)


def batched_balanced_accuracy(predicted, y_true):
    """Balanced accuracy (mean recall over the classes present) along the last axis.

    Parameters
    ----------
    predicted : ndarray of int, shape (..., n_samples)
        Predicted class index.
    y_true : ndarray of int, shape (n_samples,)
        True class index.
    """
    recalls = [np.mean(predicted[..., y_true == cls] == cls, axis=-1) for cls in np.unique(y_true)]
    return np.mean(recalls, axis=0)
