# Rank-1 GLM HRF estimation per subject/task: all cleaned runs fitted jointly.


rule fmri_r1glm:
    input:
        bolds=lambda w: [PLAN.fmri_clean_bold(r) for r in _fmri_group_runs(w)],
        sidecars=lambda w: [PLAN.fmri_sidecar(r) for r in _fmri_group_runs(w)],
        mask=lambda w: PLAN.fmri_mask(w.group),
    output:
        **{k: str(DERIV / ("{sdir}/func/{group}_" + v)) for k, v in R1GLM_SUFFIXES.items()},
    params:
        cfg=config["r1glm"],
        events=lambda w: [str(r.events) for r in _fmri_group_runs(w)],
        truth=lambda w: PLAN.truth_info(_fmri_group_runs(w)[0]),
    log:
        str(LOGS / "fmri_r1glm/{sdir}/{group}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"
