# fMRI preprocessing: a brain mask per subject/task, then each run cleaned inside it.


def _fmri_group_runs(wildcards):
    return PLAN.fmri_groups()[wildcards.group]


rule fmri_mask:
    input:
        bolds=lambda w: [str(r.path) for r in _fmri_group_runs(w)],
        demo=demo_input,
    output:
        mask=str(DERIV / "{sdir}/func/{group}_desc-brain_mask.nii.gz"),
        summary=str(DERIV / "{sdir}/func/{group}_desc-brain_summary.json"),
    params:
        cfg=config["fmri"],
    log:
        str(LOGS / "fmri_mask/{sdir}/{group}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "scripts/run_step.py"


rule fmri_clean:
    input:
        bold=lambda w: str(PLAN.recording(w.rec, "func").path),
        companions=lambda w: [] if PLAN.is_demo else [str(p) for p in PLAN.recording(w.rec, "func").companions],
        mask=lambda w: PLAN.fmri_mask(PLAN.recording(w.rec, "func").group),
    output:
        bold=str(DERIV / "{sdir}/func/{rec}_desc-clean_bold.nii.gz"),
        json=str(DERIV / "{sdir}/func/{rec}_desc-clean_bold.json"),
    params:
        cfg=config["fmri"],
        bids_root=str(PLAN.bids_root),
    log:
        str(LOGS / "fmri_clean/{sdir}/{rec}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=15,
    script:
        "scripts/run_step.py"
