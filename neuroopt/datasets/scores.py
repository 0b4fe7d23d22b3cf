"""Names, units and meaning of the scores against the demo dataset's ground truth.

The scoring functions (:func:`neuroopt.fmri.maps.score_against_truth`,
:func:`neuroopt.meeg.source_scoring.score_sources_against_truth`) return dicts with short keys;
reports and the console show them with these labels.
"""

from __future__ import annotations

# key -> (label, unit, meaning)
TRUTH_SCORES = {
    "n_voxels": ("voxels compared", "", "voxels inside both the fit's mask and the truth's mask"),
    "n_active": ("active voxels", "", "voxels where some condition has a non-zero true beta"),
    "beta_r": ("beta correlation (all voxels)", "r", "Pearson r of estimated vs true condition betas, all compared voxels"),
    "beta_r_active": ("beta correlation (active voxels)", "r", "the same over the active voxels only"),
    "hrf_r": ("HRF shape correlation", "r", "mean over active voxels of the Pearson r of estimated vs true HRF"),
    "ttp_error": ("HRF time-to-peak error", "s", "median over active voxels of |estimated - true time to peak|"),
    "trial_beta_r": ("trial beta correlation (active voxels)", "r", "Pearson r of R1-GLMS trial betas vs true trial amplitudes"),
    "mean_localization_error_m": ("mean localisation error", "mm", "mean distance from each true source to the nearest estimated one"),
    "max_localization_error_m": ("largest localisation error", "mm", "largest distance from a true source to the nearest estimated one"),
    "n_true": ("true sources", "", "sources active in the simulated condition"),
    "n_estimated": ("estimated sources scored", "", "estimated sources above the amplitude threshold of the scoring"),
    "n_detected": ("true sources found", "", "true sources with an estimated source within the match radius"),
    "recall": ("recall", "", "true sources found / true sources"),
    "n_spurious": ("spurious sources", "", "scored estimated sources farther than the match radius from every true source"),
}


def format_truth_score(key, value):
    """``(label, value with its unit, meaning)`` of one score; unknown keys are shown as they are.

    Parameters
    ----------
    key : str
        Key of the scoring function's dict (e.g. ``"ttp_error"``).
    value : float | int | object
        Its value (metres are shown in mm).

    Returns
    -------
    label, text, meaning : str
    """
    label, unit, meaning = TRUTH_SCORES.get(key, (key, "", ""))
    if unit == "mm":
        value = value * 1e3
    if isinstance(value, float):
        text = f"{value:.3f}" if unit in ("r", "") else f"{value:.2f}"
    else:
        text = str(value)
    if unit and unit != "r":
        text = f"{text} {unit}"
    return label, text, meaning


def truth_summary(scores, keys):
    """One phrase for the console, e.g. ``HRF shape correlation r 0.98, HRF time-to-peak error 0.16 s``.

    Parameters
    ----------
    scores : dict
        A scoring function's output.
    keys : list of str
        The keys to show, in order (missing ones are left out).

    Returns
    -------
    str
    """
    parts = []
    for key in keys:
        if key in scores:
            label, text, _ = format_truth_score(key, scores[key])
            unit = TRUTH_SCORES.get(key, ("", "", ""))[1]
            parts.append(f"{label} {'r ' if unit == 'r' else ''}{text}")
    return ", ".join(parts)
