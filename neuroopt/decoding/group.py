"""Group level of time-resolved decoding: average curves with cluster-corrected significance."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..stats import cluster_test_1samp
from ..utils import atomic_save_npz, logger, verbose
from .temporal import TemporalDecodingResult


@dataclass
class GroupDecodingResult:
    """Subject curves, their mean and the clusters where decoding exceeds chance.

    Attributes
    ----------
    scores : ndarray, shape (n_subjects, n_times) | (n_subjects, n_times, n_times)
        Fold-averaged score of each subject (generalisation matrices when 3D).
    times : ndarray, shape (n_times,)
    chance : float
    scoring : str
    clusters : list of (int, int)
        Sample ranges of clusters of the (diagonal) curve above chance.
    cluster_p_values : ndarray, shape (n_clusters,)
    subjects : list of str
    """

    scores: np.ndarray
    times: np.ndarray
    chance: float
    scoring: str
    clusters: list
    cluster_p_values: np.ndarray
    subjects: list

    @property
    def mean_scores(self):
        """Group-mean score, shape (n_times,) or (n_times, n_times) (as ``TemporalDecodingResult``)."""
        return self.scores.mean(axis=0)

    @property
    def curves(self):
        """Per-subject curves over time (the diagonal for generalisation matrices)."""
        if self.scores.ndim == 3:
            return np.diagonal(self.scores, axis1=1, axis2=2)
        return self.scores

    def significant_mask(self, alpha=0.05):
        """Time points inside clusters with ``p < alpha``."""
        mask = np.zeros(self.times.size, bool)
        for (start, stop), p_value in zip(self.clusters, self.cluster_p_values):
            if p_value < alpha:
                mask[start:stop] = True
        return mask

    def save(self, path):
        """Write an ``.npz`` file atomically; read back with :meth:`load`."""
        atomic_save_npz(path, scores=self.scores, times=self.times, chance=np.array(self.chance),
                        scoring=np.array(self.scoring), clusters=np.array(self.clusters, int).reshape(-1, 2),
                        cluster_p_values=self.cluster_p_values, subjects=np.array(self.subjects, dtype=str))
        return path

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(
                scores=npz["scores"], times=npz["times"], chance=float(npz["chance"]),
                scoring=str(npz["scoring"]), clusters=[tuple(c) for c in npz["clusters"].tolist()],
                cluster_p_values=npz["cluster_p_values"], subjects=[str(s) for s in npz["subjects"]],
            )


@verbose
def group_decoding(results, subjects=None, *, n_permutations=1024, random_state=0, verbose=None):
    """Average subject decoding results and find clusters above chance over time.

    Parameters
    ----------
    results : list of TemporalDecodingResult | list of path-like
        One result per subject (as saved by :meth:`TemporalDecodingResult.save`).
    subjects : list of str | None
        Subject labels (default ``"0"``, ``"1"``, ...).
    n_permutations : int
        Sign-flip permutations of the cluster test.
    random_state : int | None
        Seed of the permutations.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    GroupDecodingResult
    """
    results = [r if isinstance(r, TemporalDecodingResult) else TemporalDecodingResult.load(Path(r))
               for r in results]
    subjects = [str(s) for s in subjects] if subjects is not None else [str(i) for i in range(len(results))]
    if len(results) < 2:
        raise ValueError(f"Group decoding needs at least 2 subjects, got {len(results)}.")
    if len(subjects) != len(results):
        raise ValueError(f"{len(subjects)} subject labels for {len(results)} results.")
    first = results[0]
    for subject, result in zip(subjects[1:], results[1:]):
        if result.times.shape != first.times.shape or not np.allclose(result.times, first.times):
            raise ValueError(
                f"Subject {subject} has other time points than subject {subjects[0]} "
                f"({result.times.size} vs {first.times.size}); epoch all subjects identically."
            )
        if result.scoring != first.scoring or result.scores.ndim != first.scores.ndim:
            raise ValueError(f"Subject {subject} used another scoring or decoding mode than {subjects[0]}.")
        if first.ch_names and result.ch_names and result.ch_names != first.ch_names:
            diff = sorted(set(first.ch_names) ^ set(result.ch_names))
            raise ValueError(
                f"Subject {subject} has other channels than subject {subjects[0]} (differing: "
                f"{diff[:10]}); interpolate bad channels or pick a common set before decoding."
            )
    scores = np.array([r.mean_scores for r in results])
    curves = np.diagonal(scores, axis1=1, axis2=2) if scores.ndim == 3 else scores
    test = cluster_test_1samp(curves - first.chance, n_permutations=n_permutations, tail=1,
                              random_state=random_state)
    logger.info(f"group decoding: {len(results)} subjects, {len(test.clusters)} cluster(s)")
    return GroupDecodingResult(
        scores=scores, times=first.times, chance=first.chance, scoring=first.scoring,
        clusters=test.clusters, cluster_p_values=test.p_values, subjects=subjects,
    )
