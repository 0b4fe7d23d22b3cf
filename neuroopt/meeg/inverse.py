"""Sparse source estimates of Evoked or Epochs data with the estimators of :mod:`neuroopt.sparse`.

``sparse_inverse`` prepares the problem as :func:`mne.inverse_sparse.mixed_norm` does (whitening
with the noise covariance, depth weighting, loose / free / fixed orientation), solves it with a
multitask Lasso (MxNE), a square-root Lasso, SGCL or CLaR, and returns an
``mne.SourceEstimate`` / ``mne.VolSourceEstimate``, a list of ``mne.Dipole`` and the noise
level(s) in whitened and physical units.

Whitening uses the covariance as given (noise of one trial): after whitening, an average of
``nave`` trials has noise variance ``1 / nave`` per whitened channel if the covariance is right.
The noise levels of the concomitant estimators are reported against that value
(``noise_to_cov_ratio`` is 1 when the data are as noisy as the covariance predicts).
"""

from __future__ import annotations

import numbers
from dataclasses import dataclass, field

import mne
import numpy as np
import pandas as pd
from sklearn.base import clone

from ..sparse._base import without_selection
from ..sparse.alpha_search import (
    quantile_universal_alpha,
    search_alpha,
    subspace_noise_std,
    time_colour_matrix,
)
from ..sparse.criteria import noise_time_correlation
from ..utils import check_option, check_positive, logger, validate_type, verbose
from . import _mne_private

ESTIMATORS = ("mtl", "sqrt", "sgcl", "clar")
# an estimate explaining less than this fraction of the part of the whitened data above the
# noise level (1 - n T / (nave ||Y||^2)) is flagged as near-empty
MIN_EXPLAINED_VARIANCE = 0.1
# noise in the data / noise the covariance predicts: warn outside WARN, fail above FAIL[1]
NOISE_RATIO_WARN = (0.2, 5.0)
NOISE_RATIO_FAIL = (0.0, 100.0)
_UNITS = {"grad": "T/m", "mag": "T", "eeg": "V", "seeg": "V", "ecog": "V", "dbs": "V"}


@dataclass(frozen=True)
class SparseInverseSolution:
    """Result of :func:`sparse_inverse`.

    Attributes
    ----------
    stc : mne.SourceEstimate | mne.VolSourceEstimate | mne.VectorSourceEstimate
        Active sources only, amplitudes in A*m (norm over orientations unless
        ``pick_ori="vector"``).
    dipoles : list of mne.Dipole
        One dipole per active source, with its time course, orientation and goodness of fit.
    noise_levels : pandas.DataFrame
        One row per channel type: ``group`` (whitening group), ``ch_type``, ``n_channels``,
        ``sigma_whitened`` (noise std per whitened channel), ``sigma_expected`` (what the noise
        covariance predicts, ``1 / sqrt(nave)``), ``noise_to_cov_ratio`` (their ratio),
        ``noise_std`` (the noise std of one channel in physical units, ``unit``) and ``kind``:
        ``"estimated"`` for the concomitant estimators, ``"residual"`` (RMS of the whitened
        residual) for the multitask Lasso, which estimates no noise level.
    estimator : object
        The fitted :mod:`neuroopt.sparse` estimator (whitened, weighted problem).
    alpha : float
        Regularization used, in the units of the estimator's objective.
    alpha_max : float
        Smallest ``alpha`` giving no active source, on these data.
    alpha_method : str
        How ``alpha`` was chosen.
    explained_variance : float
        Fraction of the whitened (mean) data explained by the active sources.
    warnings : tuple of str
        What makes this estimate doubtful, each with what to try (also logged as warnings):
        no active source, ``alpha >= alpha_max``, an explained variance below
        ``MIN_EXPLAINED_VARIANCE`` (10 %) of the signal fraction (the part of the whitened
        data above the noise level the covariance predicts, ``1 - n T / (nave ||Y||^2)``;
        about 43 % for MNE's sample auditory evoked, 0-200 ms), a noise level at its floor ``sigma_min``, or data
        noise far from the covariance's prediction (``data_noise_ratio`` outside
        ``NOISE_RATIO_WARN``). Empty when none applies.
    data_noise_ratio : float
        Noise of the whitened data, estimated before the fit, over the noise the covariance
        predicts (``1 / sqrt(nave)``); see :func:`whitened_noise_ratio`.
    criterion_path : pandas.DataFrame | None
        With ``alpha="sure"`` / ``"cv"``: every alpha tried by the search (``alpha``,
        ``alpha_fraction`` of ``alpha_max``, ``criterion`` value, ``n_active`` groups and
        ``chosen``), in decreasing alpha; ``None`` otherwise.
    selection : str
        The post-selection applied (``sparse_inverse``'s ``selection``; ``"none"`` for CLaR,
        which has none), with the number of sources removed and moved when it changed the
        support, e.g. ``"relocate (elimination 0.05: 41 removed, 3 moved)"``.
    """

    stc: object
    dipoles: list
    noise_levels: pd.DataFrame
    estimator: object
    alpha: float
    alpha_max: float
    alpha_method: str
    explained_variance: float
    warnings: tuple = field(default=())
    data_noise_ratio: float = float("nan")
    criterion_path: pd.DataFrame | None = None
    selection: str = "none"

    @property
    def alpha_fraction(self):
        """``alpha / alpha_max``."""
        return self.alpha / self.alpha_max if self.alpha_max > 0 else np.inf


