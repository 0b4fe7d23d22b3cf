# Rank-1 GLM HRF estimation per subject/task: all cleaned runs fitted jointly.


def _fmri_r1glm_files(wildcards):
    """The other files the R1-GLM step reads: the runs' sidecars and the mask (see the rule)."""
    return {
        "sidecars": [PLAN.fmri_sidecar(r) for r in _fmri_group_runs(wildcards)],
        "mask": PLAN.fmri_mask(wildcards.group),
    }


rule fmri_r1glm:
    input:
        # The cleaned runs. Their sidecars (written with them) and the mask (an input of the
        # cleaning) come as params: each input file costs planning time (README "Large datasets").
        bolds=lambda w: [PLAN.fmri_clean_bold(r) for r in _fmri_group_runs(w)],
    output:
        **deriv_outputs("fmri_r1glm"),
    params:
        **rule_params(config, "fmri_r1glm"),
        files=_fmri_r1glm_files,
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
