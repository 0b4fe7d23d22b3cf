"""Contrast statistics with each voxel's estimated HRF: effect, variance, t and z per voxel.

After a rank-1 GLM fit (:class:`~neuroopt.fmri.estimators.R1GLM`), each voxel has its own HRF
``h_v`` (``hrf_coef_``). Its condition regressors are the events convolved with ``h_v``; the
condition betas are refitted by least squares in that voxel's design (OLS, or with the AR(1)
prewhitening of the fit, ``noise_model="ar1"``, using the fit's ``rho_``), which gives their
covariance ``sigma^2 (X_v^T W^T W X_v)^-1`` and so the variance of any contrast. ``rho_`` is
bias-corrected (:mod:`neuroopt.fmri.ar1`): the raw residual autocorrelation under-whitens.

Which HRF, and the degrees of freedom. Choosing each voxel's HRF as the one that best fits the
data also fits the noise, which inflates |t| where there is no activation (on an AR(1) null
simulation, rho 0.3, 2 runs x 200 scans, ``benchmarks/bench_fmri_contrasts.py --null``: z sd
1.14, and 2.5 times the nominal rate of |z| > 3.29). So by default
(``hrf_fit="leave-one-run-out"``) each run's regressors use the HRF of a rank-1 fit on the
*other* runs: a run's noise never chooses the HRF it is tested with, and on the same null
simulation the z maps are calibrated (z sd 1.01; nilearn's canonical GLM 1.06).
A single run is cut into contiguous segments (``hrf_fit="split-run"``, 3 by default) and the
scans of each segment use the HRF fitted on the other segments (:mod:`neuroopt.fmri.held_out_hrf`:
events are kept whole, so one crossing a boundary keeps its tail; every scan is tested with an
HRF fitted without it); on one AR(1) run of 400 scans the null z sd is 1.01 (same-data HRF 1.20).
Then ``dof = n_scans - n_nuisance - n_conditions`` (the nuisance columns are the drifts, run
constants and confounds), as for a GLM with a known HRF. With ``hrf_fit="same-data"`` (also used
for a single run too short to split, with a warning) the HRF's free shape parameters are subtracted too,
``dof = n_scans - n_nuisance - n_conditions - (n_basis - 1)`` (its scale is absorbed by the
betas), but this does not remove the inflation. The variance treats the HRF as fixed in both
cases (it ignores the uncertainty of its shape).

:func:`r1glm_contrasts` works on arrays (as :class:`R1GLM`), :func:`r1glm_contrast_images` on
NIfTI images with the masker of :func:`neuroopt.fmri.maps.fit_r1glm_images`, and
:func:`canonical_contrast_images` computes the same maps with nilearn's canonical-HRF
``FirstLevelModel``, the comparison users know.
"""

from __future__ import annotations

import json
import warnings
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from scipy import stats

from ..utils import atomic_path, atomic_write_text, logger
from ._r1glm import ar1_column_products, ar1_products, ar1_weights
from .design import check_events, condition_design, drift_basis, project_out
from .held_out_hrf import leave_one_run_out_hrfs, split_run_hrfs

#: statistics written per contrast, in the order of the BIDS ``stat-`` entity
STATS = ("effect", "variance", "t", "z")


@dataclass
class ContrastMaps:
    """Voxel-wise statistics of one t contrast.

    Attributes
    ----------
    effect, variance, t, z : ndarray, (n_voxels,)
        Contrast of the betas, its variance, Student t, and the z score of the same one-sided
        p-value (NaN where the voxel's design is degenerate).
    dof : float
        Residual degrees of freedom of the t values.
    weights : ndarray, (n_conditions,)
        The contrast, over ``conditions``.
    conditions : list of str
    hrf_fit : str
        Which HRF the runs' regressors used (see :func:`r1glm_contrasts`).
    """

    effect: np.ndarray
    variance: np.ndarray
    t: np.ndarray
    z: np.ndarray
    dof: float
    weights: np.ndarray
    conditions: list
    hrf_fit: str = "leave-one-run-out"


def t_to_z(t, dof):
    """z scores with the same tail probabilities as Student ``t`` values with ``dof`` dof.

    Computed from the tail on each side (log-space), so large t values keep their precision.
    """
    t = np.asarray(t, dtype=float)
    z = np.full_like(t, np.nan)
    ok = np.isfinite(t)
    a = np.abs(t[ok])
    # z = isf(sf(|t|)) with the sign of t; logsf keeps values below 1e-300 finite
    z[ok] = np.sign(t[ok]) * -stats.norm.ppf(np.exp(stats.t.logsf(a, dof)))
    big = ok.copy()
    big[ok] = ~np.isfinite(z[ok])
    if big.any():  # beyond the float range of the p-value: asymptotic normal tail inversion
        log_p = stats.t.logsf(np.abs(t[big]), dof)
        z[big] = np.sign(t[big]) * np.sqrt(-2 * log_p - np.log(-4 * np.pi * log_p))
    return z


