"""The output file names of every rule, in one table.

``workflows/*.smk`` declares each rule's ``output:`` from :func:`rule_outputs`, and
:class:`neuroopt.pipeline.plan.Plan` formats the same patterns to know the targets and the inputs
of the next rules, so a new output is one edit here. The patterns are relative to the
derivatives folder and use the rules' wildcards (``{sdir}``: ``sub-01`` or ``sub-01/ses-1``,
``{dtype}``: ``eeg`` / ``meg``, ``{rec}``: one run's BIDS stem, ``{group}``: a subject/session/task,
``{unit}``: a subject/session, ``{subject}``: ``sub-01``, ``{task}``, ``{contrast}``, ``{family}``: ``meeg`` / ``func``).
"""

from __future__ import annotations

STATS = ("effect", "variance", "t", "z")

#: rule -> {output key: path pattern under the derivatives folder}. A key with a field (``{stat}``,
#: ``{estimator}``) is one output per value of :data:`EXPAND`; outputs listed in :data:`CONDITIONS`
#: exist only with some configs. The demo_dataset rule writes raw BIDS data, not derivatives.
OUTPUTS = {
    "meeg_preprocess": {
        "raw": "{sdir}/{dtype}/{rec}_proc-clean_raw.fif",
        "summary": "{sdir}/{dtype}/{rec}_desc-preproc_summary.json",
        "ica": "{sdir}/{dtype}/{rec}_ica.fif",
    },
    "meeg_epochs": {
        "epochs": "{sdir}/{dtype}/{group}_epo.fif",
        "evoked": "{sdir}/{dtype}/{group}_ave.fif",
        "cov": "{sdir}/{dtype}/{group}_cov.fif",
        "summary": "{sdir}/{dtype}/{group}_desc-epochs_summary.json",
    },
    "meeg_forward": {
        "forward": "{sdir}/{dtype}/{unit}_fwd.fif",
        "summary": "{sdir}/{dtype}/{unit}_desc-forward_summary.json",
        "trans": "{sdir}/{dtype}/{unit}_trans.fif",
    },
    "meeg_sparse": {
        "summary": "{sdir}/{dtype}/{group}_desc-sparse_summary.json",
        "{estimator}": "{sdir}/{dtype}/{group}_desc-{estimator}_sources.h5",
    },
    "fmri_mask": {
        "mask": "{sdir}/func/{group}_desc-brain_mask.nii.gz",
        "summary": "{sdir}/func/{group}_desc-brain_summary.json",
    },
    "fmri_clean": {
        "bold": "{sdir}/func/{rec}_desc-clean_bold.nii.gz",
        "json": "{sdir}/func/{rec}_desc-clean_bold.json",
    },
    "fmri_r1glm": {
        "hrf_peak": "{sdir}/func/{group}_desc-hrf_peak.nii.gz",
        "hrf_fwhm": "{sdir}/func/{group}_desc-hrf_fwhm.nii.gz",
        "betas": "{sdir}/func/{group}_desc-conditions_stat-beta_statmap.nii.gz",
        "r2_gain": "{sdir}/func/{group}_desc-r2gain_statmap.nii.gz",
        "model": "{sdir}/func/{group}_desc-r1glm_model.joblib",
        "summary": "{sdir}/func/{group}_desc-r1glm_summary.json",
        "trial_betas": "{sdir}/func/{group}_desc-trials_stat-beta_statmap.nii.gz",
        "trials": "{sdir}/func/{group}_desc-trials_events.tsv",
        "residuals": "{sdir}/func/{group}_desc-residuals_bold.nii.gz",
        "residuals_json": "{sdir}/func/{group}_desc-residuals_bold.json",
    },
    "fmri_glm_contrast": {
        "{stat}": "{sdir}/func/{group}_desc-{contrast}_stat-{stat}_statmap.nii.gz",
        "clusters": "{sdir}/func/{group}_desc-{contrast}_clusters.tsv",
        "canonical_{stat}": "{sdir}/func/{group}_model-canonical_desc-{contrast}_stat-{stat}_statmap.nii.gz",
        "canonical_clusters": "{sdir}/func/{group}_model-canonical_desc-{contrast}_clusters.tsv",
    },
    "group_glm_contrast": {
        "{stat}": "group/func/task-{task}_desc-{contrast}_stat-{stat}_statmap.nii.gz",
        "clusters": "group/func/task-{task}_desc-{contrast}_clusters.tsv",
    },
    "group_hrf": {
        "hrf_peak": "group/func/task-{task}_desc-hrfpeak_stat-median_statmap.nii.gz",
        "hrf_fwhm": "group/func/task-{task}_desc-hrffwhm_stat-median_statmap.nii.gz",
    },
    "group_fmri_decoding": {"result": "group/func/task-{task}_desc-{contrast}_decoding.npz"},
    "meeg_decoding": {"result": "{sdir}/{dtype}/{group}_desc-{contrast}_decoding.npz"},
    "fmri_decoding": {"result": "{sdir}/func/{group}_desc-{contrast}_decoding.npz"},
    "meeg_rsa": {"rdm": "{sdir}/{dtype}/{group}_desc-crossnobis_rdm.npz"},
    "fmri_rsa": {"rdm": "{sdir}/func/{group}_desc-crossnobis_rdm.npz"},
    "group_decoding": {"result": "group/meeg/task-{task}_desc-{contrast}_decoding.npz"},
    "group_rsa": {"result": "group/{family}/task-{task}_desc-models_rsa.npz"},
    "subject_report": {"html": "reports/{unit}_report.html"},
    "subject_sessions": {"table": "{subject}/{subject}_sessions.tsv"},
    "group_report": {"html": "reports/index.html", "description": "dataset_description.json"},
}


