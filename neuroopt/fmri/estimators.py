"""Rank-1 GLM estimators of voxel-wise HRFs and activations (Pedregosa et al. 2015, NeuroImage).

:class:`R1GLM` fits one HRF per voxel shared by all conditions (``betas_`` per condition);
:class:`R1GLMS` gives one activation per trial for decoding, each trial fitted against the sum
of all other trials (LSS-style "separate designs") with a rank-1 HRF. Both take arrays
(n_scans, n_voxels), one per run; runs share the HRF and betas and have their own drifts.
NIfTI images go through :func:`neuroopt.fmri.maps.fit_r1glm_images`.
"""

from __future__ import annotations

import numbers
import time

import numba
import numpy as np
import pandas as pd
from scipy import stats
from sklearn.base import BaseEstimator
from sklearn.utils.validation import check_is_fitted

from ..utils import (
    blas_threads,
    check_option,
    check_positive,
    logger,
)
from ._r1glm import (
    ar1_column_products,
    ar1_products,
    ar1_weights,
    hrf_peak_fwhm,
    leading_hrf_direction,
    normal_means_em,
    rank1_als,
    rank1_precision,
)
from .ar1 import ar1_bias_map, correct_ar1
from .design import check_events, condition_design, drift_basis, event_regressors, project_out
from .hrf_basis import HRFBasis

NOISE_MODELS = ("ols", "ar1")
# empirical HRF prior: voxels sampled to estimate it, fewest active voxels it needs, their
# significance level, and the canonical-prior weight used when it cannot be estimated
_PRIOR_VOXELS = 2000
_PRIOR_MIN_VOXELS = 30
_PRIOR_P_VALUE = 1e-3
_FALLBACK_SHRINKAGE = 3.0
# smallest prior variance of a shape ratio (numerical guard for identical HRFs)
_PRIOR_MIN_VARIANCE = 1e-6


def _as_run_list(Y, events, confounds):
    """Normalise (Y, events, confounds) to lists with one entry per run."""
    if isinstance(Y, (list, tuple)):
        runs = list(Y)
    else:
        runs = [Y]
    if isinstance(events, pd.DataFrame):
        events = [events]
    if not isinstance(events, (list, tuple)):
        raise TypeError("events must be a pandas DataFrame (one run) or a list of DataFrames (one "
                        f"per run), got {type(events).__name__}.")
    events = list(events)
    if len(events) != len(runs):
        raise ValueError(f"Got {len(runs)} run(s) of data but {len(events)} events table(s); give "
                         "one events DataFrame per run, in the same order.")
    if confounds is None:
        confounds = [None] * len(runs)
    elif not isinstance(confounds, (list, tuple)):
        confounds = [confounds]
    if len(confounds) != len(runs):
        raise ValueError(f"Got {len(runs)} run(s) but {len(confounds)} confounds entries; give one "
                         "per run (or None).")
    arrays = []
    for r, y in enumerate(runs):
        name = f"Y[{r}]" if len(runs) > 1 else "Y"
        try:
            y = np.asarray(y, dtype=np.float64)
        except (TypeError, ValueError) as err:
            raise TypeError(f"{name} must be a numeric array (n_scans, n_voxels); for NIfTI images "
                            "use neuroopt.fmri.maps.fit_r1glm_images.") from err
        if y.ndim == 1:
            y = y[:, None]
        if y.ndim != 2:
            raise ValueError(f"{name} must be 2D (n_scans, n_voxels), got shape {y.shape}; for 4D "
                             "images use neuroopt.fmri.maps.fit_r1glm_images with a mask.")
        bad = ~np.all(np.isfinite(y), axis=0)
        if bad.any():
            raise ValueError(
                f"{name} has {int(bad.sum())} voxel(s) with NaN or infinite values (first: "
                f"{np.flatnonzero(bad)[:5].tolist()}); exclude them with the mask or fill them "
                "before fitting."
            )
        arrays.append(y)
    n_voxels = {y.shape[1] for y in arrays}
    if len(n_voxels) > 1:
        raise ValueError(f"All runs must have the same number of voxels (columns), got shapes "
                         f"{[y.shape for y in arrays]}; each run is (n_scans, n_voxels).")
    return arrays, events, list(confounds)


def _check_scan_axis(y, events, t_r, y_name, events_name):
    """Say that ``y`` looks transposed (voxels x scans) given how far its events reach."""
    if not isinstance(events, pd.DataFrame) or "onset" not in events.columns or not len(events):
        return  # check_events names those problems
    onsets = pd.to_numeric(events["onset"], errors="coerce").to_numpy(float)
    if not np.isfinite(onsets).any():
        return
    last = float(np.nanmax(onsets))
    n_scans, n_voxels = y.shape
    needed = int(np.floor(last / t_r)) + 1
    # transposed: the rows cannot hold the events but the columns can, or there are more rows
    # than columns and the events end within the first quarter of the rows
    if (n_scans - 1) * t_r < last <= (n_voxels - 1) * t_r or (
            n_voxels < n_scans and needed <= n_voxels and needed < n_scans / 4):
        raise ValueError(
            f"{y_name} has shape {y.shape}, read as (n_scans, n_voxels) = ({n_scans}, "
            f"{n_voxels}), but {events_name} has onsets up to {last:g} s, i.e. within the first "
            f"{needed} scans at t_r={t_r:g} s. {y_name} must have one row "
            "per scan and one column per voxel: if yours is (n_voxels, n_scans), pass its "
            "transpose.")