def _weights(contrasts, conditions):
    from .contrasts import expression_weights

    out = {}
    for name, weights in contrasts.items():
        if isinstance(weights, str):
            weights = expression_weights(weights, conditions, name=repr(name))
        elif isinstance(weights, dict):
            unknown = sorted(set(weights) - set(conditions))
            if unknown:
                raise ValueError(f"The contrast {name!r} names condition(s) {unknown}; the fitted "
                                 f"conditions are {list(conditions)}.")
            weights = np.array([float(weights.get(c, 0.0)) for c in conditions])
        weights = np.asarray(weights, dtype=float)
        if weights.shape != (len(conditions),):
            raise ValueError(f"The contrast {name!r} has {weights.size} weight(s) but the model "
                             f"has {len(conditions)} conditions {list(conditions)}; give one "
                             "weight per condition, in that order (or an expression).")
        out[name] = weights
    return out


#: how each run's HRF is obtained for its contrast statistics
HRF_FITS = ("leave-one-run-out", "split-run", "same-data")


def r1glm_contrasts(estimator, Y, events, contrasts, confounds=None, hrf_fit="leave-one-run-out",
                    n_segments=3, run_names=None):
    """t contrasts of the condition betas refitted with each voxel's estimated HRF.

    Parameters
    ----------
    estimator : R1GLM or R1GLMS
        Fitted on the same ``Y`` and ``events`` (its ``hrf_coef_``, ``basis_``, ``conditions_``,
        drift settings and, with ``noise_model="ar1"``, ``rho_`` are used).
    Y : ndarray, (n_scans, n_voxels), or list of them (one per run)
        The BOLD data the estimator was fitted on.
    events : DataFrame or list of DataFrames (one per run)
        The events given to ``fit`` (``onset``, ``duration``, ``trial_type``).
    contrasts : dict
        Name -> weights over ``estimator.conditions_`` (array), or ``{condition: weight}``, or a
        nilearn-style expression (``"audio - video"``).
    confounds : array-like or list of them (one per run) or None
        As given to ``fit``.
    hrf_fit : {"leave-one-run-out", "split-run", "same-data"}
        Which HRF each run's regressors use. ``"leave-one-run-out"`` (default): the HRF of a
        rank-1 fit (same parameters) on the other runs, so a run's noise never chose the HRF it
        is tested with and, with no activation, the t values follow their t distribution; with
        a single run, ``"split-run"`` is used instead (logged), or ``"same-data"`` with a
        warning naming the run when its segments are too short to fit. ``"split-run"``: each
        run is cut into ``n_segments`` contiguous segments and the rows of each segment use the
        HRF fitted on the other segments (:func:`neuroopt.fmri.held_out_hrf.split_run_hrfs`;
        events crossing a boundary keep their whole regressor); an error names the run if a
        segment cannot be fitted. ``"same-data"``: the estimator's own HRF, fitted on all runs;
        choosing the HRF that best fits the noise inflates ``|t|`` where there is no activation
        (on AR(1) noise simulations, 2 to 4 times the nominal rate of z > 3.09), so use it for
        effect sizes, not for thresholds.
    n_segments : int
        Segments per run with ``"split-run"`` (3: each HRF is fitted on two thirds of the run,
        and each segment must last at least ``hrf_length``).
    run_names : list of str or None
        Names of the runs in messages (default ``"run 1"``...).

    Returns
    -------
    maps : dict
        Name -> :class:`ContrastMaps`.
    """
    from sklearn.utils.validation import check_is_fitted

    from ..utils import check_option

    check_is_fitted(estimator, "hrf_coef_")
    check_option("hrf_fit", hrf_fit, HRF_FITS)
    conditions = [str(c) for c in estimator.conditions_]
    weights = _weights(contrasts, conditions)
    runs = list(Y) if isinstance(Y, (list, tuple)) else [Y]
    events = list(events) if isinstance(events, (list, tuple)) else [events]
    confounds = (list(confounds) if isinstance(confounds, (list, tuple)) else [confounds] * len(runs))
    if not (len(runs) == len(events) == len(confounds) == len(estimator.n_scans_)):
        raise ValueError(f"The model was fitted on {len(estimator.n_scans_)} run(s); got "
                         f"{len(runs)} data array(s), {len(events)} events table(s) and "
                         f"{len(confounds)} confounds entries.")
    runs = [np.asarray(y, dtype=float) for y in runs]
    for r, y in enumerate(runs):
        if y.ndim != 2 or y.shape != (estimator.n_scans_[r], estimator.hrf_coef_.shape[1]):
            raise ValueError(f"Y[{r}] has shape {y.shape} but the model was fitted on "
                             f"({estimator.n_scans_[r]}, {estimator.hrf_coef_.shape[1]}).")
    names = list(run_names) if run_names is not None else [f"run {r + 1}" for r in range(len(runs))]
    hrf_fit, blocks = _run_hrfs(estimator, runs, events, confounds, hrf_fit, n_segments, names)
    t_r, basis = float(estimator.t_r), estimator.basis_
    ar1 = getattr(estimator, "rho_", None) is not None
    nb, nc, n_voxels = basis.n_basis, len(conditions), runs[0].shape[1]
    omega = ar1_weights(estimator.rho_) if ar1 else np.ones((1, n_voxels))
    gram_v = np.zeros((n_voxels, nc, nc))
    b_v = np.zeros((n_voxels, nc))
    yy = np.zeros(n_voxels)
    n_scans = n_nuisance = 0
    # each run's design X_v = sum_i S_i D_r (I kron w_iv), S_i selecting the rows of the i-th HRF's
    # segment (one segment but with split-run): with D_r's basis columns repeated per segment
    # (zero outside it) and the segments' w stacked, X_v = D_stack (I kron w_stack_v), so its Gram
    # and data products come from shared terms as with one HRF (AR(1) whitening crosses segments)
    for r, (y, ev, conf, (bounds, hrfs)) in enumerate(zip(runs, events, confounds, blocks)):
        ev = check_events(ev, y.shape[0], t_r, name=f"events[{r}]")
        q = drift_basis(y.shape[0], t_r, estimator.drift_model, estimator.high_pass, confounds=conf)
        raw = condition_design(ev, basis, y.shape[0], t_r, conditions).reshape(y.shape[0], nc, nb)
        k = len(hrfs)
        stacked = np.zeros((y.shape[0], nc, k, nb))
        for i in range(k):
            stacked[bounds[i]:bounds[i + 1], :, i] = raw[bounds[i]:bounds[i + 1]]
        design = project_out(q, stacked.reshape(y.shape[0], nc * k * nb))
        w = np.concatenate(hrfs, axis=0)
        data = project_out(q, y)
        starts = np.array([0, y.shape[0]], dtype=np.int64)
        gram = ar1_products(design, design, starts, ar1).reshape(-1, nc, k * nb, nc, k * nb)
        b = ar1_products(design, data, starts, ar1).reshape(-1, nc, k * nb, n_voxels)
        yy += np.einsum("sv,sv->v", ar1_column_products(data, starts, ar1), omega)
        gram_v += np.einsum("skilj,iv,jv,sv->vkl", gram, w, w, omega, optimize=True)
        b_v += np.einsum("skiv,iv,sv->vk", b, w, omega, optimize=True)
        n_scans += y.shape[0]
        n_nuisance += q.shape[1]
    cov = np.linalg.pinv(gram_v, hermitian=True)
    beta = np.einsum("vkl,vl->vk", cov, b_v)
    rss = np.maximum(yy - np.einsum("vk,vk->v", b_v, beta), 0.0)
    # the HRF's free shape parameters count against the dof when they were fitted on these data
    dof = float(n_scans - n_nuisance - nc - ((nb - 1) if hrf_fit == "same-data" else 0))
    if dof < 1:
        raise ValueError(f"No degrees of freedom left: {n_scans} scans, {n_nuisance} "
                         f"nuisance regressors, {nc} conditions and {nb - 1} HRF shape "
                         "parameters. Use more scans or fewer conditions.")
    sigma2 = rss / dof
    out = {}
    for name, c in weights.items():
        effect = beta @ c
        variance = sigma2 * np.einsum("k,vkl,l->v", c, cov, c)
        with np.errstate(invalid="ignore", divide="ignore"):
            t = np.where(variance > 0, effect / np.sqrt(variance), np.nan)
        out[name] = ContrastMaps(effect=effect, variance=variance, t=t, z=t_to_z(t, dof), dof=dof,
                                 weights=c, conditions=conditions, hrf_fit=hrf_fit)
    return out


