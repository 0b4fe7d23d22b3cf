# Scheduling only: two small jobs that put the group-level jobs after every subject, so that
# Snakemake's readiness check of the slurm profile's `dataset` job group stays linear in subjects.
#
# With job groups, each time a subject's group job ends Snakemake checks whether the `dataset` group
# is ready: for each input edge from the subject to a group-level job (7 per subject/session) it
# walks the group's members in dependency order and, for the first member, counts which of that
# member's input jobs (one per subject/session) are in the group (DAG._ready in snakemake/dag.py,
# 9.15): quadratic in the subjects. Here the first member is group_gate, whose one input is the
# marker of subjects_done: one comparison per check until every subject is done (1000 subjects x 2
# sessions x 3 runs, grouped dry run: 147 s of CPU instead of 213 s, 127 s without groups; README
# "Large datasets").
#
# Both write a marker under logs/ (bookkeeping, not derivatives; no provenance):
# - subjects_done runs where Snakemake runs (localrules: no SLURM job) once every unit's last
#   file exists. Its inputs are ancient() and its marker temp(): a rerun unit does not rerun it
#   (its marker is deleted once group_gate has run and, missing, is only made again when
#   group_gate must run); a changed set of units does.
# - group_gate, a member of the `dataset` group, runs when subjects_done did. Every group-level
#   rule takes its marker as an ancient() input, so it never reruns them (their own inputs do).
# Small requests of their own: the profile's default runtime (30 min) would otherwise be added to
# the `dataset` group job's runtime, the sum of its members'.

localrules:
    subjects_done,


rule subjects_done:
    input:
        [ancient(path) for path in PLAN.units_done_inputs()],
    output:
        temp(str(GATE["subjects_done"])),
    log:
        str(LOGS / "subjects_done.log"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=1,
    script:
        "scripts/run_step.py"


rule group_gate:
    input:
        str(GATE["subjects_done"]),
    output:
        str(GATE["group_gate"]),
    log:
        str(LOGS / "group_gate.log"),
    threads: 1
    resources:
        mem_mb=500,
        runtime=1,
    script:
        "scripts/run_step.py"
