# fMRI contrast statistics: per subject and contrast, effect / variance / t / z maps with each
# voxel's R1-GLM HRF (+ nilearn's canonical GLM), cluster tables; then group maps per task.

def _fmri_glm_files(wildcards):
    """The other files the contrast step reads: the cleaned runs, and the R1-GLM's own other files
    (their sidecars and the mask, workflows/r1glm.smk)."""
    return {"bolds": [PLAN.fmri_clean_bold(r) for r in _fmri_group_runs(wildcards)],
            **_fmri_r1glm_files(wildcards)}


rule fmri_glm_contrast:
    input:
        # The R1-GLM fit. The runs, sidecars and mask the step also reads are the fit's own inputs
        # (written before it, rerun with it), so they come as params: each input file costs planning
        # time (1 file per job instead of 8; README "Large datasets").
        model=lambda w: PLAN.r1glm_outputs(w.group)["model"],
    output:
        **deriv_outputs("fmri_glm_contrast"),
    wildcard_constraints:
        # "<group>_model-canonical" must not read as a group of its own
        group=r"sub-(?:(?!_model-)[^/])+",
    params:
        **rule_params(config, "fmri_glm_contrast"),
        files=_fmri_glm_files,
        noise_model=config["r1glm"]["noise_model"],
        high_pass=config["r1glm"]["high_pass"],
        events=lambda w: [str(r.events) for r in _fmri_group_runs(w)],
        conditions=lambda w: PLAN.conditions(w.group, "func"),
        weights=lambda w: PLAN.glm_contrasts(w.group)[w.contrast].tolist(),
    log:
        str(LOGS / "fmri_glm_contrast/{sdir}/{group}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "scripts/run_step.py"


rule group_glm_contrast:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        effects=lambda w: [PLAN.glm_outputs(g, w.contrast)["effect"] for g in PLAN.group_sets("func")[w.task]],
    output:
        **deriv_outputs("group_glm_contrast"),
    params:
        **rule_params(config, "group_glm_contrast"),
        subjects=lambda w: PLAN.group_sets("func")[w.task],
    log:
        str(LOGS / "group_glm_contrast/task-{task}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "scripts/run_step.py"


rule group_hrf:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        peaks=lambda w: [PLAN.r1glm_outputs(g)["hrf_peak"] for g in PLAN.group_sets("func")[w.task]],
        fwhms=lambda w: [PLAN.r1glm_outputs(g)["hrf_fwhm"] for g in PLAN.group_sets("func")[w.task]],
        # where the HRF timing means something: voxels active in a subject contrast (thresholded)
        zmaps=lambda w: [PLAN.glm_outputs(g, c)["z"] for g in PLAN.group_sets("func")[w.task] for c in PLAN.glm_contrasts(g)],
        clusters=lambda w: [PLAN.glm_outputs(g, c)["clusters"] for g in PLAN.group_sets("func")[w.task] for c in PLAN.glm_contrasts(g)],
    output:
        **deriv_outputs("group_hrf"),
    params:
        subjects=lambda w: PLAN.group_sets("func")[w.task],
    log:
        str(LOGS / "group_hrf/task-{task}.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=10,
    script:
        "scripts/run_step.py"


rule group_fmri_decoding:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        results=lambda w: [PLAN.decoding_output(g, "func", w.contrast) for g in PLAN.group_members(w.task, "func", "decoding", w.contrast)],
    output:
        **deriv_outputs("group_fmri_decoding"),
    params:
        **rule_params(config, "group_fmri_decoding"),
        subjects=lambda w: PLAN.group_members(w.task, "func", "decoding", w.contrast),
    log:
        str(LOGS / "group_fmri_decoding/task-{task}_{contrast}.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=10,
    script:
        "scripts/run_step.py"