def _run_hrfs(estimator, runs, events, confounds, hrf_fit, n_segments, names):
    """The HRF fit actually used and, per run, (segment bounds, HRF coefficients of each segment)."""
    whole = [np.array([0, y.shape[0]]) for y in runs]
    if hrf_fit == "leave-one-run-out" and len(runs) < 2:
        hrf_fit = "split-run"
        try:
            bounds, hrfs = split_run_hrfs(estimator, runs[0], events[0], confounds[0], n_segments,
                                          name=names[0])
        except ValueError as err:
            logger.warning("r1glm_contrasts: %s Using the HRF fitted on the whole run "
                           "(hrf_fit='same-data'): |t| is inflated where there is no activation.", err)
            hrf_fit = "same-data"
        else:
            logger.info("r1glm_contrasts: one run (%s): each of its %d segments uses the HRF fitted "
                        "on the other segment(s)", names[0], n_segments)
            return f"split-run ({n_segments} segments)", [(bounds, hrfs)]
    if hrf_fit == "same-data":
        return hrf_fit, [(b, [estimator.hrf_coef_]) for b in whole]
    if hrf_fit == "leave-one-run-out":
        return hrf_fit, list(zip(whole, ([h] for h in leave_one_run_out_hrfs(estimator, runs, events, confounds))))
    blocks = [split_run_hrfs(estimator, y, ev, conf, n_segments, name=name)
              for y, ev, conf, name in zip(runs, events, confounds, names)]
    return f"split-run ({n_segments} segments)", blocks


