# Two empty markers that put the group-level jobs after every subject, for Snakemake's scheduler.
#
# With the slurm profile's job groups, each time a subject's group job ends Snakemake checks
# whether the `dataset` group (the group_* rules) is ready: for each input edge from the subject's
# jobs to a group-level job (7 per subject/session), it walks the members of the `dataset` group in
# dependency order and, for the first member, compares the group of each of that member's inputs
# (one per subject/session), stopping at the first member that is not ready (DAG._ready in
# snakemake/dag.py; the same in 9.15 and in Snakemake's current source). That grows with the square
# of the subjects: 59 s of CPU for 1000 subjects x 2 sessions. Here the first member of the
# `dataset` group is group_gate, whose one input is the marker of subjects_done, a job outside any
# group; every group-level rule takes the gate as an input (ancient: the gate's time stamp never
# reruns them, their own inputs do), so checking the `dataset` group costs one comparison until
# every subject is done. subjects_done is one more job of the graph but no SLURM job: it writes an
# empty file, so it runs in Snakemake's own process (localrules). Both have small requests of their
# own, or the profile's default-resources (30 min) would be added to the `dataset` group job's
# runtime, the sum of its members'.

localrules:
    subjects_done,


rule subjects_done:
    input:
        PLAN.subjects_done_inputs(),
    output:
        touch(deriv_outputs("subjects_done")["marker"]),
    threads: 1
    resources:
        mem_mb=100,
        runtime=1,


rule group_gate:
    input:
        PLAN.output("subjects_done", "marker"),
    output:
        touch(deriv_outputs("group_gate")["marker"]),
    threads: 1
    resources:
        mem_mb=100,
        runtime=1,