ALPHA_METHODS = ("auto", "sure", "cv")
# post-selection of sparse_inverse -> (prune_level is used, relocate)
SELECTIONS = {"relocate": (True, True), "prune": (True, False), "none": (False, False)}


def _make_estimator(name, alpha, *, n_orient, sensor_groups, sigma_min, tol, max_iter,
                    n_reweighting, debias, prune_level=None, noise_std=1.0, relocate=False,
                    reweighting="log"):
    """The array estimator of :mod:`neuroopt.sparse` behind each ``estimator`` name."""
    from .. import sparse

    common = dict(n_orient=n_orient, tol=tol, max_iter=max_iter, n_reweighting=n_reweighting,
                  reweighting=reweighting, debias=debias)
    if name != "clar":  # CLaR's full noise covariance: no elimination test
        common["prune_level"] = prune_level
        common["relocate"] = relocate
    if name == "mtl":
        return sparse.MultiTaskLasso(alpha, noise_std=noise_std, **common)
    if name == "sqrt":
        return sparse.MultiTaskSqrtLasso(alpha, sigma_min=sigma_min, **common)
    if name == "sgcl":
        return sparse.SGCL(alpha, sensor_groups=sensor_groups, sigma_min=sigma_min, **common)
    return sparse.CLaR(alpha, sigma_min=sigma_min, **common)


def _whitened_row_groups(whitener, gain_info):
    """Channel-type group of each whitened channel (row of the whitener).

    MNE whitens each channel type separately, except MEG magnetometers and gradiometers, which
    it whitens jointly when SSP projectors are present; a row then mixes both and is labelled
    ``"meg"``.
    """
    ch_types = np.array(gain_info.get_channel_types())
    power = whitener ** 2
    types = list(dict.fromkeys(ch_types))
    share = np.stack([power[:, ch_types == t].sum(axis=1) for t in types], axis=1)
    share /= share.sum(axis=1, keepdims=True)
    labels = np.array(types, dtype=object)[share.argmax(axis=1)]
    meg = [i for i, t in enumerate(types) if t in ("grad", "mag")]
    if len(meg) == 2 and np.any(share[:, meg].min(axis=1) > 0.01):
        labels[np.isin(labels, ("grad", "mag"))] = "meg"
    elif len(meg) == 2 and not set(types[i] for i in meg) <= set(labels):
        # after a Maxwell filter (SSS) both types carry the same information and every row can be
        # dominated by one of them: the other has no row of its own, so the MEG is one group
        labels[np.isin(labels, ("grad", "mag"))] = "meg"
    return labels.astype(str)


def _noise_table(sigmas, row_groups, gain_info, noise_cov, nave, kind):
    """Noise levels per channel type, whitened and physical (see :class:`SparseInverseSolution`)."""
    cov_diag = noise_cov.data if noise_cov["diag"] else np.diag(noise_cov.data)
    cov_var = dict(zip(noise_cov.ch_names, cov_diag))
    ch_types = np.array(gain_info.get_channel_types())
    ch_names = np.array(gain_info["ch_names"])
    expected = 1.0 / np.sqrt(nave)
    rows = []
    for group, sigma in sigmas.items():
        members = ("grad", "mag") if group == "meg" else (group,)
        for ch_type in members:
            names = ch_names[ch_types == ch_type]
            if len(names) == 0:
                continue
            # whitened noise std sigma <=> noise covariance sigma**2 * C (C: the given covariance)
            physical = sigma * np.sqrt(np.mean([cov_var[n] for n in names]))
            rows.append(dict(group=group, ch_type=ch_type, n_channels=len(names),
                             n_whitened=int(np.sum(row_groups == group)),
                             sigma_whitened=float(sigma), sigma_expected=float(expected),
                             noise_to_cov_ratio=float(sigma / expected), noise_std=float(physical),
                             unit=_UNITS.get(ch_type, "?"), kind=kind))
    return pd.DataFrame(rows)


def _group_sigmas(estimator, name, residual, row_groups):
    """Noise std per whitened group: fitted for the concomitant estimators, residual RMS for MTL."""
    groups = [str(g) for g in dict.fromkeys(row_groups)]
    if name == "sqrt":
        return {g: estimator.sigma_ for g in groups}, "estimated"
    if name == "sgcl":
        return dict(zip(map(str, estimator.sensor_groups_), estimator.sigmas_)), "estimated"
    if name == "clar":
        variances = np.einsum("ij,ji->i", estimator.noise_cov_, estimator.noise_cov_)
        return {g: np.sqrt(variances[row_groups == g].mean()) for g in groups}, "estimated"
    return {g: np.sqrt(np.mean(residual[row_groups == g] ** 2)) for g in groups}, "residual"