def _as_list(value):
    if isinstance(value, (str, Path)) or hasattr(value, "get_fdata") or hasattr(value, "columns"):
        return [value]
    return list(value)


def _read_events_list(events, n_runs):
    import pandas as pd

    events = _as_list(events)
    if len(events) != n_runs:
        raise ValueError(f"Got {n_runs} BOLD run(s) but {len(events)} events table(s).")
    return [pd.read_csv(e, sep="\t") if isinstance(e, (str, Path)) else e for e in events]


def r1glm_contrast_images(result, bold_imgs, events, contrasts, confounds=None, hrf_fit="leave-one-run-out",
                          n_segments=3):
    """:func:`r1glm_contrasts` on the NIfTI runs a rank-1 GLM was fitted on.

    Parameters
    ----------
    result : R1GLMImages
        From :func:`neuroopt.fmri.maps.fit_r1glm_images` (its estimator and masker).
    bold_imgs : 4D image or path, or list of them (one per run)
        The runs given to the fit.
    events : DataFrame or path, or list of them (one per run)
        The events of each run (BIDS ``events.tsv``).
    contrasts : dict
        As in :func:`r1glm_contrasts`.
    confounds : array-like or list of them (one per run) or None
        As in :func:`r1glm_contrasts`.
    hrf_fit : {"leave-one-run-out", "split-run", "same-data"}
        As in :func:`r1glm_contrasts`.
    n_segments : int
        As in :func:`r1glm_contrasts`.

    Returns
    -------
    images : dict
        Name -> ``{"effect", "variance", "t", "z": Nifti1Image, "dof": float, "weights": ...,
        "hrf_fit": str}``.
    """
    bold_imgs = _as_list(bold_imgs)
    events = _read_events_list(events, len(bold_imgs))
    runs = [result.masker.transform(img) for img in bold_imgs]
    names = [Path(str(img)).name if isinstance(img, (str, Path)) else f"run {r + 1}"
             for r, img in enumerate(bold_imgs)]
    maps = r1glm_contrasts(result.estimator, runs, events, contrasts, confounds=confounds, hrf_fit=hrf_fit,
                           n_segments=n_segments, run_names=names)
    return {name: _to_images(m, result.masker) for name, m in maps.items()}


def _to_images(maps, masker):
    out = {s: masker.inverse_transform(np.nan_to_num(getattr(maps, s)).astype(np.float32))
           for s in STATS}
    out.update(dof=maps.dof, weights=maps.weights, conditions=maps.conditions, hrf_fit=maps.hrf_fit)
    return out