def uses_ica(config):
    """M/EEG artifacts are removed with ICA (its decomposition is saved per run)."""
    return config["meeg"]["artifacts"]["method"] == "ica"


def uses_glm_residuals(config):
    """fMRI RSA estimates its noise from the R1-GLM residuals (saved by the R1-GLM rule)."""
    rsa = config["rsa"]
    return bool(rsa["enabled"] and rsa["noise"] != "none" and rsa.get("fmri_noise", "glm_residuals") == "glm_residuals"
                and config["r1glm"]["trial_betas"])


def _trial_betas(config):
    return bool(config["r1glm"]["trial_betas"])


def _bem(config):
    return config["sparse"]["forward"] == "bem"


def _canonical(config):
    return bool(config["glm"]["canonical"])


#: (rule, output key) -> the predicate of the config under which the output exists.
CONDITIONS = {
    ("meeg_preprocess", "ica"): uses_ica,
    ("meeg_forward", "trans"): _bem,
    ("fmri_r1glm", "trial_betas"): _trial_betas,
    ("fmri_r1glm", "trials"): _trial_betas,
    ("fmri_r1glm", "residuals"): uses_glm_residuals,
    ("fmri_r1glm", "residuals_json"): uses_glm_residuals,
    ("fmri_glm_contrast", "canonical_{stat}"): _canonical,
    ("fmri_glm_contrast", "canonical_clusters"): _canonical,
}

#: field of an output key -> its values under a config.
EXPAND = {
    "stat": lambda config: STATS,
    "estimator": lambda config: list(config["sparse"]["estimators"]),
}


def rule_outputs(config, rule):
    """The outputs of ``rule`` under ``config``: output key -> path pattern (derivatives-relative).

    Parameters
    ----------
    config : dict
        The workflow config (validated, defaults filled in).
    rule : str
        A rule of ``workflows/*.smk`` listed in :data:`OUTPUTS`.

    Returns
    -------
    outputs : dict
        Output key -> path pattern with the rule's wildcards, in the order of the table.
    """
    if rule not in OUTPUTS:
        raise KeyError(f"rule {rule!r} has no entry in neuroopt.pipeline.outputs.OUTPUTS; add its output patterns there.")
    out = {}
    for key, pattern in OUTPUTS[rule].items():
        condition = CONDITIONS.get((rule, key))
        if condition is not None and not condition(config):
            continue
        field = next((name for name in EXPAND if "{" + name + "}" in key), None)
        if field is None:
            out[key] = pattern
            continue
        for value in EXPAND[field](config):
            placeholder = "{" + field + "}"
            out[key.replace(placeholder, value)] = pattern.replace(placeholder, value)
    return out