def whitened_noise_ratio(whitened, nave, n_signal=3):
    """Noise of whitened data over the noise the covariance predicts, estimated from the data.

    Whitening with the right covariance makes the noise of an average of ``nave`` trials white
    across channels with standard deviation ``1 / sqrt(nave)``, whatever its smoothness in time,
    and the evoked signal spans a few spatial components. The noise level is estimated from the
    energy left after removing the ``n_signal`` strongest singular components of the whitened
    ``(n_channels, n_times)`` data: ``sqrt(sum_{i > k} s_i^2 / (n_channels n_times))``.
    No baseline is needed (the data are usually cropped to the window of interest). On MNE's
    sample evokeds (MEG, 0-200 ms, nave 3-6) it gives 1.03-1.10, against 1.23-1.32 from the
    pre-stimulus baseline. It underestimates the noise of strongly low-pass-filtered, short
    data by about ``sqrt(1 - k / T_eff)`` (``T_eff``: independent time samples), and
    overestimates it when more than ``k`` components carry signal; a ratio far from 1 means
    the covariance is wrong (:func:`sparse_inverse` warns beyond 5x either way and fails above
    100x, where the multitask Lasso's ``alpha="auto"`` fit would not end).

    Parameters
    ----------
    whitened : ndarray, shape (n_channels, n_times)
        Whitened (mean) data.
    nave : float
        Number of averaged trials.
    n_signal : int
        Number of strongest components counted as signal.

    Returns
    -------
    ratio : float
    """
    n, T = whitened.shape
    s = np.linalg.svd(whitened, compute_uv=False)
    k = min(n_signal, max(len(s) - 1, 0))
    sigma = np.sqrt(np.sum(s[k:] ** 2) / (n * T))
    return float(sigma * np.sqrt(nave))


def _check_noise_ratio(ratio, inst_name):
    """Fail or return a warning when the data noise does not match ``noise_cov``.

    Noise more than ``NOISE_RATIO_FAIL[1]`` (100) times the prediction fails: the covariance is
    far too small, ``alpha="auto"`` of the multitask Lasso would be tiny and its fit endless.
    Any other ratio outside ``NOISE_RATIO_WARN`` returns a warning; far below (a covariance
    far too large) the estimate comes out empty, and noiseless simulations land there too.
    """
    if not np.isfinite(ratio) or NOISE_RATIO_WARN[0] <= ratio <= NOISE_RATIO_WARN[1]:
        return None
    direction = "small" if ratio > 1 else "large"
    message = (
        f"noise_cov does not describe the noise of {inst_name}: after whitening, the data's "
        f"noise is {ratio:.3g} times the level noise_cov predicts (1 / sqrt(nave); 1 is "
        f"right), i.e. the covariance is about {max(ratio, 1 / ratio) ** 2:.3g} times too "
        f"{direction} in variance. Is it from another recording, in other units, scaled, or "
        "of the average instead of single trials? Compute it from this recording's baseline "
        "(mne.compute_covariance(epochs, tmax=0)) or empty-room data, with the same filters "
        "and projectors as the data."
    )
    if ratio > NOISE_RATIO_FAIL[1]:
        raise ValueError(message)
    return message


def _inst_name(inst):
    """``inst`` described for messages: its type and its condition (comment), if any."""
    comment = getattr(inst, "comment", None)
    if isinstance(inst, mne.BaseEpochs):
        return f"inst (Epochs, {len(inst)} epochs)"
    return f"inst (Evoked {comment!r})" if comment else "inst (Evoked)"


def _check_channels(info, forward, noise_cov, inst_name):
    """Log the channels the inverse will use; fail when a channel type or most are dropped.

    The good data channels of ``info`` are kept only if the forward has them and the
    covariance has them (not marked bad), as in MNE. Returns the names kept.
    """
    picks = mne.pick_types(info, meg=True, eeg=True, seeg=True, ecog=True, dbs=True,
                           ref_meg=False, exclude="bads")
    names = [info["ch_names"][i] for i in picks]
    if not names:
        raise ValueError(f"{inst_name} has no good M/EEG channel; check info['bads'] and the "
                         "channel types.")
    types = np.array(info.get_channel_types(picks=picks))
    fwd_names = set(forward["sol"]["row_names"])
    cov_names = set(noise_cov.ch_names) - set(noise_cov["bads"])
    in_fwd = np.array([n in fwd_names for n in names])
    in_cov = np.array([n in cov_names for n in names])
    for ok, arg, fix in (
            (in_cov, "noise_cov", "compute it from this recording (mne.compute_covariance on "
                                  "its epochs, tmax=0)"),
            (in_fwd, "forward", "compute it with this recording's info "
                                "(mne.make_forward_solution)")):
        if not ok.any():
            other = getattr(noise_cov if arg == "noise_cov" else forward, "ch_names", [])
            raise ValueError(
                f"{arg} has none of the {len(names)} good data channels of {inst_name} (e.g. "
                f"{names[:3]}; {arg} has {len(other)} channels, e.g. {list(other)[:3]}): is it "
                f"from another recording? {fix[0].upper() + fix[1:]}."
            )
    used = in_fwd & in_cov
    for ch_type in dict.fromkeys(types):
        of_type = types == ch_type
        n_used, n_good = int(used[of_type].sum()), int(of_type.sum())
        if n_used == 0 or n_used < 0.5 * n_good:
            missing_fwd = int((of_type & ~in_fwd).sum())
            missing_cov = int((of_type & ~in_cov).sum())
            raise ValueError(
                f"Only {n_used} of the {n_good} good {ch_type} channels of {inst_name} can be "
                f"used: {missing_fwd} are missing from forward and {missing_cov} from noise_cov "
                f"(or bad there). Pick the channel types you want to invert first (e.g. "
                f"inst.pick({[str(t) for t in dict.fromkeys(types) if t != ch_type]!r})), or "
                "recompute forward / noise_cov with these channels."
            )
    dropped = [n for n, u in zip(names, used) if not u]
    counts = ", ".join(f"{int(used[types == t].sum())} {t}" for t in dict.fromkeys(types))
    logger.info("Channels used: %s (%d of %d good data channels of %s)%s", counts,
                int(used.sum()), len(names), inst_name,
                f"; not in forward or noise_cov: {dropped}" if dropped else "")
    return [n for n, u in zip(names, used) if u]