def canonical_contrast_images(bold_imgs, events, mask_img, t_r, contrasts, noise_model="ar1",
                              high_pass=0.01, hrf_model="spm", confounds=None):
    """The same contrast maps from nilearn's canonical-HRF GLM (``FirstLevelModel``).

    Parameters
    ----------
    bold_imgs : 4D image or path, or list of them (one per run)
        As in :func:`r1glm_contrast_images`.
    events : DataFrame or path, or list of them (one per run)
        As in :func:`r1glm_contrast_images`.
    mask_img : 3D image or path
        Brain mask of the first-level model.
    t_r : float
        Repetition time, in seconds.
    contrasts : dict
        Name -> weights over the sorted condition names of all runs (or ``{condition:
        weight}``, or an expression).
    noise_model : {"ar1", "ols"}
    high_pass : float
        Cut-off (Hz) of the cosine drifts.
    hrf_model : str
        nilearn HRF model (``"spm"``, ``"glover"``, ``"spm + derivative"``...).
    confounds : DataFrame or list of them (one per run) or None
        Nuisance regressors added to each run's design.

    Returns
    -------
    images : dict
        Name -> ``{"effect", "variance", "t", "z": Nifti1Image, "dof", "weights", "design"}``
        (``design``: the first run's design matrix, a DataFrame).
    """
    from nilearn.glm.first_level import FirstLevelModel

    bold_imgs = _as_list(bold_imgs)
    events = _read_events_list(events, len(bold_imgs))
    conditions = sorted(set().union(*[set(e["trial_type"].astype(str)) for e in events]))
    weights = _weights(contrasts, conditions)
    model = FirstLevelModel(t_r=t_r, hrf_model=hrf_model, drift_model="cosine",
                            high_pass=high_pass, noise_model=noise_model, mask_img=mask_img,
                            minimize_memory=False, standardize=False, signal_scaling=False)
    events = [e.assign(trial_type=e["trial_type"].astype(str))[["onset", "duration", "trial_type"]]
              for e in events]
    with warnings.catch_warnings():
        # nilearn's masker warns that it uses the given mask instead of computing one: expected
        warnings.filterwarnings("ignore", message=".*Generation of a mask has been requested.*")
        model.fit(bold_imgs, events=events, confounds=confounds)
    out = {}
    for name, c in weights.items():
        per_run = []
        for dm in model.design_matrices_:
            vector = np.zeros(dm.shape[1])
            for condition, weight in zip(conditions, c):
                if condition in dm.columns:
                    vector[list(dm.columns).index(condition)] = weight
            per_run.append(vector)
        res = model.compute_contrast(per_run, stat_type="t", output_type="all")
        # nilearn's dof: scans minus design columns, summed over runs (fixed effects)
        dof = float(sum(dm.shape[0] - np.linalg.matrix_rank(dm.to_numpy()) for dm in model.design_matrices_))
        out[name] = {"effect": res["effect_size"], "variance": res["effect_variance"],
                     "t": res["stat"], "z": res["z_score"], "dof": dof, "weights": c,
                     "conditions": conditions, "design": model.design_matrices_[0]}
    return out


def contrast_sidecar(maps, stat, *, name, model, extra=None):
    """BIDS-derivative JSON sidecar of one statistic map of a contrast."""
    conditions = list(maps["conditions"])
    descriptions = {
        "effect": "contrast of the condition betas (effect size)",
        "variance": "variance of the effect size",
        "t": "Student t of the effect size",
        "z": "z score of the same one-sided p-value as t",
    }
    sidecar = {
        "Description": f"{descriptions[stat]}, contrast {name}, {model}",
        "Contrast": {"Name": name, "Conditions": conditions,
                     "Weights": [float(x) for x in maps["weights"]]},
        "DegreesOfFreedom": float(maps["dof"]),
        "Statistic": stat,
    }
    if "hrf_fit" in maps:
        sidecar["HRFFit"] = maps["hrf_fit"]
    if stat in ("t", "z"):
        sidecar["Units"] = "arbitrary" if stat == "t" else "z"
    sidecar.update(extra or {})
    return sidecar


def save_contrast_maps(maps, paths, *, name, model, extra=None):
    """Write the maps of one contrast atomically, each with its JSON sidecar.

    Parameters
    ----------
    maps : dict
        One entry of :func:`r1glm_contrast_images` or :func:`canonical_contrast_images`.
    paths : dict
        Statistic (``"effect"``, ``"variance"``, ``"t"``, ``"z"``) -> ``.nii.gz`` path; the
        sidecar goes beside it (``.json``).
    name : str
        Contrast name stated in the sidecars.
    model : str
        Which model made the maps (stated in the sidecars).
    extra : dict | None
        More sidecar fields (e.g. the config).

    Returns
    -------
    written : list of Path
    """
    import nibabel as nib

    written = []
    for stat, path in paths.items():
        img = maps[stat]
        img = nib.Nifti1Image(np.asarray(img.get_fdata(), dtype=np.float32), img.affine)
        with atomic_path(path) as tmp:
            nib.save(img, tmp)
        json_path = Path(str(path).replace(".nii.gz", ".json"))
        atomic_write_text(json_path, json.dumps(contrast_sidecar(maps, stat, name=name, model=model, extra=extra),
                                                indent=2, default=str) + "\n")
        written += [Path(path), json_path]
    logger.info("contrast %s (%s): wrote %d files", name, model, len(written))
    return written
