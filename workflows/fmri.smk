# fMRI preprocessing: a brain mask per subject/task, then each run cleaned inside it.


def _fmri_group_runs(wildcards):
    return PLAN.fmri_groups()[wildcards.group]


def _fmri_mask_inputs(wildcards):
    return {"bolds": [str(r.path) for r in _fmri_group_runs(wildcards)], "demo": demo_input()}


rule fmri_mask:
    input:
        unpack(_fmri_mask_inputs),
    output:
        **deriv_outputs("fmri_mask"),
    params:
        **rule_params(config, "fmri_mask"),
    log:
        str(LOGS / "fmri_mask/{sdir}/{group}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "scripts/run_step.py"


def _fmri_clean_inputs(wildcards):
    rec = PLAN.recording(wildcards.rec, "func")
    return {
        "bold": str(rec.path),
        "companions": [] if PLAN.is_demo else [str(p) for p in rec.companions],
        "mask": PLAN.fmri_mask(rec.group),
    }


rule fmri_clean:
    input:
        unpack(_fmri_clean_inputs),
    output:
        **deriv_outputs("fmri_clean"),
    params:
        **rule_params(config, "fmri_clean"),
        bids_root=str(PLAN.bids_root),
    log:
        str(LOGS / "fmri_clean/{sdir}/{rec}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "scripts/run_step.py"