def _check_finite_data(data, ch_names, inst_name):
    """Name the channels holding NaN or infinite values (before whitening mixes them)."""
    bad = ~np.isfinite(data)
    if bad.any():
        per_channel = bad.reshape(-1, *bad.shape[-2:]).any(axis=(0, 2))
        channels = [ch_names[i] for i in np.flatnonzero(per_channel)]
        raise ValueError(
            f"{inst_name} has {int(bad.sum())} NaN or infinite value(s) in channel(s) "
            f"{channels}: mark them bad (inst.info['bads'] += {channels}) and interpolate them "
            "(inst.interpolate_bads()), or drop them."
        )


def _solution_warnings(est, alpha_abs, alpha_max, explained, signal_fraction, noise_warning):
    """What makes the estimate doubtful, each with what to try (see SparseInverseSolution)."""
    out = []
    fraction = alpha_abs / alpha_max if alpha_max > 0 else np.inf
    if not est.active_set_.any():
        reason = ("alpha >= alpha_max" if fraction >= 1 else
                  f"alpha = {fraction:.3g} alpha_max")
        out.append(f"no active source ({reason}, explained variance 0 %): the data do not "
                   "support a source at this alpha; try a smaller alpha (e.g. alpha=0.3, a "
                   "fraction of alpha_max; sparse.alpha in the workflow config), check "
                   "noise_cov, or average more trials.")
    elif explained < MIN_EXPLAINED_VARIANCE * signal_fraction:
        out.append(f"near-empty estimate: {int(est.active_set_.sum())} active source(s) "
                   f"explain {100 * explained:.1f} % of the whitened data, less than "
                   f"{100 * MIN_EXPLAINED_VARIANCE:.0f} % of the {100 * signal_fraction:.0f} % "
                   f"above the noise level, at alpha = {fraction:.3g} alpha_max; try a smaller alpha or estimator='mtl' / 'sgcl', and check the "
                   "time window (inst.crop) and noise_cov.")
    if getattr(est, "noise_at_floor_", False):
        out.append("the noise level fell to its floor sigma_min (the model interpolates the "
                   "data) and the fit stopped early; use a larger alpha or sigma_min.")
    if noise_warning:
        out.append(noise_warning)
    for message in out:
        logger.warning("Sparse inverse: %s", message)
    return tuple(out)


def _check_inst(inst, estimator, alpha="auto"):
    """Data for the solver: ``(evoked_like, data, nave)``; CLaR and ``alpha="cv"`` keep epochs."""
    validate_type(inst, (mne.Evoked, mne.BaseEpochs), "inst")
    if alpha == "cv":
        if not isinstance(inst, mne.BaseEpochs):
            raise ValueError(
                "alpha='cv' fits the average of half of the epochs and scores it on the other "
                f"half: pass an mne.Epochs as inst, not {type(inst).__name__} (or use "
                "alpha='sure', which needs only the evoked response)."
            )
        if len(inst) < 2:
            raise ValueError(f"alpha='cv' splits the epochs into two halves: inst has {len(inst)} "
                             "epoch(s), at least 2 are needed; use alpha='sure'.")
        return inst.average(), inst.get_data(), len(inst)
    if estimator == "clar":
        if not isinstance(inst, mne.BaseEpochs):
            raise ValueError(
                "estimator='clar' estimates the noise covariance from repetitions and needs the "
                f"single trials: pass an mne.Epochs instead of {type(inst).__name__} (or use "
                "estimator='sgcl' or 'sqrt' on an Evoked)."
            )
        if len(inst) < 2:
            raise ValueError(f"estimator='clar' needs at least 2 epochs, got {len(inst)}.")
        from ..sparse.concomitant import check_epochs_vary

        data = inst.get_data()
        if np.all(np.isfinite(data)):
            check_epochs_vary(float(np.sum((data - data.mean(axis=0)) ** 2)),
                              float(np.vdot(data, data)), len(inst), name="inst (Epochs)")
        return inst, data, 1
    if isinstance(inst, mne.BaseEpochs):
        inst = inst.average()
    return inst, inst.data, inst.nave


def _criterion_table(res, alpha_max):
    """The search of ``alpha="sure"`` / ``"cv"`` as a table (see SparseInverseSolution)."""
    order = np.argsort(res.alphas)[::-1]
    return pd.DataFrame({"alpha": res.alphas[order], "alpha_fraction": res.alphas[order] / alpha_max,
                         "criterion": res.criterion_values[order], "n_active": res.n_active[order],
                         "chosen": res.alphas[order] == res.alpha})


