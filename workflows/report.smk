# HTML reports: one per subject (every stage's section) and the group index page.


rule subject_report:
    input:
        lambda w: PLAN.report_job_inputs(w.unit),  # one file per job it reads from (see the method)
    output:
        html=report(
            deriv_outputs("subject_report")["html"],
            caption="report/subject.rst",
            category="Subject reports",
        ),
    params:
        unit="{unit}",
        sections=lambda w: PLAN.report_sections(w.unit),
        logs=str(LOGS),  # the report lists the warnings the subject's jobs recorded there
    log:
        str(LOGS / "subject_report/{unit}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"


# A subject with several sessions: its sessions table waits for every session's results, which
# makes the sessions one connected part of the job graph, so the cluster profile's job group
# `subject` runs them as one SLURM job (groups only join connected jobs).
rule subject_sessions:
    input:
        lambda w: PLAN.sessions_inputs(w.subject),
    output:
        **deriv_outputs("subject_sessions"),
    params:
        rows=lambda w: PLAN.sessions_rows(w.subject),
    log:
        str(LOGS / "subject_sessions/{subject}.log"),
    threads: 1
    resources:
        mem_mb=1000,
        runtime=5,
    script:
        "scripts/run_step.py"


rule group_report:
    input:
        gate=ancient(str(GATE["group_gate"])),  # after every subject (workflows/gate.smk)
        reports=[PLAN.report(u) for u in PLAN.units()],
        summaries=PLAN.group_summaries(),
        results=[path for _, path in PLAN.group_results()[0] + PLAN.group_results()[1]],
        glm=[v for sec in PLAN.group_glm_results() for k, v in sec.items() if k not in ("kind", "title", "n_subjects")],
    output:
        html=report(deriv_outputs("group_report")["html"], caption="report/group.rst", category="Group"),
        description=deriv_outputs("group_report")["description"],
    params:
        units=list(PLAN.units()),
        excluded=[(str(p), reason) for p, reason in PLAN.invalid],
        planned_out=[(item.group, item.what, item.reason) for item in PLAN.planned_out()],
        dataset_name=PLAN.bids_root.name,
        title=f"neuroopt — {PLAN.bids_root.name}",
        decoding=PLAN.group_results()[0],
        rsa=PLAN.group_results()[1],
        glm=PLAN.group_glm_results(),
        logs=str(LOGS),  # the warnings of each subject's jobs
    log:
        str(LOGS / "group_report.log"),
    threads: 1
    resources:
        mem_mb=2000,
        runtime=15,
    script:
        "scripts/run_step.py"
