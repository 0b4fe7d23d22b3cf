# Decoding and RSA per subject (M/EEG epochs; fMRI R1-GLMS trial betas), then at group level.
# Contrasts (decoding) come from the condition names (config decoding.contrasts).

wildcard_constraints:
    contrast=r"[a-zA-Z0-9]+",
    task=r"[a-zA-Z0-9]+",
    family=r"meeg|func",


def _trial_inputs(wildcards):
    outs = PLAN.r1glm_outputs(wildcards.group)
    return {"trial_betas": outs["trial_betas"], "trials": outs["trials"], "mask": PLAN.fmri_mask(wildcards.group)}


rule meeg_decoding:
    input:
        epochs=lambda w: PLAN.meeg_outputs(w.group)["epochs"],
    output:
        **deriv_outputs("meeg_decoding"),
    params:
        **rule_params(config, "meeg_decoding"),
        contrast=lambda w: PLAN.contrasts(w.group, "meeg")[w.contrast],
    log:
        str(LOGS / "meeg_decoding/{sdir}/{group}_{dtype}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "scripts/run_step.py"


rule fmri_decoding:
    input:
        unpack(_trial_inputs),
    output:
        **deriv_outputs("fmri_decoding"),
    params:
        **rule_params(config, "fmri_decoding"),
        single_run={k: config["fmri"][k] for k in ("single_run", "single_run_gap")},
        contrast=lambda w: PLAN.contrasts(w.group, "func")[w.contrast],
    log:
        str(LOGS / "fmri_decoding/{sdir}/{group}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "scripts/run_step.py"


rule meeg_rsa:
    input:
        epochs=lambda w: PLAN.meeg_outputs(w.group)["epochs"],
    output:
        **deriv_outputs("meeg_rsa"),
    params:
        **rule_params(config, "meeg_rsa"),
    log:
        str(LOGS / "meeg_rsa/{sdir}/{group}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "scripts/run_step.py"


def _fmri_rsa_inputs(wildcards):
    outs = PLAN.r1glm_outputs(wildcards.group)
    # rsa.fmri_noise: glm_residuals -> the R1-GLM residual time series (and their dof)
    return {**_trial_inputs(wildcards), **{k: outs[k] for k in ("residuals", "residuals_json") if k in outs}}


rule fmri_rsa:
    input:
        unpack(_fmri_rsa_inputs),
    output:
        **deriv_outputs("fmri_rsa"),
    params:
        **rule_params(config, "fmri_rsa"),
        single_run={k: config["fmri"][k] for k in ("single_run", "single_run_gap")},
    log:
        str(LOGS / "fmri_rsa/{sdir}/{group}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "scripts/run_step.py"


rule group_decoding:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        results=lambda w: [PLAN.decoding_output(g, "meeg", w.contrast) for g in PLAN.group_members(w.task, "meeg", "decoding", w.contrast)],
    output:
        **deriv_outputs("group_decoding"),
    params:
        **rule_params(config, "group_decoding"),
        subjects=lambda w: PLAN.group_members(w.task, "meeg", "decoding", w.contrast),
    log:
        str(LOGS / "group_decoding/task-{task}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "scripts/run_step.py"


rule group_rsa:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        rdms=lambda w: [PLAN.rsa_output(g, w.family) for g in PLAN.group_members(w.task, w.family, "rsa")],
    output:
        **deriv_outputs("group_rsa"),
    params:
        **rule_params(config, "group_rsa"),
    log:
        str(LOGS / "group_rsa/task-{task}_{family}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=20,
    script:
        "scripts/run_step.py"
