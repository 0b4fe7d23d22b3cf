"""Post-selection of the active sources: backward elimination, and relocation to a neighbour.

:func:`eliminate_sources` (below) drops the sources a least-squares test does not find;
:func:`relocate_sources` moves each remaining source to the gain neighbour that the joint
least-squares fit prefers (see its docstring).

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


def _block_bases(blocks, scale=None, rtol=1e-8):
    """Orthonormal bases of a stack of column blocks, shape (k, n, n_orient).

    Columns of a basis beyond the block's numerical rank (singular value below ``rtol`` times
    ``scale``, default the block's largest singular value) are set to zero.
    """
    U, s, _ = np.linalg.svd(blocks, full_matrices=False)
    scale = s[:, :1] if scale is None else np.asarray(scale, dtype=float).reshape(-1, 1)
    keep = s > rtol * np.maximum(scale, np.finfo(float).tiny)
    return U * keep[:, None, :]


def gain_neighbours(X, n_orient, source, min_corr=0.95, bases=None, n_neighbours=None):
    """Sources whose gain the data can hardly tell apart from the gain of ``source``.

    The similarity of two sources is the first canonical correlation of their gain blocks
    (the cosine of the smallest angle between the spaces their ``n_orient`` columns span), a
    measure independent of the units, the depth weighting and the orientation. On MNE's sample
    MEG gain (10 mm volume grid, whitened, depth 0.8), face neighbours (10 mm) have a median
    canonical correlation of 0.98, diagonal ones (14 mm) 0.95; a threshold of 0.95 gives about
    17 neighbours per source, 90 % of them within 22 mm.

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Gain (whitened, as fitted).
    n_orient : int
        Columns per source.
    source : int
        Index of the source.
    min_corr : float
        Smallest canonical correlation, in (0, 1), of a neighbour.
    bases : ndarray, shape (n_sources, n_sensors, n_orient) | None
        Orthonormal bases of every source's gain block (computed when ``None``).
    n_neighbours : int | None
        Keep at most the ``n_neighbours`` most correlated of them (``None``: all).

    Returns
    -------
    neighbours : ndarray of int
        The sources (other than ``source``) at or above ``min_corr``, most correlated first.
    """
    if bases is None:
        bases = _block_bases(X.reshape(X.shape[0], -1, n_orient).transpose(1, 0, 2))
    corr = np.linalg.svd(np.einsum("sa,hsb->hab", bases[source], bases),
                         compute_uv=False)[:, 0]
    corr[source] = 0.0
    order = np.argsort(-corr, kind="stable")
    order = order[corr[order] >= min_corr]
    return order if n_neighbours is None else order[:n_neighbours]


def relocate_sources(X, Y, active_set, n_orient, *, min_corr=0.95, n_neighbours=8,
                     max_sweeps=20):
    """Move each active source to the neighbour that the joint least-squares fit prefers.

    The L2,1 penalty shrinks the amplitude of the true sources, and when a gain block is
    nearly collinear with its neighbours' (canonical correlation 0.95-0.99 one grid step
    apart on MNE's sample MEG gain, 10 mm grid) the convex estimate can put a source one step
    away from the one that generated the data: on the 5-source simulations of
    ``benchmarks/bench_alpha.py`` it misses about one source in five even on noiseless data.
    With the number of sources fixed, the maximum-likelihood positions (Gaussian noise)
    minimise the least-squares residual of the sources fitted jointly, as a multi-dipole fit
    does; this is a local search of that residual on the grid, started from the estimate:
    in turn, each active source is replaced by the candidate among itself and its
    :func:`gain_neighbours` that leaves the smallest residual with the other active sources
    refitted (the residual never increases), until a sweep moves none or after
    ``max_sweeps`` sweeps. While the sources have as many columns as there are sensors or
    more, the least squares are not identifiable and the support is returned unchanged.

    Each step stays local, as a dipole fit refines a position: the candidates are the
    ``n_neighbours`` gain neighbours most correlated with the current position. The
    neighbours at canonical correlation >= 0.95 alone are local on a 306-channel MEG gain
    (:func:`gain_neighbours`; 90 % within 22-24 mm on the 10 mm sample grid) but not on a
    59-channel EEG sphere gain, whose columns all look alike (median 283, 90 % within
    94 mm, up to 137 mm on the demo's 10 mm grid); the 8 most correlated lie 90 % within
    17 mm (MEG) and 20 mm (EEG): the face and nearest diagonal neighbours of the grid. A
    source moves further only through successive steps that each lower the residual.

    Parameters
    ----------
    X : ndarray, shape (n_sensors, n_features)
        Gain (whitened, as fitted).
    Y : ndarray, shape (n_sensors, n_times)
        Data the estimate was fitted to.
    active_set : ndarray of bool, shape (n_features // n_orient,)
        Active sources.
    n_orient : int
        Columns per source.
    min_corr : float
        Canonical correlation, in (0, 1), from which a source is a neighbour (a candidate
        position).
    n_neighbours : int | None
        At most this many candidates besides the current position, the most correlated
        (``None``: every neighbour at ``min_corr`` or above).
    max_sweeps : int
        Maximum number of sweeps over the active sources.

    Returns
    -------
    relocated : ndarray of bool, shape (n_features // n_orient,)
        Active sources after the search (as many as in ``active_set``).
    """
    validate_type(n_orient, numbers.Integral, "n_orient")
    if n_neighbours is not None:
        validate_type(n_neighbours, numbers.Integral, "n_neighbours")
        if n_neighbours < 1:
            raise ValueError(f"n_neighbours must be None (every neighbour) or >= 1, got "
                             f"{n_neighbours}; e.g. 8 (the default).")
    min_corr = check_positive(min_corr, "min_corr")
    if min_corr >= 1:
        raise ValueError(f"min_corr must be in (0, 1), got {min_corr}; e.g. 0.95.")
    active_set = np.asarray(active_set, dtype=bool)
    n_sources = X.shape[1] // n_orient
    if active_set.shape != (n_sources,):
        raise ValueError(f"active_set must have shape ({n_sources},) (one entry per source "
                         f"of X), got {active_set.shape}.")
    groups = list(np.flatnonzero(active_set))
    if not groups or len(groups) * n_orient >= X.shape[0]:
        return active_set.copy()
    blocks = X.reshape(X.shape[0], n_sources, n_orient).transpose(1, 0, 2)
    bases = _block_bases(blocks)
    # numerical rank of a candidate orthogonal to the others: relative to its own gain
    block_norms = np.linalg.norm(blocks, ord=2, axis=(1, 2))
    neighbours = {}
    for _ in range(int(max_sweeps)):
        moved = False
        for p, current in enumerate(groups):
            others = groups[:p] + groups[p + 1:]
            if others:
                Q = np.linalg.qr(X[:, group_columns(np.array(others), n_orient)])[0]
                residual = Y - Q @ (Q.T @ Y)
            else:
                Q, residual = None, Y
            if current not in neighbours:
                neighbours[current] = gain_neighbours(X, n_orient, current, min_corr, bases,
                                                      n_neighbours)
            taken = set(others)
            cand = np.array([current] + [h for h in neighbours[current] if h not in taken])
            P = blocks[cand]
            if Q is not None:  # candidates' columns orthogonal to the other sources'
                P = P - Q @ (Q.T @ P)  # batched matrix products (BLAS), not einsum loops
            U = _block_bases(P, block_norms[cand], rtol=1e-6)
            # residual decrease of adding each candidate to the others
            decrease = np.sum((U.transpose(0, 2, 1) @ residual) ** 2, axis=(1, 2))
            best = int(np.argmax(decrease))
            if best and decrease[best] > decrease[0] * (1 + 1e-9):
                groups[p] = int(cand[best])
                moved = True
        if not moved:
            break
    relocated = np.zeros_like(active_set)
    relocated[groups] = True
    return relocated
