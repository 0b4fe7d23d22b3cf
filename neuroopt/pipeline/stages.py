"""Step functions of the analysis stages (HRF estimation, sparse sources, decoding, RSA).

Same contract as :mod:`neuroopt.pipeline.steps`: ``step(input, output, params, threads)``,
outputs written atomically.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from ..utils import atomic_path, atomic_write_text, log_result, logger


def _write_json(path, data):
    atomic_write_text(path, json.dumps(data, indent=2, sort_keys=True, default=float) + "\n")


def _truth(info):
    """The demo ground truth (``load_demo_truth``) described by ``params.truth``, or None."""
    if not info:
        return None
    from ..datasets import load_demo_truth

    return load_demo_truth(info["root"], info["subject"])


# ---------------------------------------------------------------------------------------- fMRI
def fmri_r1glm(input, output, params, threads):
    """Cleaned BOLD runs + events -> per-voxel HRF (rank-1 GLM), condition and trial betas."""
    import joblib

    from ..fmri.maps import fit_r1glm_images, save_r1glm_derivatives, score_against_truth
    from ..io.bids import read_events

    cfg = params.cfg
    t_rs = {json.loads(Path(p).read_text())["RepetitionTime"] for p in input.sidecars}
    if len(t_rs) != 1:
        raise ValueError(f"The runs {list(input.bolds)} have different repetition times {sorted(t_rs)}; fit them separately.")
    events = [read_events(p) for p in params.events]
    result = fit_r1glm_images(
        list(input.bolds),
        events,
        input.mask,
        t_rs.pop(),
        trial_betas=cfg["trial_betas"],
        basis=cfg["basis"],
        hrf_length=cfg["hrf_length"],
        noise_model=cfg["noise_model"],
        high_pass=cfg["high_pass"],
        n_jobs=threads,
    )
    maps = ("hrf_peak", "hrf_fwhm", "betas", "r2_gain", "trial_betas", "trials")
    save_r1glm_derivatives(result, {k: output[k] for k in maps if k in output.keys()})
    est = result.estimator
    if "residuals" in output.keys():  # the noise estimate of fMRI RSA
        from ..fmri.residuals import r1glm_residuals, save_residuals

        residuals, dof = r1glm_residuals(est, [result.masker.transform(p) for p in input.bolds], events)
        save_residuals(residuals, dof, result.masker, output.residuals)
        logger.info(f"R1-GLM residuals: {residuals.shape[0]} scans x {residuals.shape[1]} voxels, {dof} degrees of freedom")
    summary = {
        "conditions": result.conditions,
        "n_voxels": int(est.hrf_coef_.shape[1]),
        "n_runs": len(input.bolds),
        "median_hrf_peak_s": float(np.nanmedian(est.hrf_peak_time_)),
        "median_r2_gain": float(np.nanmedian(est.r2_ - est.r2_canonical_)),
        "params": cfg,
    }
    # the fit time goes to the log (R1GLM.fit), not the summary: derivatives must not differ between runs
    log_result(f"{summary['n_voxels']} voxels, median HRF peak {summary['median_hrf_peak_s']:.1f} s, "
               f"median R² gain {summary['median_r2_gain']:.3f}")
    truth = _truth(params.truth)
    if truth is not None:
        from ..datasets.scores import truth_summary

        summary["truth_scores"] = score_against_truth(result, truth)
        log_result("vs truth: " + truth_summary(summary["truth_scores"], ["hrf_r", "ttp_error", "beta_r_active"]))
    # the estimator and masker alone: the images are rebuilt from them (R1GLMImages.from_estimator)
    with atomic_path(output.model, suffix=".joblib") as tmp:
        joblib.dump({"estimator": result.estimator, "masker": result.masker}, tmp)
    _write_json(output.summary, summary)


# ---------------------------------------------------------------------------------------- M/EEG
def _head_mri_trans(raw_path, sidecar, fs_subject, subjects_dir):
    """Head<->MRI transform from the MRI landmarks of the T1w sidecar (``mne_bids``)."""
    import mne_bids

    t1 = mne_bids.get_bids_path_from_fname(str(sidecar).replace(".json", ".nii.gz"))
    if not t1.fpath.exists():
        t1 = mne_bids.get_bids_path_from_fname(str(sidecar).replace(".json", ".nii"))
    return mne_bids.get_head_mri_trans(
        mne_bids.get_bids_path_from_fname(raw_path), t1_bids_path=t1, fs_subject=fs_subject,
        fs_subjects_dir=_absolute(subjects_dir), verbose="error",
    )


def _absolute(path):
    from pathlib import Path

    return str(Path(path).absolute())


def meeg_forward(input, output, params, threads):
    """Sensor geometry of a subject/session (its first raw recording) -> forward solution.

    Sphere, BEM (FreeSurfer anatomy) or a given ``-fwd.fif``; a rule of its own, so changing the
    estimators does not recompute it.
    """
    import mne
    import mne_bids

    from ..io.derivatives import write_provenance
    from ..meeg.forward import make_bem_forward, make_sphere_forward

    cfg = params.cfg
    keys = input.keys()
    summary = {"forward": cfg["forward"], "info_from": str(input.raw)}
    if "fwd" in keys:
        try:
            forward = mne.read_forward_solution(input.fwd, verbose="error")
        except (OSError, ValueError) as err:
            raise ValueError(f"sparse.forward: cannot read the forward solution {input.fwd} ({err}).") from err
    else:
        info = mne_bids.read_raw_bids(mne_bids.get_bids_path_from_fname(input.raw), verbose="error").info
        if cfg["forward"] == "sphere":
            forward, _, _ = make_sphere_forward(info, pos=cfg["grid_spacing"])
            summary.update(source_space="volume", n_sources=int(forward["nsource"]))
        else:
            if "trans" in keys:
                trans, source = input.trans, f"sparse.trans ({input.trans})"
            else:
                trans = _head_mri_trans(input.raw, input.t1w_sidecar, params.fs_subject, cfg["subjects_dir"])
                source = f"the landmarks of {input.t1w_sidecar} (sparse.trans: auto)"
            forward, details = make_bem_forward(
                info, subject=params.fs_subject, subjects_dir=cfg["subjects_dir"], trans=trans,
                bem=input.bem if "bem" in keys else None, source_space=cfg["source_space"],
                pos=cfg["grid_spacing"], trans_source=source,
            )
            with atomic_path(output.trans, suffix="-trans.fif") as tmp:  # the transform used
                mne.write_trans(tmp, forward["mri_head_t"], overwrite=True, verbose="error")
            summary.update(details, fs_subject=params.fs_subject, subjects_dir=_absolute(cfg["subjects_dir"]),
                           trans_from=source)
    summary.update(n_channels=int(forward["nchan"]), n_sources=int(forward["nsource"]),
                   ch_types=sorted(set(forward["info"].get_channel_types())), params=cfg)
    with atomic_path(output.forward, suffix="-fwd.fif") as tmp:
        mne.write_forward_solution(tmp, forward, overwrite=True, verbose="error")
    _write_json(output.summary, summary)
    write_provenance(output.forward, inputs=[str(input[k]) for k in keys if k != "demo"], params=cfg, seed=None)


def meeg_sparse(input, output, params, threads):
    """Evoked (+ epochs for CLaR) + noise covariance -> sparse source estimates per estimator."""
    import mne

    from ..meeg.inverse import sparse_inverse
    from ..meeg.source_scoring import score_sources_against_truth
    from ..meeg.sources_io import save_source_estimates

    cfg = params.cfg
    evokeds = mne.read_evokeds(input.evoked, verbose="error")
    cov = mne.read_cov(input.cov, verbose="error")
    forward = mne.read_forward_solution(input.forward, verbose="error")
    need_epochs = "clar" in cfg["estimators"] or cfg["alpha"] == "cv"
    epochs = mne.read_epochs(input.epochs, verbose="error") if need_epochs else None
    truth = _truth(params.truth)
    summary = {"params": cfg, "estimators": {}}
    for estimator in cfg["estimators"]:
        solutions, rows = {}, {}
        for evoked in evokeds:
            condition = evoked.comment
            if estimator == "clar" or cfg["alpha"] == "cv":
                inst = epochs[condition].copy().crop(cfg["tmin"], cfg["tmax"])
            else:
                inst = evoked.copy().crop(cfg["tmin"], cfg["tmax"])
            sol = sparse_inverse(
                inst, forward, cov, estimator=estimator, alpha=cfg["alpha"], loose=cfg["loose"], depth=cfg["depth"], random_state=params.seed
            )
            solutions[condition] = sol
            row = {
                "n_sources": int(len(sol.stc.data)),
                "alpha": float(sol.alpha),
                "alpha_fraction": float(sol.alpha_fraction),
                "alpha_method": sol.alpha_method,
                "criterion_path": None if sol.criterion_path is None else sol.criterion_path.to_dict("list"),
                "explained_variance": float(sol.explained_variance),
                "alpha_max": float(sol.alpha_max),
                "data_noise_ratio": float(sol.data_noise_ratio),
                "warnings": list(sol.warnings),
                "noise_levels": sol.noise_levels.to_dict("records"),
            }
            if truth is not None:
                eeg = truth["eeg"]
                row["truth_scores"] = score_sources_against_truth(
                    sol.stc, eeg["sources"], forward, truth_waveforms=eeg["waveforms"][condition]
                )
            rows[condition] = row
            logger.info(f"{estimator} {condition}: {row['n_sources']} sources, alpha/alpha_max {row['alpha_fraction']:.3f}, "
                        f"explained variance {100 * row['explained_variance']:.1f} %" + (f", {len(sol.warnings)} warning(s)" if sol.warnings else ""))
        n_sources = sorted(r["n_sources"] for r in rows.values())
        log_result(f"{estimator}: {n_sources[0]}-{n_sources[-1]} sources per condition" if n_sources[0] != n_sources[-1]
                   else f"{estimator}: {n_sources[0]} sources per condition")
        save_source_estimates(output[estimator], solutions)
        summary["estimators"][estimator] = rows
    _write_json(output.summary, summary)


# ---------------------------------------------------------------------------------------- decoding / RSA
def meeg_decoding(input, output, params, threads):
    """Epochs -> cross-validated decoding over time of one contrast (folds grouped by run)."""
    import mne

    from ..decoding.temporal import decode_epochs

    cfg, contrast = params.cfg, tuple(params.contrast)
    epochs = mne.read_epochs(input.epochs, verbose="error")
    scoring = cfg["scoring"] if len(contrast) == 2 else "balanced_accuracy"
    result = decode_epochs(epochs, contrast, runs="run", scoring=scoring, generalization=cfg["generalization"])
    result.save(output.result)
    curve = result.mean_scores if result.scores.ndim == 2 else np.diag(result.mean_scores)
    log_result(f"peak {scoring} {float(curve.max()):.2f} at {result.times[int(curve.argmax())]:.2f} s (chance {result.chance:.2f})")


def _trial_table(input):
    import nibabel as nib
    import pandas as pd
    from nilearn.masking import apply_mask

    trials = pd.read_csv(input.trials, sep="\t")
    betas = apply_mask(nib.load(input.trial_betas), nib.load(input.mask))
    if len(trials) != betas.shape[0]:
        raise ValueError(f"{input.trials} lists {len(trials)} trials but {input.trial_betas} has {betas.shape[0]} volumes.")
    return trials, betas


def _trial_runs(trials, params):
    """The run of each trial, or with one run and ``fmri.single_run: split_half`` its half (0: dropped)."""
    runs = trials["run"].to_numpy()
    single = getattr(params, "single_run", None) or {"single_run": "skip"}
    if np.unique(runs).size == 1 and single["single_run"] == "split_half":
        from ..decoding.cv import split_half_runs

        runs = split_half_runs(trials["onset"].to_numpy(), single["single_run_gap"])
        logger.info(
            f"single run: split in halves of {int((runs == 1).sum())} and {int((runs == 2).sum())} trials, "
            f"{int((runs == 0).sum())} trial(s) within {single['single_run_gap']:g} s of the split left out"
        )
    return runs


def fmri_decoding(input, output, params, threads):
    """R1-GLMS trial betas in the brain mask -> decoding of one contrast, folds grouped by run."""
    from ..decoding.trials import decode_trials

    cfg, contrast = params.cfg, tuple(params.contrast)
    trials, betas = _trial_table(input)
    conditions = trials["trial_type"].astype(str).to_numpy()
    runs = _trial_runs(trials, params)
    keep = np.isin(conditions, contrast) & (runs > 0)
    scoring = cfg["scoring"] if len(contrast) == 2 else "balanced_accuracy"
    result = decode_trials(betas[keep], conditions[keep], runs[keep], scoring=scoring)
    result.save(output.result)
    log_result(f"{scoring} {result.mean_scores:.2f} (chance {result.chance:.2f}, {result.scores.size} folds)")


def meeg_rsa(input, output, params, threads):
    """Epochs -> crossnobis RDM at every time point (leave-one-run-out, noise-normalised)."""
    import mne

    from ..rsa.rdm import epochs_rdms

    epochs = mne.read_epochs(input.epochs, verbose="error")
    noise = None if params.cfg["noise"] == "none" else params.cfg["noise"]
    epochs_rdms(epochs, runs="run", method="crossnobis", noise=noise).save(output.rdm)


def fmri_rsa(input, output, params, threads):
    """R1-GLMS trial betas -> crossnobis RDM in the brain mask (noise from the GLM residuals or trials)."""
    import nibabel as nib
    import pandas as pd

    from ..rsa.rdm import roi_rdms

    trials = pd.read_csv(input.trials, sep="\t")
    noise = None if params.cfg["noise"] == "none" else params.cfg["noise"]
    residuals = dof = None
    if "residuals" in input.keys():  # rsa.fmri_noise: glm_residuals
        residuals = nib.load(input.residuals)
        dof = json.loads(open(input.residuals_json).read())["DegreesOfFreedom"]
    runs = _trial_runs(trials, params)
    betas = nib.load(input.trial_betas)
    if (runs == 0).any():  # split halves: the trials near the split are left out
        from nilearn.image import index_img

        betas = index_img(betas, np.flatnonzero(runs > 0))
    keep = runs > 0
    stack = roi_rdms(
        betas, [nib.load(input.mask)], trials["trial_type"].astype(str).to_numpy()[keep],
        runs[keep], noise=noise, residuals=residuals, dof=dof, roi_names=["brain"],
    )
    stack.save(output.rdm)


def group_decoding(input, output, params, threads):
    """Subjects' decoding curves -> group mean with cluster-corrected significance over time."""
    from ..decoding.group import group_decoding as combine
    from ..decoding.temporal import TemporalDecodingResult

    results = [TemporalDecodingResult.load(p) for p in input.results]
    combine(results, subjects=params.subjects, n_permutations=params.cfg["n_permutations"], random_state=params.seed).save(output.result)


def group_rsa(input, output, params, threads):
    """Subjects' RDM stacks -> model fits with noise ceiling, bootstrap over subjects and conditions."""
    from ..rsa.inference import evaluate_models, stack_subject_rdms
    from .contrasts import resolve_models

    rdms, conditions, axis = stack_subject_rdms(list(input.rdms), subjects=list(input.rdms))
    models = resolve_models([str(c) for c in conditions], params.cfg["models"])
    result = evaluate_models(
        rdms,
        np.stack(list(models.values())),
        list(models),
        method=params.cfg["comparison"],
        n_bootstrap=params.cfg["n_bootstrap"],
        axis=axis,
        random_state=params.seed,
    )
    result.save(output.result)
