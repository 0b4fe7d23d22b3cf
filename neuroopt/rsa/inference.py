"""Group-level RSA inference: model fits, noise ceiling, bootstrap over subjects and conditions.

Models are tested against zero, against each other and against the lower bound of the noise
ceiling, per time point (bootstrap) and over time (cluster-based permutation tests of the
per-subject curves, :func:`neuroopt.stats.cluster_test_1samp`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..stats import cluster_test_1samp
from ..utils import atomic_save_npz, check_finite, check_option, check_random_state, logger, verbose
from .compare import COMPARE_METHODS, compare_paired, compare_rdms, rdm_covariance


def _check_subject_rdms(subject_rdms):
    rdms = np.asarray(subject_rdms, dtype=np.float64)
    if rdms.ndim == 2:
        rdms = rdms[:, None, :]
    if rdms.ndim != 3:
        raise ValueError(
            "subject_rdms must have shape (n_subjects, n_pairs) or (n_subjects, n_times, n_pairs), "
            f"got {rdms.shape}."
        )
    if rdms.shape[0] < 2:
        raise ValueError(f"Group inference needs at least 2 subjects, got {rdms.shape[0]}.")
    check_finite(rdms, "subject_rdms")
    return rdms


def noise_ceiling(subject_rdms, method="cosine_whitened", subject_ids=None, covariance=None):
    """Per-subject lower and upper noise-ceiling values.

    The upper bound compares each subject with the pooled RDM of all subjects, the lower bound
    with the pooled RDM of the other subjects (leave-one-subject-out); pooling is done in the
    space the comparison is invariant in (:func:`neuroopt.rsa.compare.pool_rdms`).

    Parameters
    ----------
    subject_rdms : ndarray, shape (n_subjects, n_times, n_pairs)
        Each subject's RDM vectors over the axis (time points or regions).
    method : str
        Comparison method (see :func:`neuroopt.rsa.compare.compare_rdms`).
    subject_ids : ndarray | None
        Identity of each row (a subject bootstrap repeats rows: copies are left out together).
    covariance : ndarray | None
        RDM covariance for the whitened cosine on resampled pairs.

    Returns
    -------
    lower, upper : ndarray, shape (n_subjects, n_times)
    """
    from .compare import _normalize_for_pooling

    rdms = np.asarray(subject_rdms, dtype=np.float64)
    ids = np.arange(rdms.shape[0]) if subject_ids is None else np.asarray(subject_ids)
    normalized = _normalize_for_pooling(rdms, method, covariance)
    total = normalized.sum(axis=0)
    upper = compare_paired(rdms, total / rdms.shape[0], method, covariance)
    unique, inverse, counts = np.unique(ids, return_inverse=True, return_counts=True)
    id_sums = np.zeros((unique.size,) + normalized.shape[1:])
    np.add.at(id_sums, inverse, normalized)
    n_others = np.maximum(rdms.shape[0] - counts[inverse], 1)
    others = (total[None] - id_sums[inverse]) / n_others.reshape((-1,) + (1,) * (rdms.ndim - 1))
    lower = compare_paired(rdms, others, method, covariance)
    return lower, upper


@dataclass
class ModelComparisonResult:
    """Model fits of a group, with noise ceiling and bootstrap distribution.

    Attributes
    ----------
    fits : ndarray, shape (n_subjects, n_times, n_models)
    noise_lower, noise_upper : ndarray, shape (n_subjects, n_times)
    bootstrap_fits : ndarray, shape (n_bootstrap, n_times, n_models)
        Group-mean fits of each bootstrap sample.
    bootstrap_lower : ndarray, shape (n_bootstrap, n_times)
        Group-mean lower noise ceiling of each bootstrap sample.
    model_names : list of str
    axis : ndarray, shape (n_times,)
    method : str
    """

    fits: np.ndarray
    noise_lower: np.ndarray
    noise_upper: np.ndarray
    bootstrap_fits: np.ndarray
    bootstrap_lower: np.ndarray
    model_names: list
    axis: np.ndarray
    method: str

    @property
    def mean_fits(self):
        """Group-mean fit, shape (n_times, n_models)."""
        return self.fits.mean(axis=0)

    @property
    def standard_error(self):
        """Bootstrap standard error of the group-mean fit, shape (n_times, n_models)."""
        return self.bootstrap_fits.std(axis=0, ddof=1)

    def confidence_interval(self, level=0.95):
        """Percentile bootstrap interval, shape (2, n_times, n_models)."""
        tail = 100 * (1 - level) / 2
        return np.percentile(self.bootstrap_fits, [tail, 100 - tail], axis=0)

    @property
    def pairwise_p_values(self):
        """Two-sided bootstrap p-values of model i vs model j, shape (n_models, n_models, n_times)."""
        diff = self.bootstrap_fits[:, :, :, None] - self.bootstrap_fits[:, :, None, :]
        return _two_sided_p(diff).transpose(1, 2, 0)

    @property
    def ceiling_p_values(self):
        """One-sided bootstrap p-values that a model fits worse than the lower noise ceiling.

        Shape (n_models, n_times); small values: the model does not explain all explainable
        variance.
        """
        diff = self.bootstrap_lower[:, :, None] - self.bootstrap_fits
        return _one_sided_p(diff).T

    @property
    def zero_p_values(self):
        """One-sided bootstrap p-values that the group fit is > 0, shape (n_models, n_times)."""
        return _one_sided_p(self.bootstrap_fits).T

    def cluster_tests(self, *, n_permutations=1024, random_state=0):
        """Cluster permutation tests over time of per-subject curves.

        Returns
        -------
        dict
            ``("zero", m)``: model ``m`` > 0; ``("pair", m1, m2)``: ``m1 != m2``;
            ``("ceiling", m)``: model below the lower noise ceiling. Values are
            :class:`neuroopt.stats.ClusterTestResult`.
        """
        tests = {}
        names = self.model_names
        for i, name in enumerate(names):
            tests[("zero", name)] = cluster_test_1samp(
                self.fits[:, :, i], n_permutations=n_permutations, tail=1, random_state=random_state)
            tests[("ceiling", name)] = cluster_test_1samp(
                self.noise_lower - self.fits[:, :, i], n_permutations=n_permutations, tail=1,
                random_state=random_state)
            for j in range(i + 1, len(names)):
                tests[("pair", name, names[j])] = cluster_test_1samp(
                    self.fits[:, :, i] - self.fits[:, :, j], n_permutations=n_permutations,
                    tail=0, random_state=random_state)
        return tests

    def save(self, path):
        """Write an ``.npz`` file atomically; read back with :meth:`load`."""
        atomic_save_npz(path, fits=self.fits, noise_lower=self.noise_lower, noise_upper=self.noise_upper,
                        bootstrap_fits=self.bootstrap_fits, bootstrap_lower=self.bootstrap_lower,
                        model_names=np.array(self.model_names, dtype=str), axis=self.axis,
                        method=np.array(self.method))
        return path

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(
                fits=npz["fits"], noise_lower=npz["noise_lower"], noise_upper=npz["noise_upper"],
                bootstrap_fits=npz["bootstrap_fits"], bootstrap_lower=npz["bootstrap_lower"],
                model_names=[str(n) for n in npz["model_names"]], axis=npz["axis"],
                method=str(npz["method"]),
            )


def _one_sided_p(samples):
    """P(sample <= 0) with the +1 correction, along axis 0."""
    n = samples.shape[0]
    return (np.sum(samples <= 0, axis=0) + 1) / (n + 1)


def _two_sided_p(samples):
    n = samples.shape[0]
    below = (np.sum(samples <= 0, axis=0) + 1) / (n + 1)
    above = (np.sum(samples >= 0, axis=0) + 1) / (n + 1)
    return np.minimum(1.0, 2 * np.minimum(below, above))


def _resampled_pairs(n_conditions, sample):
    """Original pair index of each pair of resampled positions, dropping identical conditions."""
    pair_index = np.full((n_conditions, n_conditions), -1)
    rows, cols = np.triu_indices(n_conditions, k=1)
    pair_index[rows, cols] = np.arange(rows.size)
    pair_index[cols, rows] = np.arange(rows.size)
    pos_rows, pos_cols = np.triu_indices(sample.size, k=1)
    keep = sample[pos_rows] != sample[pos_cols]
    mapped = pair_index[sample[pos_rows[keep]], sample[pos_cols[keep]]]
    # RDM covariance of the kept pairs, with the resampled positions as conditions
    covariance = rdm_covariance(sample.size)[np.ix_(keep, keep)]
    return mapped, covariance


@verbose
def evaluate_models(subject_rdms, model_rdms, model_names=None, *, method="cosine_whitened",
                    n_bootstrap=1000, resample="subjects_conditions", axis=None, random_state=0,
                    verbose=None):
    """Fit model RDMs to each subject's RDMs, with noise ceiling and bootstrap.

    Parameters
    ----------
    subject_rdms : ndarray, shape (n_subjects, n_times, n_pairs) | (n_subjects, n_pairs)
        Data RDMs (e.g. crossnobis stacks of :class:`neuroopt.rsa.RDMStack`).
    model_rdms : ndarray, shape (n_models, n_pairs)
        Model RDMs in the same condition order.
    model_names : list of str | None
        Names of the models (default ``model0``, ...).
    method : "cosine_whitened" | "tau_a" | "rho_a" | "cosine"
        Comparison; the whitened unbiased cosine suits crossnobis RDMs.
    n_bootstrap : int
        Bootstrap samples (0 to skip).
    resample : "subjects_conditions" | "subjects" | "conditions"
        What the bootstrap resamples; resampling conditions too accounts for the conditions
        being a sample of a population of stimuli. Resampling conditions needs at least 3 of
        them: with 2 (one pair), ``"subjects_conditions"`` resamples subjects only (with a
        warning) and ``"conditions"`` is an error.
    axis : ndarray | None
        Time points (or other axis) of the RDM stacks.
    random_state : int | None
        Seed.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    ModelComparisonResult
    """
    check_option("method", method, COMPARE_METHODS)
    check_option("resample", resample, ("subjects_conditions", "subjects", "conditions"))
    rdms = _check_subject_rdms(subject_rdms)
    models = np.atleast_2d(np.asarray(model_rdms, dtype=np.float64))
    if models.shape[1] != rdms.shape[2]:
        raise ValueError(
            f"model_rdms have {models.shape[1]} pairs but subject_rdms have {rdms.shape[2]}."
        )
    names = list(model_names) if model_names is not None else [f"model{i}" for i in range(len(models))]
    if len(names) != models.shape[0]:
        raise ValueError(f"{len(names)} model_names for {models.shape[0]} models.")
    n_subjects, n_times, n_pairs = rdms.shape
    n_conditions = int(round((1 + np.sqrt(1 + 8 * n_pairs)) / 2))
    fits = compare_rdms(rdms, models, method)
    lower, upper = noise_ceiling(rdms, method)
    rng = check_random_state(random_state)
    if resample == "conditions" and n_conditions < 3 and n_bootstrap > 0:
        raise ValueError(
            f"resample='conditions' needs at least 3 conditions (a bootstrap sample of conditions "
            f"needs 3 distinct ones), got {n_conditions}; use resample='subjects'."
        )
    if resample == "subjects_conditions" and n_conditions < 3:
        # a bootstrap sample of 2 conditions holds a single pair or none (both draws the same
        # condition): no comparison is defined on it, so only subjects can be resampled
        logger.warning(
            f"evaluate_models: {n_conditions} conditions are too few to resample conditions (a "
            "sample needs 3 distinct ones); the bootstrap resamples subjects only."
        )
        resample = "subjects"
    boot_fits = np.empty((n_bootstrap, n_times, models.shape[0]))
    boot_lower = np.empty((n_bootstrap, n_times))
    for b in range(n_bootstrap):
        subjects = (rng.randint(0, n_subjects, n_subjects) if resample != "conditions"
                    else np.arange(n_subjects))
        pairs, covariance = np.arange(n_pairs), None
        if resample != "subjects":
            # at least 3 distinct conditions for a ranking / cosine: redraw (a sample of n >= 3
            # conditions has them with probability >= 6/27, so this ends)
            sample = rng.randint(0, n_conditions, n_conditions)
            while np.unique(sample).size < 3:
                sample = rng.randint(0, n_conditions, n_conditions)
            pairs, covariance = _resampled_pairs(n_conditions, sample)
        sampled = rdms[subjects][:, :, pairs]
        boot_fits[b] = compare_rdms(sampled, models[:, pairs], method, covariance).mean(axis=0)
        boot_lower[b] = noise_ceiling(sampled, method, subjects, covariance)[0].mean(axis=0)
    logger.info(f"evaluate_models: {n_subjects} subjects, {len(names)} models, {n_bootstrap} bootstraps")
    return ModelComparisonResult(
        fits=fits, noise_lower=lower, noise_upper=upper, bootstrap_fits=boot_fits,
        bootstrap_lower=boot_lower, model_names=names,
        axis=np.arange(n_times) if axis is None else np.asarray(axis), method=method,
    )


def stack_subject_rdms(stacks, subjects=None):
    """Stack subjects' RDM stacks (objects or ``.npz`` paths) for :func:`evaluate_models`.

    Checks that all subjects share the conditions and the axis (time points or ROIs).

    Parameters
    ----------
    stacks : list of RDMStack | list of path-like
        One stack per subject (:class:`neuroopt.rsa.RDMStack` or its ``.npz`` file).
    subjects : list of str | None
        Subject labels for error messages.

    Returns
    -------
    rdms : ndarray, shape (n_subjects, n_axis, n_pairs)
    conditions : ndarray of str
    axis : ndarray
    """
    from .rdm import RDMStack

    stacks = [s if isinstance(s, RDMStack) else RDMStack.load(s) for s in stacks]
    subjects = [str(s) for s in subjects] if subjects is not None else [str(i) for i in range(len(stacks))]
    first = stacks[0]
    for subject, stack in zip(subjects[1:], stacks[1:]):
        if list(stack.conditions) != list(first.conditions):
            raise ValueError(
                f"Subject {subject} has conditions {list(stack.conditions)} but subject "
                f"{subjects[0]} has {list(first.conditions)}; select the same conditions for all."
            )
        same_axis = stack.axis.shape == first.axis.shape and (
            np.allclose(stack.axis, first.axis) if first.axis.dtype.kind in "fiu"
            else np.array_equal(stack.axis, first.axis))
        if not same_axis:
            raise ValueError(
                f"Subject {subject} has another {first.axis_name} axis than subject {subjects[0]}; "
                "epoch (or define ROIs for) all subjects identically."
            )
    return np.array([s.dissimilarities for s in stacks]), first.conditions, first.axis
