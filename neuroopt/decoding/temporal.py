"""Time-resolved decoding of epochs: per time point and temporal generalisation.

Two routes give the same scores: ``estimator="lda"`` (default) fits shrinkage LDA at all time
points at once (:mod:`neuroopt.decoding.lda`); any scikit-learn classifier goes through MNE's
``SlidingEstimator`` / ``GeneralizingEstimator``, one fit per time point. Folds are grouped by
run (:func:`neuroopt.decoding.cv.grouped_folds`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from sklearn.base import clone, is_classifier

from ..utils import atomic_save_npz, check_finite, check_option, logger, verbose
from ._epochs import epochs_labels, epochs_runs
from .cv import grouped_folds
from .lda import decision_values, fit_shrinkage_lda
from .scoring import SCORINGS, batched_balanced_accuracy, batched_roc_auc


@dataclass
class TemporalDecodingResult:
    """Cross-validated decoding scores over time for one subject.

    Attributes
    ----------
    scores : ndarray, shape (n_folds, n_times) | (n_folds, n_times, n_times)
        Test score per fold; with generalisation, axis 1 is the training time, axis 2 the
        testing time.
    times : ndarray, shape (n_times,)
        Time points in seconds.
    scoring : str
        ``"roc_auc"`` or ``"balanced_accuracy"``.
    classes : ndarray of str
        Class labels (the positive class of the AUC is the last).
    chance : float
        Chance level of the score.
    patterns : ndarray, shape (n_channels, n_times) | None
        Haufe patterns ``cov(X) @ w`` of the classifier fitted on all epochs (binary LDA).
    ch_names : list of str
        Channel names (the axis of ``patterns``).
    ch_types : list of str
        Channel types (``"eeg"``, ``"mag"``, ``"grad"``...), when decoded from MNE epochs.
    ch_locs : ndarray, shape (n_channels, 12) | None
        MNE channel locations (``info["chs"][i]["loc"]``), when decoded from MNE epochs: with
        them :meth:`patterns_as_evoked` can draw the patterns as topomaps.
    """

    scores: np.ndarray
    times: np.ndarray
    scoring: str
    classes: np.ndarray
    chance: float
    patterns: np.ndarray | None = None
    ch_names: list = field(default_factory=list)
    ch_types: list = field(default_factory=list)
    ch_locs: np.ndarray | None = None

    @property
    def generalization(self):
        """True for a temporal generalisation matrix."""
        return self.scores.ndim == 3

    @property
    def mean_scores(self):
        """Scores averaged over folds, shape (n_times,) or (n_times, n_times)."""
        return self.scores.mean(axis=0)

    def patterns_as_evoked(self):
        """The Haufe patterns as an ``mne.EvokedArray`` with the channel locations (for topomaps).

        Returns
        -------
        evoked : mne.EvokedArray
            ``patterns`` over ``times``; ``evoked.plot_topomap(times=...)`` draws them.
        """
        import mne

        if self.patterns is None or self.ch_locs is None or len(self.ch_types) != len(self.ch_names):
            raise ValueError(
                "patterns_as_evoked needs patterns and channel locations: decode MNE epochs with "
                "decode_epochs (estimator='lda', two classes)."
            )
        sfreq = 1.0 / float(np.median(np.diff(self.times))) if self.times.size > 1 else 1.0
        info = mne.create_info(list(self.ch_names), sfreq, list(self.ch_types))
        for ch, loc in zip(info["chs"], self.ch_locs):
            ch["loc"][:] = loc
        return mne.EvokedArray(self.patterns, info, tmin=float(self.times[0]), comment="Haufe patterns", verbose="error")

    def save(self, path):
        """Write an ``.npz`` file atomically; read back with :meth:`load`."""
        arrays = dict(
            scores=self.scores, times=self.times, scoring=np.array(self.scoring),
            classes=np.asarray(self.classes).astype(str), chance=np.array(self.chance),
            ch_names=np.array(self.ch_names, dtype=str), ch_types=np.array(self.ch_types, dtype=str),
        )
        if self.patterns is not None:
            arrays["patterns"] = self.patterns
        if self.ch_locs is not None:
            arrays["ch_locs"] = self.ch_locs
        atomic_save_npz(path, **arrays)
        return path

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(
                scores=npz["scores"], times=npz["times"], scoring=str(npz["scoring"]),
                classes=npz["classes"], chance=float(npz["chance"]),
                patterns=npz["patterns"] if "patterns" in npz else None,
                ch_names=[str(c) for c in npz["ch_names"]],
                ch_types=[str(c) for c in npz["ch_types"]] if "ch_types" in npz else [],
                ch_locs=npz["ch_locs"] if "ch_locs" in npz else None,
            )


def _check_inputs(data, y, groups, scoring):
    data = np.asarray(data, dtype=np.float64)
    if data.ndim != 3:
        raise ValueError(
            f"data must have shape (n_epochs, n_channels, n_times), got an array of shape {data.shape}."
        )
    check_finite(data, "data")
    y = np.asarray(y)
    if y.shape != (data.shape[0],):
        raise ValueError(f"y must have one label per epoch ({data.shape[0]}), got shape {y.shape}.")
    classes, y_index = np.unique(y, return_inverse=True)
    if classes.size < 2:
        raise ValueError(f"y must contain at least 2 classes, got {classes!r}.")
    check_option("scoring", scoring, SCORINGS)
    if scoring == "roc_auc" and classes.size != 2:
        raise ValueError(
            f"scoring='roc_auc' needs 2 classes, got {classes.size} ({classes!r}); use "
            "scoring='balanced_accuracy' for more classes."
        )
    groups = np.asarray(groups)
    if groups.shape != (data.shape[0],):
        raise ValueError(
            f"groups must have one run label per epoch ({data.shape[0]}), got shape {groups.shape}."
        )
    return data, classes, y_index.ravel(), groups


def _score(decision, y_test, scoring):
    """Score decision values of shape (..., n_test, n_columns).

    Binary problems have one column, ``score_1 - score_0`` (class 1 when > 0, as sklearn).
    """
    if decision.shape[-1] == 1:
        if scoring == "roc_auc":
            return batched_roc_auc(decision[..., 0], y_test == 1)
        return batched_balanced_accuracy((decision[..., 0] > 0).astype(int), y_test)
    return batched_balanced_accuracy(np.argmax(decision, axis=-1), y_test)


def _lda_fold(data_t, y_index, n_classes, train, test, scoring, generalization):
    coef, intercept = fit_shrinkage_lda(data_t[:, train], y_index[train], n_classes)
    if n_classes == 2:  # only the difference of the two class scores matters
        coef = coef[:, :, 1:] - coef[:, :, :1]
        intercept = intercept[:, 1:] - intercept[:, :1]
    test_data = data_t[:, test]
    if not generalization:
        return _score(decision_values(coef, intercept, test_data), y_index[test], scoring)
    # all (train time, test time) pairs in one GEMM: (n_test_times * n_test, p) @ (p, n_train_times * K)
    n_times, n_test, n_feat = test_data.shape
    flat = test_data.reshape(-1, n_feat) @ coef.transpose(1, 0, 2).reshape(n_feat, -1)
    scores = flat.reshape(n_times, n_test, n_times, coef.shape[2]).transpose(2, 0, 1, 3)
    scores = scores + intercept[:, None, None, :]
    return _score(scores, y_index[test], scoring)


def _lda_patterns(data_t, y_index, n_classes):
    """Haufe patterns ``cov(X) w`` of the binary LDA fitted on all epochs, (n_channels, n_times)."""
    if n_classes != 2:
        return None
    coef, _ = fit_shrinkage_lda(data_t, y_index, n_classes)
    weights = coef[:, :, 1] - coef[:, :, 0]  # (n_times, n_channels)
    centered = data_t - data_t.mean(axis=1, keepdims=True)
    projected = np.einsum("tnc,tc->tn", centered, weights)
    return (np.einsum("tnc,tn->tc", centered, projected) / (data_t.shape[1] - 1)).T


def _sklearn_fold(data, y_index, estimator, train, test, scoring, generalization):
    from mne.decoding import GeneralizingEstimator, SlidingEstimator

    wrapper = GeneralizingEstimator if generalization else SlidingEstimator
    model = wrapper(clone(estimator), scoring=scoring, n_jobs=1, verbose=False)
    model.fit(data[train], y_index[train])
    return np.asarray(model.score(data[test], y_index[test]))


@verbose
def decode_time(data, y, groups, *, estimator="lda", scoring="roc_auc", generalization=False,
                n_splits=None, patterns=True, times=None, ch_names=None, verbose=None):
    """Cross-validated decoding at each time point (or across time points).

    Parameters
    ----------
    data : ndarray, shape (n_epochs, n_channels, n_times)
        Epoch data (e.g. ``epochs.get_data()``).
    y : array-like, shape (n_epochs,)
        Class label of each epoch.
    groups : array-like, shape (n_epochs,)
        Run of each epoch; test folds hold out whole runs.
    estimator : "lda" | sklearn classifier
        ``"lda"``: batched shrinkage LDA, equal to
        ``LinearDiscriminantAnalysis(solver="lsqr", shrinkage="auto")`` fitted per time point.
        Any scikit-learn classifier (e.g. a ``make_pipeline(StandardScaler(),
        LogisticRegression())``) is fitted per time point through MNE's ``SlidingEstimator``.
    scoring : "roc_auc" | "balanced_accuracy"
        Score; ROC-AUC needs two classes (positive class: the last sorted label).
    generalization : bool
        Also test every training time on every testing time (temporal generalisation matrix).
    n_splits : int | None
        Number of folds; ``None`` is leave-one-run-out.
    patterns : bool
        Compute Haufe patterns (``"lda"`` route, two classes).
    times : ndarray | None
        Time of each sample (stored in the result); default sample indices.
    ch_names : list of str | None
        Channel names (stored in the result).
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    TemporalDecodingResult
    """
    data, classes, y_index, groups = _check_inputs(data, y, groups, scoring)
    n_classes = classes.size
    folds = grouped_folds(groups, n_splits)
    fast = isinstance(estimator, str)
    if fast:
        check_option("estimator", estimator, ("lda",))
        data_t = np.ascontiguousarray(data.transpose(2, 0, 1))  # time first for batched BLAS
    elif not (hasattr(estimator, "fit") and hasattr(estimator, "get_params")
              and is_classifier(estimator)):
        raise TypeError(
            f"estimator must be 'lda' or a scikit-learn classifier, got {type(estimator).__name__}."
        )
    logger.info(
        f"Decoding {classes.tolist()} over {data.shape[2]} time points, {len(folds)} folds "
        f"({'batched LDA' if fast else type(estimator).__name__})"
    )
    fold_scores = []
    for train, test in folds:
        if fast:
            fold_scores.append(
                _lda_fold(data_t, y_index, n_classes, train, test, scoring, generalization)
            )
        else:
            fold_scores.append(_sklearn_fold(data, y_index, estimator, train, test, scoring, generalization))
    pattern_array = _lda_patterns(data_t, y_index, n_classes) if fast and patterns else None
    chance = 0.5 if scoring == "roc_auc" else 1.0 / n_classes
    times = np.arange(data.shape[2], dtype=float) if times is None else np.asarray(times, float)
    return TemporalDecodingResult(
        scores=np.array(fold_scores), times=times, scoring=scoring, classes=classes.astype(str),
        chance=chance, patterns=pattern_array,
        ch_names=list(ch_names) if ch_names is not None else [],
    )


@verbose
def decode_epochs(epochs, contrast, runs="run", *, picks="data", verbose=None, **kwargs):
    """Decode a contrast between conditions of MNE epochs over time.

    Parameters
    ----------
    epochs : mne.Epochs
        Epochs of one subject, all runs concatenated.
    contrast : sequence of str
        Conditions to classify, as event names or MNE tags, e.g. ``("auditory", "visual")``
        pools left and right; epochs matching none are dropped.
    runs : str | array-like
        Column of ``epochs.metadata`` with the run, or the run of each epoch.
    picks : str | list
        Channels (bad channels are excluded).
    verbose : bool | str | int | None
        Log level for this call.
    **kwargs
        Passed to :func:`decode_time` (``estimator``, ``scoring``, ``generalization``, ...).

    Returns
    -------
    TemporalDecodingResult
    """
    labels, keep = epochs_labels(epochs, contrast)
    run_labels = epochs_runs(epochs, runs)[keep]
    picked = epochs[np.flatnonzero(keep)].pick(picks, exclude="bads")
    result = decode_time(picked.get_data(), labels, run_labels, times=epochs.times,
                         ch_names=picked.ch_names, **kwargs)
    result.ch_types = picked.get_channel_types()
    result.ch_locs = np.array([ch["loc"] for ch in picked.info["chs"]], dtype=float)
    return result
