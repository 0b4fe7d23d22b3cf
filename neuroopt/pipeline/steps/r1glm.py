"""Step of ``workflows/r1glm.smk``: per-voxel HRFs and betas with the rank-1 GLM."""

from __future__ import annotations

import numpy as np

from ...utils import atomic_path, log_result, logger
from ._common import demo_truth, runs_repetition_time, write_json


def fmri_r1glm(input, output, params, threads):
    """Cleaned BOLD runs + events -> per-voxel HRF (rank-1 GLM), condition and trial betas.

    The inputs are the runs (``input.bolds``); their sidecars and the brain mask are
    ``params.files`` (``sidecars``, ``mask``).
    """
    import joblib

    from ...fmri.maps import fit_r1glm_images, save_r1glm_derivatives, score_against_truth
    from ...io.bids import read_events

    cfg = params.cfg
    events = [read_events(p) for p in params.events]
    result = fit_r1glm_images(
        list(input.bolds),
        events,
        params.files["mask"],
        runs_repetition_time(params.files["sidecars"], input.bolds),
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
        from ...fmri.residuals import r1glm_residuals, save_residuals

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
    truth = demo_truth(params.truth)
    if truth is not None:
        from ...datasets.scores import truth_summary

        summary["truth_scores"] = score_against_truth(result, truth)
        log_result("vs truth: " + truth_summary(summary["truth_scores"], ["hrf_r", "ttp_error", "beta_r_active"]))
    # the estimator and masker alone: the images are rebuilt from them (R1GLMImages.from_estimator)
    with atomic_path(output.model, suffix=".joblib") as tmp:
        joblib.dump({"estimator": result.estimator, "masker": result.masker}, tmp)
    write_json(output.summary, summary, default=float)