def _pinv_psd(gram):
    """Pseudo-inverse of a symmetric PSD matrix (eigenvalues below 1e-10 x max are dropped)."""
    vals, vecs = np.linalg.eigh(gram)
    keep = vals > max(vals.max(), 0.0) * 1e-10
    return (vecs[:, keep] / vals[keep]) @ vecs[:, keep].T


def _prior_sample(n_voxels):
    """Indices of up to ``_PRIOR_VOXELS`` voxels spread evenly over ``n_voxels``."""
    return np.unique(np.linspace(0, n_voxels - 1, min(n_voxels, _PRIOR_VOXELS)).round()
                     .astype(np.int64))


def _check_int(value, name, minimum):
    if isinstance(value, bool) or not isinstance(value, numbers.Integral) or value < minimum:
        raise ValueError(f"{name} must be an integer >= {minimum}, got {value!r}.")
    return int(value)


class _RankOneBase(BaseEstimator):
    """Shared validation, design building and voxel-batched fitting."""

    def _check_params(self):
        check_positive(self.t_r, "t_r")
        check_option("basis", self.basis, ("3hrf", "fir"))
        check_option("noise_model", self.noise_model, NOISE_MODELS)
        check_positive(self.hrf_length, "hrf_length")
        check_positive(self.tol, "tol", strict=False)
        if not (isinstance(self.hrf_shrinkage, str) and self.hrf_shrinkage == "auto"):
            if isinstance(self.hrf_shrinkage, str):
                raise ValueError(f"hrf_shrinkage must be 'auto' or a number >= 0, got "
                                 f"{self.hrf_shrinkage!r}.")
            check_positive(self.hrf_shrinkage, "hrf_shrinkage", strict=False)
        _check_int(self.max_iter, "max_iter", 1)
        _check_int(self.chunk_size, "chunk_size", 1)
        n_jobs = self.n_jobs
        if n_jobs is None:
            n_jobs = 1
        if n_jobs == -1:
            n_jobs = numba.config.NUMBA_NUM_THREADS
        return _check_int(n_jobs, "n_jobs", 1)

    def _prepare(self, Y, events, confounds):
        """Validate inputs; build basis, conditions and per-run projected designs."""
        runs, events, confounds = _as_run_list(Y, events, confounds)
        t_r = float(self.t_r)
        self.basis_ = HRFBasis(self.basis, t_r=t_r, hrf_length=self.hrf_length)
        checked = []
        for r, (y, ev) in enumerate(zip(runs, events)):
            name = f"events[{r}]" if len(runs) > 1 else "events"
            _check_scan_axis(y, ev, t_r, f"Y[{r}]" if len(runs) > 1 else "Y", name)
            checked.append(check_events(ev, y.shape[0], t_r, name=name))
        self.conditions_ = np.array(sorted(set().union(*[set(ev["trial_type"]) for ev in checked])))
        self.n_scans_ = [y.shape[0] for y in runs]
        self.run_starts_ = np.concatenate([[0], np.cumsum(self.n_scans_)]).astype(np.int64)
        drifts = [
            drift_basis(y.shape[0], t_r, self.drift_model, self.high_pass, confounds=conf)
            for y, conf in zip(runs, confounds)
        ]
        n_free = sum(y.shape[0] - q.shape[1] for y, q in zip(runs, drifts))
        n_regressors = self.basis_.n_basis * len(self.conditions_)
        if n_free <= n_regressors:
            raise ValueError(
                f"Too few scans: {sum(self.n_scans_)} scan(s) minus "
                f"{sum(q.shape[1] for q in drifts)} drift/confound regressor(s) leaves {n_free} "
                "degrees of freedom for "
                f"{n_regressors} task regressors ({len(self.conditions_)} conditions x "
                f"{self.basis_.n_basis} basis functions). Use more runs, fewer conditions, "
                "basis='3hrf' or a lower high_pass."
            )
        self._n_nuisance = sum(q.shape[1] for q in drifts)
        return runs, checked, drifts

    def _projected_data(self, runs, drifts, columns):
        """Drift-free data of some voxels, runs stacked along scans."""
        return np.concatenate(
            [project_out(q, y[:, columns]) for y, q in zip(runs, drifts)], axis=0
        )

    def _ols_data_terms(self, designs, runs, drifts, columns):
        """``design^T y`` for each design and ``||P y||^2`` without forming the projected data.

        The designs are already drift-free, so ``Z^T P y = Z^T y``; and
        ``||P y||^2 = ||y||^2 - ||Q^T y||^2`` for the orthonormal drift basis ``Q``.
        """
        b_terms = [0.0] * len(designs)
        total = 0.0
        drift_part = 0.0
        for r, (y, q) in enumerate(zip(runs, drifts)):
            block = y[:, columns]
            rows = slice(self.run_starts_[r], self.run_starts_[r + 1])
            for d, design in enumerate(designs):
                b_terms[d] = b_terms[d] + design[rows].T @ block
            total = total + np.einsum("ij,ij->j", block, block)
            drift_coef = q.T @ block
            drift_part = drift_part + np.einsum("ij,ij->j", drift_coef, drift_coef)
        yy = total - drift_part
        # constant voxels: the difference is rounding noise, call it zero
        yy[yy <= 1e-10 * total] = 0.0
        return b_terms, yy

    def _condition_designs(self, events, drifts, basis):
        """Stacked drift-free condition design (n_scans_total, n_conditions * n_basis)."""
        return np.concatenate([
            project_out(q, condition_design(ev, basis, n, self.t_r, self.conditions_))
            for ev, q, n in zip(events, drifts, self.n_scans_)
        ], axis=0)

    def _initial_hrf(self, pinv_gram, b0):
        """Rank-1 SVD of the unconstrained GLM coefficients: leading HRF direction per voxel."""
        coef = np.ascontiguousarray(pinv_gram @ b0)
        return leading_hrf_direction(coef, self.basis_.n_basis, self.basis_.canonical_coef())

    def _fit_rank1(self, gram_terms, b_terms, yy_terms, w_init, rho=None, shrinkage=None,
                   penalty=None):
        """Rank-1 fit of a chunk of voxels from its Gram/data products: w, beta, loss, n_iter."""
        n_voxels = b_terms.shape[2]
        if shrinkage is None:
            shrinkage = np.zeros(n_voxels)
        weights = ar1_weights(rho) if rho is not None else np.ones((1, n_voxels))
        return rank1_als(
            np.ascontiguousarray(gram_terms), np.ascontiguousarray(weights),
            np.ascontiguousarray(b_terms), np.ascontiguousarray(yy_terms), self.basis_.n_basis,
            np.ascontiguousarray(w_init), self.basis_.matrix, float(self.tol),
            int(self.max_iter),
            self.basis_.shrinkage_penalty() if penalty is None else np.ascontiguousarray(penalty),
            np.ascontiguousarray(shrinkage, dtype=np.float64),
        )

    def _hrf_prior(self, b0, yy0, gram0, pinv_gram):
        """Penalty matrix ``P`` and weight ``alpha`` of the HRF prior (see ``hrf_shrinkage``).

        ``"auto"`` with the 3hrf basis: unpenalised rank-1 fits of up to 2000 voxels spread over
        the data; the voxels whose rank-1 model is significant (F test, p < 0.001) give shape
        ratios ``a = w[1:] / w[0]`` with delta-method noise covariances; the population mean
        ``m`` and covariance ``S`` of ``a`` maximise the marginal likelihood of the normal-normal
        model (EM). The prior ``a ~ N(m, S)`` is the penalty ``sigma^2 (a - m)^T S^-1 (a - m)``,
        written ``lambda ||beta||^2 w^T P w`` with ``P = [-m, I]^T S^-1 [-m, I]`` and
        ``lambda = sigma^2 / ||beta_canonical||^2`` (``alpha = 1 / n_conditions`` below).
        """
        self.hrf_prior_mean_ = None
        self.hrf_prior_cov_ = None
        if not isinstance(self.hrf_shrinkage, str):
            return self.basis_.shrinkage_penalty(), float(self.hrf_shrinkage)
        nb, nc = self.basis_.n_basis, len(self.conditions_)
        fallback = self.basis_.shrinkage_penalty(), _FALLBACK_SHRINKAGE
        if self.basis_.kind != "3hrf":
            return fallback
        w, beta, loss, _ = self._fit_rank1(gram0[None], b0[None], yy0[None],
                                           self._initial_hrf(pinv_gram, b0))
        n_params = nb - 1 + nc
        dof = int(self.run_starts_[-1]) - self._n_nuisance - n_params
        if dof < 1:
            return fallback
        sigma2 = loss / dof
        with np.errstate(invalid="ignore", divide="ignore"):
            f_stat = (yy0 - loss) / n_params / sigma2
            active = (sigma2 > 0) & (np.abs(w[0]) > 1e-6) & (
                stats.f.sf(f_stat, n_params, dof) < _PRIOR_P_VALUE)
        if active.sum() < _PRIOR_MIN_VOXELS:
            logger.info("R1GLM: %d significant voxel(s), too few for the empirical HRF prior; "
                        "using the canonical prior (hrf_shrinkage=%g)", int(active.sum()),
                        _FALLBACK_SHRINKAGE)
            return fallback
        info = rank1_precision(gram0, w[:, active], beta[:, active])
        try:
            inverse = np.linalg.inv(info)
        except np.linalg.LinAlgError:  # a singular voxel (degenerate design): drop such voxels
            vals, vecs = np.linalg.eigh(info)
            keep = np.all(vals > vals[:, -1:] * 1e-12, axis=1)
            active[np.flatnonzero(active)[~keep]] = False
            inverse = np.einsum("vij,vj,vkj->vik", vecs[keep], 1.0 / vals[keep], vecs[keep])
        noise_cov = sigma2[active, None, None] * inverse[:, :nb - 1, :nb - 1]
        ratios = (w[1:, active] / w[0, active]).T
        mean, cov = normal_means_em(ratios, noise_cov)
        vals, vecs = np.linalg.eigh(cov)
        cov = (vecs * np.maximum(vals, _PRIOR_MIN_VARIANCE)) @ vecs.T
        self.hrf_prior_mean_, self.hrf_prior_cov_ = mean, cov
        mixing = np.column_stack([-mean, np.eye(nb - 1)])
        logger.info("R1GLM: empirical HRF prior from %d voxels, shape-ratio mean %s, sd %s",
                    int(active.sum()), np.round(mean, 3), np.round(np.sqrt(np.diag(cov)), 3))
        return mixing.T @ np.linalg.solve(cov, mixing), 1.0 / nc

    def _shrinkage_weights(self, alpha, gram0, b0, yy0, b_can, pinv_canonical):
        """Per-voxel weight ``alpha * sigma^2 / mean(beta_canonical^2)`` of the HRF prior.

        It makes the prior on the non-canonical coefficients a Gaussian whose sd is
        proportional to the voxel's canonical activation, so the shrinkage fades as the
        SNR or the number of trials grows, and is invariant to the data scale.
        """
        if alpha == 0.0:
            return np.zeros(b0.shape[1])
        dof = max(int(self.run_starts_[-1]) - self._n_nuisance - gram0.shape[0], 1)
        rss = np.maximum(yy0 - np.einsum("pv,pv->v", b0, _pinv_psd(gram0) @ b0), 0.0)
        amplitude = np.mean((pinv_canonical @ b_can) ** 2, axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            weights = np.where(amplitude > 0, alpha * (rss / dof) / amplitude, 0.0)
        return weights

    @property
    def hrf_(self):
        """Fitted HRFs (n_hrf_times, n_voxels) at ``hrf_times_``, unit norm, positive peak."""
        check_is_fitted(self, "hrf_coef_")
        return self.basis_.matrix @ self.hrf_coef_

    @property
    def hrf_times_(self):
        """Times (s) at which ``hrf_`` is sampled."""
        check_is_fitted(self, "hrf_coef_")
        return self.basis_.times


class R1GLM(_RankOneBase):
    """Rank-1 GLM: one HRF per voxel shared by all conditions, one activation per condition.

    Parameters
    ----------
    t_r : float
        Repetition time in seconds (NIfTI headers can be wrong: pass it explicitly).
    basis : {"3hrf", "fir"}
        HRF basis: SPM canonical + temporal + dispersion derivatives over ``hrf_length`` s, or
        a finite impulse response with one lag per TR.
    hrf_length : float
        HRF support in seconds (32 s).
    drift_model : {"cosine", "polynomial", None}
        Drift regressors per run (nilearn's), always with a constant.
    high_pass : float
        Cut-off frequency (Hz) of the cosine drifts.
    noise_model : {"ar1", "ols"}
        ``"ar1"`` (default, as nilearn's ``FirstLevelModel`` and the workflow's
        ``r1glm.noise_model``): estimate a lag-1 autocorrelation per voxel from the residuals of the
        unconstrained GLM (pooled over runs, as nilearn does), prewhiten within each run and fit
        the rank-1 model in the whitened metric. The whitened Gram matrices are combinations of
        three shared matrices, so this costs little more than ``"ols"``.
    hrf_shrinkage : "auto" or float
        Gaussian prior on the HRF shape. Writing the HRF coefficients as ``w = w0 (1, a)``
        (``w0`` on the canonical HRF, ``a`` the derivative-to-canonical ratios), the prior is
        ``a ~ N(m, S)``, applied as the penalty ``sigma^2 (a - m)^T S^-1 (a - m)`` (``sigma^2``
        the voxel's noise variance), so it fades as the SNR or the number of trials grows and
        is invariant to the data scale.

        - ``"auto"`` (default, empirical Bayes): ``m`` and ``S`` are the population mean and
          covariance of the shape ratios, estimated from the data by maximising the marginal
          likelihood of a normal-normal model (EM) over the voxels whose unpenalised rank-1
          model is significant (F test, p < 0.001; up to 2000 voxels spread over the data),
          each with its delta-method noise covariance (``hrf_prior_mean_``,
          ``hrf_prior_cov_``). Nothing is tuned to a simulation: the prior is what the data
          say about the spread of HRF shapes. With fewer than 30 significant voxels, or with
          ``basis="fir"``, the canonical prior below is used with ``alpha = 3``.
        - a number ``alpha >= 0``: prior centred on the canonical HRF (``m = 0``) with
          ``S = I / (alpha n_conditions)``, i.e. the derivative coefficients of the
          (basis x condition) matrix get prior sd ``1 / sqrt(alpha)`` times the voxel's
          canonical-GLM activation. 0 is the plain rank-1 least squares of Pedregosa et al.

        On the simulations of ``benchmarks/bench_r1glm.py`` (AR(1) fits, 1e4 voxels, SNR
        0.25 / 0.5 / 1 / 2), ``"auto"`` gave HRF correlations 0.967 / 0.987 / 0.994 / 0.996
        against 0.892 / 0.980 / 0.993 / 0.996 with ``alpha = 0``, and pooled betas (unit-peak
        HRFs) correlating 0.801 / 0.936 / 0.978 / 0.990 with the truth: at SNR >= 0.5 the
        accuracy of OLS with each voxel's true HRF, at 0.25 just below it (0.810); ``alpha = 0``
        loses there (0.778), its HRF overfitting the noise of weak voxels. The estimated
        prior mean and sd were within 0.02 of those of the simulated HRF population, which the
        estimator never sees. The noise covariances of the shape ratios assume white noise
        (also with ``noise_model="ar1"``), which makes the estimated spread ``S`` slightly too
        wide, i.e. the prior conservative.
    n_jobs : int
        Numba threads for the per-voxel solver (-1: all). BLAS stays on one thread.
    tol : float
        ALS stops when an iteration lowers the loss by less than ``tol * ||y||^2``.
    max_iter : int
        Maximum number of ALS iterations per voxel.
    chunk_size : int
        Voxels processed at once (bounds memory).
    verbose : bool | str | None
        Log level of the fit.

    Attributes
    ----------
    hrf_coef_ : ndarray, (n_basis, n_voxels)
        HRF coefficients in the orthonormal basis ``basis_`` (unit norm, positive peak).
    hrf_ : ndarray, (n_hrf_times, n_voxels)
        HRF of each voxel sampled at ``hrf_times_`` (computed from ``hrf_coef_`` on access).
    hrf_peak_time_, hrf_fwhm_ : ndarray, (n_voxels,)
        Time to peak and full width at half maximum in s (NaN for a voxel without positive peak).
    betas_ : ndarray, (n_conditions, n_voxels)
        Activation of each condition (in units of the unit-norm HRF).
    conditions_ : ndarray of str
        Sorted condition names (rows of ``betas_``).
    loss_ : ndarray, (n_voxels,)
        Final residual sum of squares (in the whitened metric for ``"ar1"``).
    n_iter_ : ndarray of int, (n_voxels,)
        ALS iterations of each voxel.
    r2_, r2_canonical_ : ndarray, (n_voxels,)
        Fraction of drift-free variance explained by the rank-1 model, and by the ordinary GLM
        with the canonical HRF (one regressor per condition), both in the unwhitened metric.
    rho_ : ndarray, (n_voxels,) or None
        AR(1) coefficients (``"ar1"``), else None: the lag-1 autocorrelation of the residuals of
        the unconstrained GLM (every condition x basis function), corrected for the bias of
        residual autocorrelations (:mod:`neuroopt.fmri.ar1`).
    hrf_prior_mean_, hrf_prior_cov_ : ndarray or None
        Mean ``m`` and covariance ``S`` of the empirical HRF prior (``hrf_shrinkage="auto"``
        with the 3hrf basis), else None.
    fit_time_ : float
        Wall time of ``fit`` in s.
    """

    def __init__(self, t_r, basis="3hrf", hrf_length=32.0, drift_model="cosine", high_pass=0.01,
                 noise_model="ar1", hrf_shrinkage="auto", n_jobs=1, tol=1e-7, max_iter=200,
                 chunk_size=20000, verbose=None):
        self.t_r = t_r
        self.basis = basis
        self.hrf_length = hrf_length
        self.drift_model = drift_model
        self.high_pass = high_pass
        self.noise_model = noise_model
        self.hrf_shrinkage = hrf_shrinkage
        self.n_jobs = n_jobs
        self.tol = tol
        self.max_iter = max_iter
        self.chunk_size = chunk_size
        self.verbose = verbose

    def fit(self, Y, events, confounds=None):
        """Fit HRFs and condition activations.

        Parameters
        ----------
        Y : ndarray, (n_scans, n_voxels), or list of such arrays (one per run)
            BOLD data, voxels in columns. Runs are fitted jointly: shared HRF and betas, drifts
            (and confounds) per run.
        events : pandas.DataFrame or list of DataFrames (one per run)
            Columns ``onset``, ``duration`` (s), ``trial_type``; optional ``modulation``.
        confounds : array-like (n_scans, n_confounds) or list of them (one per run) or None
            Extra nuisance regressors, projected out with the drifts.

        Returns
        -------
        self : R1GLM
        """
        start = time.perf_counter()
        old_level = None
        if self.verbose is not None:
            from ..utils import set_log_level

            old_level = set_log_level(self.verbose)
        n_jobs = self._check_params()
        old_threads = numba.get_num_threads()
        try:
            numba.set_num_threads(min(n_jobs, numba.config.NUMBA_NUM_THREADS))
            with blas_threads(1):
                self._fit(Y, events, confounds)
        finally:
            numba.set_num_threads(old_threads)
            if old_level is not None:
                logger.setLevel(old_level)
        self.fit_time_ = time.perf_counter() - start
        logger.info("R1GLM: %d voxels in %.2f s (median %d ALS iterations)",
                    self.betas_.shape[1], self.fit_time_, int(np.median(self.n_iter_)))
        return self

    def _fit(self, Y, events, confounds):
        runs, checked, drifts = self._prepare(Y, events, confounds)
        design = self._condition_designs(checked, drifts, self.basis_)
        if self.basis_.kind == "3hrf":
            # the first orthonormal function is the canonical HRF itself
            canonical_design = np.ascontiguousarray(design[:, ::self.basis_.n_basis])
        else:
            canonical = HRFBasis("3hrf", t_r=self.t_r, hrf_length=self.hrf_length)
            canonical_design = np.ascontiguousarray(
                self._condition_designs(checked, drifts, canonical)[:, ::3])
        n_voxels = runs[0].shape[1]
        nb, nc = self.basis_.n_basis, len(self.conditions_)
        self.hrf_coef_ = np.zeros((nb, n_voxels))
        self.betas_ = np.zeros((nc, n_voxels))
        self.loss_ = np.zeros(n_voxels)
        self.n_iter_ = np.zeros(n_voxels, dtype=np.int64)
        self.r2_ = np.zeros(n_voxels)
        self.r2_canonical_ = np.zeros(n_voxels)
        self.rho_ = np.zeros(n_voxels) if self.noise_model == "ar1" else None
        ar1 = self.noise_model == "ar1"
        gram_terms = ar1_products(design, design, self.run_starts_, ar1)
        gram0 = gram_terms[0]
        pinv_gram = _pinv_psd(gram0)
        pinv_canonical = _pinv_psd(canonical_design.T @ canonical_design)
        canonical_in_design = self.basis_.kind == "3hrf"
        penalty = alpha = None
        # expected raw AR(1) estimate of this design's residuals, to correct its bias
        bias_map = ar1_bias_map(drifts, design, self.run_starts_) if ar1 else None
        if n_voxels > self.chunk_size:
            # HRF prior from voxels spread over all chunks (a separate pass over the data)
            sample = _prior_sample(n_voxels)
            (b_sample,), yy_sample = self._ols_data_terms([design], runs, drifts, sample)
            penalty, alpha = self._hrf_prior(b_sample, yy_sample, gram0, pinv_gram)
        for first in range(0, n_voxels, self.chunk_size):
            columns = slice(first, min(first + self.chunk_size, n_voxels))
            if ar1:
                # the whitened products need the drift-free data; S0 terms are the OLS ones
                data = self._projected_data(runs, drifts, columns)
                b_terms = ar1_products(design, data, self.run_starts_, True)
                yy_terms = ar1_column_products(data, self.run_starts_, True)
                # constant voxels: what is left after the drifts is rounding noise, call it zero
                total = sum(np.einsum("ij,ij->j", y[:, columns], y[:, columns]) for y in runs)
                constant = yy_terms[0] <= 1e-10 * total
                yy_terms[:, constant] = 0.0
                b_terms[:, :, constant] = 0.0
                b0, yy0 = b_terms[0], yy_terms[0]
                b_can = (b0[::nb] if canonical_in_design else canonical_design.T @ data)
                del data
            else:
                designs = [design] if canonical_in_design else [design, canonical_design]
                products, yy0 = self._ols_data_terms(designs, runs, drifts, columns)
                b0 = products[0]
                b_can = b0[::nb] if canonical_in_design else products[1]
            if penalty is None:  # one chunk: the HRF prior from its own data products
                sample = _prior_sample(b0.shape[1])
                penalty, alpha = self._hrf_prior(b0[:, sample], yy0[sample], gram0, pinv_gram)
            shrinkage = self._shrinkage_weights(alpha, gram0, b0, yy0, b_can, pinv_canonical)
            w_init = self._initial_hrf(pinv_gram, b0)
            if ar1:
                # AR(1) coefficient of the unconstrained GLM residuals r = y - Z c (as nilearn):
                # sum r_t^2 = yy - b^T c and sum r_t r_(t-1) from the lag-1 terms, then
                # corrected for the negative bias of residual autocorrelations (Worsley 2002)
                coef = pinv_gram @ b0
                rss = yy_terms[0] - np.einsum("pv,pv->v", b0, coef)
                lag = 0.5 * (yy_terms[1] - 2.0 * np.einsum("pv,pv->v", b_terms[1], coef)
                             + np.einsum("pv,pv->v", coef, gram_terms[1] @ coef))
                with np.errstate(invalid="ignore", divide="ignore"):
                    fitted = rss > 1e-12 * yy_terms[0]
                    rho = np.where(fitted, correct_ar1(np.nan_to_num(lag / rss), bias_map), 0.0)
                self.rho_[columns] = rho
                # the whitened residuals have the innovation variance sigma^2 (1 - rho^2)
                w, beta, loss, n_iter = self._fit_rank1(
                    gram_terms, b_terms, yy_terms, w_init, rho=rho,
                    shrinkage=shrinkage * (1.0 - rho ** 2), penalty=penalty)
            else:
                w, beta, loss, n_iter = self._fit_rank1(
                    gram0[None], b0[None], yy0[None], w_init, shrinkage=shrinkage,
                    penalty=penalty)
            self.hrf_coef_[:, columns] = w
            self.betas_[:, columns] = beta
            self.loss_[columns] = loss
            self.n_iter_[columns] = n_iter
            coef = (beta.T[:, :, None] * w.T[:, None, :]).reshape(beta.shape[1], -1).T
            rss = yy0 - 2 * np.einsum("pv,pv->v", b0, coef) + np.einsum(
                "pv,pv->v", coef, gram0 @ coef)
            explained_can = np.einsum("kv,kv->v", b_can, pinv_canonical @ b_can)
            with np.errstate(invalid="ignore", divide="ignore"):
                self.r2_[columns] = np.where(yy0 > 0, 1.0 - rss / yy0, 0.0)
                self.r2_canonical_[columns] = np.where(yy0 > 0, explained_can / yy0, 0.0)
        self.hrf_peak_time_, self.hrf_fwhm_ = hrf_peak_fwhm(
            self.hrf_coef_, self.basis_.matrix, self.basis_.times)

    def _task_signal(self, events):
        """Predicted task signal of each run: list of (n_scans, n_voxels) arrays, no drifts."""
        check_is_fitted(self, "hrf_coef_")
        if isinstance(events, pd.DataFrame):
            events = [events]
        if len(events) != len(self.n_scans_):
            raise ValueError(f"The model was fitted on {len(self.n_scans_)} run(s); give one "
                             f"events table per run, got {len(events)}.")
        coef = (self.betas_.T[:, :, None] * self.hrf_coef_.T[:, None, :]).reshape(
            self.betas_.shape[1], -1).T
        out = []
        for r, (ev, n) in enumerate(zip(events, self.n_scans_)):
            ev = check_events(ev, n, self.t_r, name=f"events[{r}]")
            unknown = sorted(set(ev["trial_type"]) - set(self.conditions_))
            if unknown:
                raise ValueError(f"events[{r}] has condition(s) {unknown} not seen in fit "
                                 f"({list(self.conditions_)}).")
            design = condition_design(ev, self.basis_, n, self.t_r, self.conditions_)
            out.append(design @ coef)
        return out

    def predict(self, events):
        """Task-related BOLD predicted by the fitted HRFs and betas (drifts excluded).

        Parameters
        ----------
        events : DataFrame or list of DataFrames
            One per fitted run (``n_scans_`` gives each run's length).

        Returns
        -------
        Y_pred : ndarray, (n_scans, n_voxels), or list of them if several runs were fitted
        """
        out = self._task_signal(events)
        return out[0] if len(out) == 1 else out

    def score(self, Y, events, confounds=None):
        """Mean over voxels of the R^2 of the drift-free data explained by :meth:`predict`."""
        check_is_fitted(self, "hrf_coef_")
        runs, events_list, confounds = _as_run_list(Y, events, confounds)
        predictions = self._task_signal(events_list)
        rss = 0.0
        total = 0.0
        for y, pred, conf in zip(runs, predictions, confounds):
            if y.shape != pred.shape:
                raise ValueError(f"Y has shape {y.shape} but the model predicts {pred.shape}.")
            q = drift_basis(y.shape[0], self.t_r, self.drift_model, self.high_pass,
                            confounds=conf)
            resid = project_out(q, y)
            rss = rss + ((resid - project_out(q, pred)) ** 2).sum(axis=0)
            total = total + (resid ** 2).sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            r2 = np.where(total > 0, 1.0 - rss / total, 0.0)
        return float(np.mean(r2))


class R1GLMS(R1GLM):
    """Rank-1 GLM with separate designs: one activation per trial (for decoding).

    The HRF is first estimated per voxel by :class:`R1GLM` on the conditions (all trials inform
    it). Then each trial gets its own design with two regressors built with that HRF, the trial
    and the sum of all other trials, and least squares gives the trial's beta
    (``hrf_per_trial=False``, the default). With ``hrf_per_trial=True`` the HRF is refitted in
    each trial's design (a rank-1 fit of HRF, trial beta and others beta started from the
    condition HRF): more flexible, but on simulations its trial betas were noisier (see
    ``benchmarks/bench_r1glm.py``).

    Parameters
    ----------
    t_r, basis, hrf_length, drift_model, high_pass, noise_model, hrf_shrinkage, n_jobs, tol, max_iter, chunk_size, verbose
        As in :class:`R1GLM`.
    hrf_per_trial : bool
        Refit the HRF within each trial's design (True) or keep the condition-level HRF (False).
    others : {"all", "condition"}
        Nuisance regressors of each trial's design: the sum of all other trials (the LSS design
        of Pedregosa et al.), or one sum of the other trials per condition (less leakage between
        conditions when trials are close).

    Attributes
    ----------
    betas_ : ndarray, (n_trials, n_voxels)
        Trial activations, trials ordered by run then onset.
    trial_conditions_ : ndarray of str, (n_trials,)
    trial_runs_ : ndarray of int, (n_trials,)
        0-based run index of each trial.
    trial_onsets_ : ndarray, (n_trials,)
    condition_betas_ : ndarray, (n_conditions, n_voxels)
        The R1GLM condition activations.
    hrf_coef_, hrf_, hrf_times_, hrf_peak_time_, hrf_fwhm_, conditions_, r2_, r2_canonical_,
    rho_
        From the condition-level R1GLM fit.
    """

    def __init__(self, t_r, basis="3hrf", hrf_length=32.0, drift_model="cosine", high_pass=0.01,
                 noise_model="ar1", hrf_shrinkage="auto", n_jobs=1, tol=1e-7, max_iter=200,
                 chunk_size=20000, hrf_per_trial=False, others="all", verbose=None):
        super().__init__(t_r, basis=basis, hrf_length=hrf_length, drift_model=drift_model,
                         high_pass=high_pass, noise_model=noise_model,
                         hrf_shrinkage=hrf_shrinkage, n_jobs=n_jobs, tol=tol,
                         max_iter=max_iter, chunk_size=chunk_size, verbose=verbose)
        self.hrf_per_trial = hrf_per_trial
        self.others = others

    def _fit(self, Y, events, confounds):
        check_option("others", self.others, ("all", "condition"))
        super()._fit(Y, events, confounds)
        self.condition_betas_ = self.betas_
        runs, checked, drifts = self._prepare(Y, events, confounds)
        nb = self.basis_.n_basis
        trial_blocks = []
        conditions, run_index, onsets = [], [], []
        n_total = int(self.run_starts_[-1])
        n_trials = sum(len(ev) for ev in checked)
        trial_design = np.zeros((n_total, n_trials * nb))
        col = 0
        for r, (ev, q, n) in enumerate(zip(checked, drifts, self.n_scans_)):
            regs = event_regressors(ev, self.basis_, n, self.t_r)  # (n, n_ev, nb)
            rows = slice(self.run_starts_[r], self.run_starts_[r + 1])
            trial_design[rows, col:col + len(ev) * nb] = project_out(q, regs.reshape(n, -1))
            col += len(ev) * nb
            conditions.extend(ev["trial_type"])
            run_index.extend([r] * len(ev))
            onsets.extend(ev["onset"])
            trial_blocks.append(len(ev))
        self.trial_conditions_ = np.array(conditions)
        self.trial_runs_ = np.array(run_index)
        self.trial_onsets_ = np.array(onsets, dtype=float)
        # "others" regressors: the sum of all other trials, or one sum per condition
        if self.others == "all":
            groups = np.ones((n_trials, 1))
        else:
            groups = (self.trial_conditions_[:, None] == self.conditions_[None, :]).astype(float)
        per_trial = trial_design.reshape(n_total, n_trials, nb)
        group_sums = np.einsum("ntj,tg->ngj", per_trial, groups)  # (n_scans, n_groups, nb)
        ar1 = self.noise_model == "ar1"
        max_iter = int(self.max_iter) if self.hrf_per_trial else 1
        n_voxels = runs[0].shape[1]
        n_groups = groups.shape[1]
        betas = np.zeros((n_trials, n_voxels))
        for first in range(0, n_voxels, self.chunk_size):
            columns = slice(first, min(first + self.chunk_size, n_voxels))
            data = self._projected_data(runs, drifts, columns)
            rho = self.rho_[columns] if ar1 else None
            weights = ar1_weights(rho) if ar1 else np.ones((1, data.shape[1]))
            b_trials = ar1_products(trial_design, data, self.run_starts_, ar1)
            n_terms = b_trials.shape[0]
            b_trials = b_trials.reshape(n_terms, n_trials, nb, -1)
            b_groups = np.einsum("stjv,tg->sgjv", b_trials, groups)
            yy_terms = np.ascontiguousarray(ar1_column_products(data, self.run_starts_, ar1))
            w_init = np.ascontiguousarray(self.hrf_coef_[:, columns])
            for i in range(n_trials):
                trial = per_trial[:, i]
                others = group_sums - groups[i][None, :, None] * trial[:, None, :]
                design_i = np.concatenate([trial, others.reshape(n_total, -1)], axis=1)
                gram_terms = ar1_products(design_i, design_i, self.run_starts_, ar1)
                b_others = b_groups - groups[i][None, :, None, None] * b_trials[:, i][:, None]
                b_terms = np.concatenate(
                    [b_trials[:, i], b_others.reshape(n_terms, n_groups * nb, -1)], axis=1)
                _, beta, _, _ = rank1_als(
                    gram_terms, weights, np.ascontiguousarray(b_terms), yy_terms, nb, w_init,
                    self.basis_.matrix, float(self.tol), max_iter,
                    self.basis_.shrinkage_penalty(), np.zeros(data.shape[1]),
                )
                betas[i, columns] = beta[0]
        self.betas_ = betas

    def _task_signal(self, events):
        """Predicted task signal of each run from the trial betas (``sum_i beta_i x_i``).

        ``x_i`` is trial ``i``'s regressor built with its voxel's fitted HRF; the events must be
        the fitted trials (same runs, onsets and conditions).
        """
        check_is_fitted(self, "hrf_coef_")
        if isinstance(events, pd.DataFrame):
            events = [events]
        if len(events) != len(self.n_scans_):
            raise ValueError(f"The model was fitted on {len(self.n_scans_)} run(s); give one "
                             f"events table per run, got {len(events)}.")
        out = []
        for r, (ev, n) in enumerate(zip(events, self.n_scans_)):
            ev = check_events(ev, n, self.t_r, name=f"events[{r}]")
            fitted = self.trial_runs_ == r
            if len(ev) != fitted.sum() or not (
                    np.allclose(ev["onset"].to_numpy(), self.trial_onsets_[fitted])
                    and np.array_equal(ev["trial_type"].to_numpy(),
                                       self.trial_conditions_[fitted])):
                raise ValueError(
                    f"events[{r}] ({len(ev)} trials) are not the {int(fitted.sum())} trials "
                    f"fitted in run {r}: R1GLMS betas are per trial, so predict and score take "
                    "the events given to fit (same onsets and trial_type).")
            regs = event_regressors(ev, self.basis_, n, self.t_r).reshape(n, -1)
            coef = (self.betas_[fitted].T[:, :, None] * self.hrf_coef_.T[:, None, :]).reshape(
                self.betas_.shape[1], -1).T
            out.append(regs @ coef)
        return out

    def predict(self, events):
        """Task-related BOLD predicted by each trial's beta and its voxel's HRF (no drifts).

        The HRF is the condition-level one (``hrf_coef_``); with ``hrf_per_trial=True`` the
        per-trial HRFs are not kept, so the prediction approximates the fitted trial designs.

        Parameters
        ----------
        events : DataFrame or list of DataFrames
            The events given to :meth:`fit` (one table per run).

        Returns
        -------
        Y_pred : ndarray, (n_scans, n_voxels), or list of them if several runs were fitted
        """
        return super().predict(events)
