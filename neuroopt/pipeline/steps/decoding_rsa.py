"""Steps of ``workflows/decoding_rsa.smk``: decoding and crossnobis RSA per subject, then per group."""

from __future__ import annotations

import json

import numpy as np

from ...utils import log_result, logger


def meeg_decoding(input, output, params, threads):
    """Epochs -> cross-validated decoding over time of one contrast (folds grouped by run)."""
    import mne

    from ...decoding.temporal import decode_epochs

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
        from ...decoding.cv import split_half_runs

        runs = split_half_runs(trials["onset"].to_numpy(), single["single_run_gap"])
        logger.info(
            f"single run: split in halves of {int((runs == 1).sum())} and {int((runs == 2).sum())} trials, "
            f"{int((runs == 0).sum())} trial(s) within {single['single_run_gap']:g} s of the split left out"
        )
    return runs


def fmri_decoding(input, output, params, threads):
    """R1-GLMS trial betas in the brain mask -> decoding of one contrast, folds grouped by run."""
    from ...decoding.trials import decode_trials

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

    from ...rsa.rdm import epochs_rdms

    epochs = mne.read_epochs(input.epochs, verbose="error")
    noise = None if params.cfg["noise"] == "none" else params.cfg["noise"]
    epochs_rdms(epochs, runs="run", method="crossnobis", noise=noise).save(output.rdm)


def fmri_rsa(input, output, params, threads):
    """R1-GLMS trial betas -> crossnobis RDM in the brain mask (noise from the GLM residuals or trials)."""
    import nibabel as nib
    import pandas as pd

    from ...rsa.rdm import roi_rdms

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
    from ...decoding.group import group_decoding as combine
    from ...decoding.temporal import TemporalDecodingResult

    results = [TemporalDecodingResult.load(p) for p in input.results]
    combine(results, subjects=params.subjects, n_permutations=params.cfg["n_permutations"], random_state=params.seed).save(output.result)


def group_rsa(input, output, params, threads):
    """Subjects' RDM stacks -> model fits with noise ceiling, bootstrap over subjects and conditions."""
    from ...rsa.inference import evaluate_models, stack_subject_rdms
    from ..contrasts import resolve_models

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