@verbose
def sparse_inverse(inst, forward, noise_cov, *, estimator="mtl", alpha="auto", loose="auto",
                   depth=0.8, rank=None, pick_ori=None, sigma_min="auto", n_reweighting=1,
                   reweighting="log", debias=False, tol=1e-6, max_iter=100, alpha_level=0.95,
                   random_state=0, selection="relocate", prune_level=0.05, verbose=None):
    """Sparse source estimate (MxNE-like) with a multitask Lasso or a concomitant estimator.

    The gain is whitened with ``noise_cov`` and weighted for depth and orientation exactly as in
    :func:`mne.inverse_sparse.mixed_norm` (whose private helpers are reused, see
    ``neuroopt.meeg._mne_private``); the array problem is then solved by
    :mod:`neuroopt.sparse`.

    Parameters
    ----------
    inst : mne.Evoked | mne.Epochs
        Data to invert, cropped to the time window of interest. Epochs are averaged, except for
        ``estimator="clar"``, which needs them (it estimates the noise covariance from the
        repetitions).
    forward : mne.Forward
        Forward solution. Free-orientation for ``loose > 0``; with a volume source space the
        orientation must be free (``loose=1``, which ``"auto"`` selects).
    noise_cov : mne.Covariance
        Noise covariance of one trial (as :func:`mne.compute_covariance` returns it).
    estimator : ``"mtl"`` | ``"sqrt"`` | ``"sgcl"`` | ``"clar"``
        Multitask Lasso (MxNE, :class:`neuroopt.sparse.MultiTaskLasso`), smoothed concomitant
        square-root Lasso (one noise level), SGCL (one noise level per channel-type group) or
        CLaR (a full noise covariance from the epochs).
    alpha : ``"auto"`` | ``"sure"`` | ``"cv"`` | float
        ``"auto"`` (default): the quantile universal threshold (see
        :func:`~neuroopt.sparse.quantile_universal_alpha`), the smallest ``alpha`` for which
        noise alone gives no source with probability ``alpha_level``. It is pivotal for the
        concomitant estimators (independent of the noise level); for the multitask Lasso it
        uses the noise level ``1 / sqrt(nave)`` implied by whitening, so it is right only if
        ``noise_cov`` describes the noise of the data. The simulated noise has the temporal
        correlation of the data's noise subspace (the data projected out of their strongest
        spatial components, :func:`~neuroopt.sparse.criteria.noise_time_correlation`): M/EEG
        noise is smooth in time, and white-noise simulations give too small an alpha, while
        the correlation of the whole data (signal included) gave too large a one (no source
        at all for SGCL on the demo). For ``"sqrt"`` / ``"sgcl"`` the pivotal threshold is
        then multiplied by the square root of the noise RMS (of the noise subspace, divided by
        what that reads on the simulated noise itself,
        :func:`~neuroopt.sparse.alpha_search.null_noise_rms_ratio`) over the noise level the
        estimator fits at that threshold (capped at 1): the pivotal QUT
        assumes the normalisation by the noise level, the fit normalises by its sigma, which
        the signal inflates (up to the data RMS at ``alpha_max``: SGCL gave no source in the
        demo's auditory conditions). The square root (a damped correction) is calibrated on
        the demo and MNE's sample auditory data (see the comment in the code). It costs 30 evaluations of ``alpha_max`` (+ one fit).
        ``"sure"``: the minimiser of Stein's unbiased risk estimate of the whitened fit, with
        the exact degrees of freedom of the estimator (implicit differentiation, no
        Monte-Carlo) and the same temporal noise correlation; noise std ``1 / sqrt(nave)`` for
        the multitask Lasso, the concomitant estimate at the ``"auto"`` alpha for the others
        (not for CLaR). ``"cv"``: the minimiser of the held-out error between the averages of
        the even and the odd epochs (``inst`` must be Epochs; not for CLaR). Both search a
        warm-started grid and refine with hypergradients
        (:func:`~neuroopt.sparse.search_alpha`, on the convex problem when
        ``n_reweighting > 1``) and keep the path in ``solution.criterion_path``. SURE
        minimises the prediction risk, not the support error: on real data it keeps more
        sources than ``"auto"`` (see ``benchmarks/bench_alpha.py`` and the README).
        A float in (0, 1] is ``alpha`` as a fraction of ``alpha_max`` (MNE's ``alpha`` in
        percent divided by 100, for ``estimator="mtl"``).
    loose : float | ``"auto"`` | dict
        Weight of the tangential orientations, as in MNE: 0 fixed, 1 free, ``"auto"`` 0.2 for
        surface and 1 for volume source spaces.
    depth : None | float | dict
        Depth weighting exponent (MNE's ``depth``; ``None`` disables it).
    rank : None | dict | ``"info"`` | ``"full"``
        Rank of the noise covariance, as in MNE; None: estimated from the covariance, at most
        the ``"info"`` rank (:func:`neuroopt.meeg.whitening.covariance_rank`).
    pick_ori : None | ``"vector"``
        ``None``: amplitude (norm over orientations); ``"vector"``: a vector source estimate.
    sigma_min : ``"auto"`` | float
        Lower bound of the noise level(s) of the concomitant estimators, in whitened units.
        ``"auto"``: ``1e-3`` times the RMS of the whitened data.
    selection : ``"relocate"`` | ``"prune"`` | ``"none"``
        Post-selection of the active sources after the fit (:mod:`neuroopt.sparse.selection`;
        the estimators' ``prune_level`` and ``relocate``), then a refit at the same alpha on
        the sources selected. ``"prune"``: backward elimination at the family-wise level
        ``prune_level`` (noise std ``1 / sqrt(nave)`` for mtl, the fitted noise levels for
        sqrt / sgcl; the estimators' ``prune_noise_std="subspace"`` would use the data's
        noise subspace instead, see the README, "Why the square-root Lasso misses").
        ``"relocate"`` (default): elimination, then each kept source moved,
        one grid step at a time (its 8 most similar gain neighbours,
        :func:`~neuroopt.sparse.selection.relocate_sources`), to where the joint
        least-squares fit is best, and elimination again. It wins the support benchmark:
        median F1 0.80 on simulations with the MEG sample gain against 0.36 for the estimate
        alone and 0.55 for MNE's SURE, localisation error 0 mm against 10 mm, a true source
        in every condition of the demo, and on MNE's sample Left Auditory (5 mm grid) the
        strongest source of each hemisphere within 30 mm of Heschl's gyrus for every
        estimator (README, "Regularization of the sparse sources"), for 1-4 s more CPU per
        fit on a 10 mm grid (4-28 s more on the sample 5 mm grid). ``"none"``: the convex (or reweighted)
        estimate alone, as MNE's ``mixed_norm``. CLaR has no selection (its full noise
        covariance has no elimination test): ``"none"`` is used for it.
    prune_level : float
        Family-wise level of the elimination of ``selection="prune"`` / ``"relocate"``.
    n_reweighting : int
        Iterative reweighting steps (irMxNE, log penalty); 1 solves the convex problem only.
        About 5 steps remove the spread of the convex L2,1 solution (neighbours of each true
        source that share its signal) and most of its amplitude bias.
    reweighting : ``"log"`` | ``"l05"`` | ``"mne"``
        Concave penalty whose majorisation the reweighted steps solve
        (:func:`~neuroopt.sparse._base.reweighting_weights`): ``"log"``, weights
        ``eps / (eps + ||B_g||)`` with ``eps`` a tenth of the largest source norm (a source left
        out can come back); ``"l05"``, the L2,0.5 quasi-norm, weights ``1 / sqrt(||B_g||)``
        scaled so that the strongest source keeps weight 1; ``"mne"``, MNE's irMxNE
        (``mixed_norm(n_mxne_iter=...)``): the same quasi-norm with MNE's unscaled weights
        ``1 / (2 sqrt(||B_g||))`` in its units (sources times ``max_g ||G_g^T M|| / 100``),
        which penalise the strong sources less than the convex fit. With ``"l05"`` and
        ``"mne"`` a source left out stays out.
    debias : bool
        Undo the amplitude shrinkage of the penalty as MNE's ``mixed_norm(debias=True)`` does:
        each active source is rescaled by the factor ``>= 1`` that best fits the whitened data
        (time courses and orientations unchanged), so amplitudes are physical (nA*m).
    tol : float
        Relative duality-gap tolerance of the solver.
    max_iter : int
        Maximum outer iterations of the solver.
    alpha_level : float
        Probability level of ``alpha="auto"`` (and of the reference fit of ``"sure"``).
    random_state : int | numpy.random.Generator | None
        Seed of the noise simulations of ``alpha="auto"``.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    solution : SparseInverseSolution
        ``solution.stc``, ``solution.dipoles``, ``solution.noise_levels`` and how alpha was set.
    """
    check_option("estimator", estimator, ESTIMATORS)
    check_option("pick_ori", pick_ori, (None, "vector"))
    validate_type(forward, mne.Forward, "forward")
    validate_type(noise_cov, mne.Covariance, "noise_cov")
    validate_type(alpha, (str, numbers.Real), "alpha")
    check_option("selection", selection, tuple(SELECTIONS))
    if estimator == "clar":
        selection = "none"
    prunes, relocate = SELECTIONS[selection]
    if isinstance(alpha, str):
        check_option("alpha", alpha, ALPHA_METHODS)
    elif not 0 < alpha <= 1:
        raise ValueError(
            f"alpha must be one of {list(ALPHA_METHODS)} or a fraction of alpha_max in (0, 1], "
            f"got {alpha!r} (MNE's mixed_norm alpha=50 corresponds to alpha=0.5)."
        )
    if estimator == "clar" and alpha == "sure":
        from ..sparse.alpha_search import clar_held_out_folds

        clar_held_out_folds(None, "sure")  # raises: CLaR has no SURE, before any fit
    evoked_like, data, nave = _check_inst(inst, estimator, alpha)
    _mne_private.check_reference(evoked_like)
    inst_name = _inst_name(inst)
    _check_channels(evoked_like.info, forward, noise_cov, inst_name)
    if rank is None:
        from .whitening import covariance_rank

        rank = covariance_rank(noise_cov, evoked_like.info)

    with mne.utils.use_log_level("warning"):
        forward, gain, gain_info, whitener, source_weighting = _mne_private.prepare_gain(
            forward, evoked_like.info, noise_cov, depth=depth, loose=loose, rank=rank
        )
    n_orient = 1 if mne.forward.is_fixed_orient(forward) else 3
    if pick_ori == "vector" and n_orient == 1:
        raise ValueError("pick_ori='vector' needs free or loose orientations; with loose=0 (or a "
                         "fixed-orientation forward) use pick_ori=None.")
    sel = [evoked_like.ch_names.index(name) for name in gain_info["ch_names"]]
    _check_finite_data(data[..., sel, :], gain_info["ch_names"], inst_name)
    whitened = np.einsum("wc,...ct->...wt", whitener, data[..., sel, :])
    mean_whitened = whitened.mean(axis=0) if whitened.ndim == 3 else whitened
    # noise of the mean whitened data vs the covariance's prediction, before any fit (a
    # covariance 1e6 too small makes alpha="auto" tiny and the fit endless)
    noise_ratio = whitened_noise_ratio(mean_whitened, nave * len(whitened)
                                       if estimator == "clar" else nave)
    noise_warning = _check_noise_ratio(noise_ratio, inst_name)
    row_groups = _whitened_row_groups(whitener, gain_info)
    logger.info("Whitened %d channels into %d dimensions (groups: %s), %d sources x %d orient.",
                len(sel), whitener.shape[0], ", ".join(dict.fromkeys(row_groups)),
                gain.shape[1] // n_orient, n_orient)

    if isinstance(sigma_min, str):
        check_option("sigma_min", sigma_min, ("auto",))
        sigma_min = 1e-3 * float(np.sqrt(np.mean(mean_whitened ** 2)))
    else:
        sigma_min = check_positive(sigma_min, "sigma_min")
    est = _make_estimator(estimator, 1.0, n_orient=n_orient, sensor_groups=row_groups,
                          sigma_min=sigma_min, tol=tol, max_iter=max_iter,
                          n_reweighting=n_reweighting, reweighting=reweighting, debias=debias,
                          prune_level=prune_level if prunes else None, relocate=relocate,
                          noise_std=1.0 / np.sqrt(nave))
    alpha_max = est.alpha_max(gain, whitened if estimator == "clar" else mean_whitened)
    time_cov = noise_time_correlation(mean_whitened)
    criterion_path = search_coef = None
    if alpha == "auto" or (alpha == "sure" and estimator != "mtl"):
        colour = time_colour_matrix(time_cov)
        alpha_qut = quantile_universal_alpha(est, gain, whitened.shape,
                                             noise_std=1.0 / np.sqrt(nave), time_colour=colour,
                                             level=alpha_level, random_state=random_state)
    if estimator in ("sqrt", "sgcl") and alpha in ("auto", "sure"):
        # the pivotal QUT holds for data normalised by the noise's RMS, while the concomitant
        # fit normalises by its fitted sigma, which the signal inflates (at alpha_max it is the
        # RMS of the data): the QUT is multiplied by the square root of noise RMS (from the
        # data's noise subspace, so the choice stays pivotal) over the sigma fitted at the QUT.
        # The square root damps the one-step correction: the full ratio overshoots (the sigma
        # refitted at the lower alpha is lower again) and moved the strongest right source of
        # MNE's sample Left Auditory (sqrt, sgcl; 10 mm) 49 mm from Heschl's gyrus (20 mm with
        # the square root), while no correction left SGCL without a true source on the demo
        ref = without_selection(clone(est).set_params(alpha=alpha_qut, n_reweighting=1))
        ref.fit(gain, mean_whitened)
        # SGCL's sigmas_ follow the sorted group labels, as np.unique counts them
        rows = np.unique(row_groups, return_counts=True)[1] if estimator == "sgcl" else np.ones(1)
        sigma_fit = float(np.sqrt(np.sum(rows * np.atleast_1d(ref._noise_levels()) ** 2)
                                  / rows.sum()))
        # noise_rms reads pure noise low (0.85 of its RMS on the sample's 303 x 121), so the
        # sigma is scaled by what it reads on the QUT's own noise: without it, noise alone gave
        # sources in 95 % of draws instead of 1 - alpha_level (5 %).
        noise_level = float(subspace_noise_std(mean_whitened, time_colour=colour,
                                               random_state=random_state)[0])
        alpha_qut *= np.sqrt(min(1.0, noise_level / sigma_fit))
    if alpha in ("sure", "cv"):
        # the criteria are those of the convex fit
        solver = without_selection(clone(est).set_params(n_reweighting=1))
        noise_std = 1.0 / np.sqrt(nave)
        if alpha == "sure" and estimator != "mtl":
            # the concomitant noise levels at the pivotal (QUT) alpha, fixed along the search
            noise_std = np.atleast_1d(clone(solver).set_params(alpha=alpha_qut)
                                      .fit(gain, mean_whitened)._noise_levels())
        result = search_alpha(solver, gain, mean_whitened if alpha == "sure" else whitened,
                              criterion=alpha, noise_std=noise_std, tol=tol,
                              time_cov=time_cov if alpha == "sure" else None)
        alpha_abs, search_coef = result.alpha, result.coef
        criterion_path = _criterion_table(result, alpha_max)
        label = "SURE (exact degrees of freedom)" if alpha == "sure" else "held-out epoch halves"
        alpha_method = (f"{label}"
                        f", {result.alphas.size} alphas, {result.n_solves} solves")
    elif alpha == "auto":
        alpha_abs = alpha_qut
        alpha_method = f"quantile universal threshold (level {alpha_level})"
    else:
        alpha_abs = float(alpha) * alpha_max
        alpha_method = f"{float(alpha):g} x alpha_max"
    logger.info("%s: alpha = %.4g = %.3f alpha_max (%s)", estimator, alpha_abs,
                alpha_abs / alpha_max, alpha_method)
    est.set_params(alpha=alpha_abs)
    if search_coef is not None:  # warm start (sklearn's) from the search's solution at alpha
        est.set_params(warm_start=True).coef_ = search_coef
    est.fit(gain, whitened if estimator == "clar" else mean_whitened)
    est.set_params(warm_start=False)

    coef = est.coef_.T  # (n_sources * n_orient, n_times) in the weighted problem
    active_set = np.repeat(est.active_set_, n_orient)
    residual = mean_whitened - gain @ coef
    total = float(np.sum(mean_whitened ** 2))
    explained = 1.0 - float(np.sum(residual ** 2)) / total if total > 0 else 0.0
    sigmas, kind = _group_sigmas(est, estimator, residual, row_groups)
    noise_levels = _noise_table(sigmas, row_groups, gain_info, noise_cov, nave, kind)

    tmin, tstep = evoked_like.times[0], 1.0 / evoked_like.info["sfreq"]
    X = coef[active_set] * source_weighting[active_set, None]  # A*m
    stc = _mne_private.make_sparse_stc(X, active_set, forward, tmin, tstep, pick_ori=pick_ori,
                                       verbose=False)
    if active_set.any():
        gain_active = gain[:, active_set] / source_weighting[active_set]
        dipoles = _mne_private.make_dipoles_sparse(X, active_set, forward, tmin, tstep,
                                                   mean_whitened, gain_active, verbose=False)
    else:
        dipoles = []
    logger.info("%d active sources, %.1f%% of the whitened data explained.",
                int(est.active_set_.sum()), 100 * explained)
    n_eff = nave * len(whitened) if whitened.ndim == 3 else nave
    signal_fraction = max(0.0, 1.0 - mean_whitened.size / (n_eff * total)) if total > 0 else 0.0
    warned = _solution_warnings(est, alpha_abs, alpha_max, explained, signal_fraction,
                                noise_warning)
    if selection != "none":
        selection += f" (elimination {prune_level:g}: {getattr(est, 'n_pruned_', 0)} removed" + (
            f", {getattr(est, 'n_relocated_', 0)} moved)" if relocate else ")")
    return SparseInverseSolution(stc=stc, dipoles=dipoles, noise_levels=noise_levels,
                                 estimator=est, alpha=float(alpha_abs), alpha_max=float(alpha_max),
                                 alpha_method=alpha_method, explained_variance=explained,
                                 warnings=warned, data_noise_ratio=noise_ratio,
                                 criterion_path=criterion_path, selection=selection)


def write_sparse_solution(solution, stc_fname, *, noise_fname=None, overwrite=False):
    """Write the source estimate and the noise levels of a :class:`SparseInverseSolution`.

    Each file is written under a temporary name and renamed when complete.

    Parameters
    ----------
    solution : SparseInverseSolution
        Output of :func:`sparse_inverse`.
    stc_fname : path-like
        Source estimate file: ``*-vl.stc`` (volume estimates, MNE's binary format) or ``*.h5``
        (any estimate); read it back with :func:`mne.read_source_estimate`.
    noise_fname : path-like | None
        Tab-separated table of ``solution.noise_levels`` (plus ``alpha``, ``alpha_max`` and
        ``explained_variance`` columns), or None.
    overwrite : bool
        Replace existing files.
    """
    from pathlib import Path

    from ..utils import atomic_path, atomic_write_text

    validate_type(solution, SparseInverseSolution, "solution")
    stc_fname = Path(stc_fname)
    is_volume = isinstance(solution.stc, (mne.VolSourceEstimate, mne.VolVectorSourceEstimate))
    if stc_fname.name.endswith("-vl.stc") and is_volume:
        suffix, ftype = "-vl.stc", "stc"
    elif stc_fname.suffix == ".h5":
        suffix, ftype = ".h5", "h5"
    else:
        raise ValueError(
            f"stc_fname must end with '-vl.stc' (volume estimates) or '.h5', got "
            f"{stc_fname.name!r} for a {type(solution.stc).__name__}."
        )
    for fname in (stc_fname, noise_fname):
        if fname is not None and Path(fname).exists() and not overwrite:
            raise FileExistsError(f"{fname} exists; pass overwrite=True to replace it.")
    with atomic_path(stc_fname, suffix=suffix) as tmp:
        solution.stc.save(tmp, ftype=ftype, overwrite=True, verbose=False)
    if noise_fname is not None:
        table = solution.noise_levels.assign(alpha=solution.alpha, alpha_max=solution.alpha_max,
                                             explained_variance=solution.explained_variance)
        atomic_write_text(noise_fname, table.to_csv(sep="\t", index=False))
    return stc_fname
