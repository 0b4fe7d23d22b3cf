# Rank-1 GLM HRF estimation per subject/task: all cleaned runs fitted jointly.


def _fmri_r1glm_inputs(wildcards):
    runs = _fmri_group_runs(wildcards)
    return {
        "bolds": [PLAN.fmri_clean_bold(r) for r in runs],
        "sidecars": [PLAN.fmri_sidecar(r) for r in runs],
        "mask": PLAN.fmri_mask(wildcards.group),
    }


rule fmri_r1glm:
    input:
        unpack(_fmri_r1glm_inputs),
    output:
        **deriv_outputs("fmri_r1glm"),
    params:
        **rule_params(config, "fmri_r1glm"),
        events=lambda w: [str(r.events) for r in _fmri_group_runs(w)],
        # the demo's ground truth; None (no function to call per job) on other datasets
        truth=(lambda w: PLAN.truth_info(_fmri_group_runs(w)[0])) if PLAN.is_demo else None,
    log:
        str(LOGS / "fmri_r1glm/{sdir}/{group}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"
