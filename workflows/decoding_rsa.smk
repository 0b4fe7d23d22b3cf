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
        result=str(DERIV / "{sdir}/{dtype}/{group}_desc-{contrast}_decoding.npz"),
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
        result=str(DERIV / "{sdir}/func/{group}_desc-{contrast}_decoding.npz"),
    params:
        **rule_params(config, "fmri_decoding"),
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
        rdm=str(DERIV / "{sdir}/{dtype}/{group}_desc-crossnobis_rdm.npz"),
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


rule fmri_rsa:
    input:
        unpack(_trial_inputs),
    output:
        rdm=str(DERIV / "{sdir}/func/{group}_desc-crossnobis_rdm.npz"),
    params:
        **rule_params(config, "fmri_rsa"),
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
        results=lambda w: [PLAN.decoding_output(g, "meeg", w.contrast) for g in PLAN.group_sets("meeg")[w.task]],
    output:
        result=str(DERIV / "group/meeg/task-{task}_desc-{contrast}_decoding.npz"),
    params:
        **rule_params(config, "group_decoding"),
        subjects=lambda w: PLAN.group_sets("meeg")[w.task],
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
        rdms=lambda w: [PLAN.rsa_output(g, w.family) for g in PLAN.group_sets(w.family)[w.task]],
    output:
        result=str(DERIV / "group/{family}/task-{task}_desc-models_rsa.npz"),
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
