"""Post-selection of the active sources: backward elimination by a least-squares test.

An L2,1 estimate at an alpha that keeps noise out (the quantile universal threshold) still has
many active sources far from any true one: the penalty shrinks the amplitude of the true
sources and nearby columns of the gain explain the part left in the residual. On the
simulations of ``benchmarks/bench_alpha.py`` (real MEG gain, 10 mm grid) most active sources
are such leakage (precision 0.1-0.2). Refitting the active sources by least squares removes the
shrinkage, and a source whose own columns then explain no more of the data than noise would is
dropped: the classical backward elimination with the partial sum of squares

    Delta_g = || X_S B_S - X_{S \\ g} B_{S \\ g} ||_F^2 = tr(B_g^T [(X_S^T X_S)^{-1}]_{gg}^{-1} B_g),

whose distribution when source ``g`` is absent (least squares, Gaussian noise of std ``sigma``
white in time) is ``sigma^2 chi2(n_orient T)``. The weakest source is removed while its
``Delta_g`` is below the ``1 - level / |S_0|`` quantile (Bonferroni over the ``|S_0|``
sources active at the start), and the least squares refitted. With noise correlated in time (covariance
``sigma^2 Sigma``), ``Delta_g`` is a weighted sum of chi-squares, approximated by
``c chi2(nu)`` with matched mean and variance (Satterthwaite): ``c = sigma^2 tr(Sigma^2) /
tr(Sigma)``, ``nu = n_orient tr(Sigma)^2 / tr(Sigma^2)``. The test is applied after selection,
so its level is nominal, not exact; it decides which sources are kept, not a p-value to report.
While the sources have as many columns as there are sensors or more, the least squares are not
identifiable: the weakest source of the minimum-norm fit is then removed without a test.
"""

from __future__ import annotations

import numbers

import numpy as np
from scipy import stats

from ..utils import check_positive, validate_type
from .solvers import group_columns


def eliminate_sources(X, Y, active_set, n_orient, noise_std, *, level=0.05, time_cov=None):
    """Active sources kept by backward elimination (see the module docstring).

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Gain (whitened, as fitted).
    Y : ndarray, shape (n_sensors, n_times)
        Data the estimate was fitted to.
    active_set : ndarray of bool, shape (n_features // n_orient,)
        Active sources of the estimate (``active_set_``).
    n_orient : int
        Columns per source.
    noise_std : float
        Noise standard deviation of each entry of ``Y`` (whitened average: ``1 / sqrt(nave)``).
    level : float
        Family-wise level, in (0, 1), of the elimination test (Bonferroni over the active
        sources at the start).
    time_cov : ndarray, shape (n_times, n_times) | None
        Temporal correlation of the noise (mean diagonal 1); ``None``: white.

    Returns
    -------
    kept : ndarray of bool, shape (n_features // n_orient,)
        The sources of ``active_set`` that pass the test.
    """
    noise_std = check_positive(noise_std, "noise_std")
    level = check_positive(level, "level")
    if level >= 1:
        raise ValueError(f"level must be in (0, 1), got {level}; e.g. 0.05.")
    validate_type(n_orient, numbers.Integral, "n_orient")
    active_set = np.asarray(active_set, dtype=bool)
    if active_set.shape != (X.shape[1] // n_orient,):
        raise ValueError(f"active_set must have shape ({X.shape[1] // n_orient},) (one entry per "
                         f"source of X), got {active_set.shape}.")
    T = Y.shape[1]
    if time_cov is None:
        tr1 = tr2 = float(T)
    else:
        tr1, tr2 = float(np.trace(time_cov)), float(np.sum(time_cov * time_cov))
    scale, dof = noise_std ** 2 * tr2 / tr1, n_orient * tr1 ** 2 / tr2
    groups = np.flatnonzero(active_set)
    # the survivors of an elimination are the strongest of the initial set: the Bonferroni
    # correction is over all of it (over the remaining ones, the last source of pure noise
    # survived in 37 % of null draws at level 0.1, tests/sparse/test_sparse_selection.py)
    threshold = scale * stats.chi2.ppf(1 - level / max(groups.size, 1), dof)
    while groups.size:
        Xs = X[:, group_columns(groups, n_orient)]
        cov = np.linalg.pinv(Xs.T @ Xs)
        B = cov @ (Xs.T @ Y)
        blocks = B.reshape(groups.size, n_orient, T)
        inv_blocks = np.linalg.pinv(np.stack([cov[i * n_orient:(i + 1) * n_orient,
                                                  i * n_orient:(i + 1) * n_orient]
                                              for i in range(groups.size)]))
        delta = np.einsum("gat,gab,gbt->g", blocks, inv_blocks, blocks)
        weakest = int(np.argmin(delta))
        identifiable = groups.size * n_orient < X.shape[0]
        if identifiable and delta[weakest] >= threshold:
            break
        groups = np.delete(groups, weakest)
    kept = np.zeros_like(active_set)
    kept[groups] = True
    return kept
