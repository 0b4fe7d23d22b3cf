# M/EEG preprocessing: per run (filter, bads, ICA), then per subject/task (epochs, evoked, cov).


def _meeg_preprocess_inputs(wildcards):
    rec = PLAN.recording(wildcards.rec, wildcards.dtype)
    return {
        "raw": str(rec.path),
        # sidecars, channels.tsv, events.tsv, .eeg/.vmrk: editing any of them reruns the job
        # (the demo's are written by the demo_dataset rule with the data file)
        "companions": [] if PLAN.is_demo else [str(p) for p in rec.companions],
        "demo": demo_input(),
    }


rule meeg_preprocess:
    input:
        unpack(_meeg_preprocess_inputs),
    output:
        **deriv_outputs("meeg_preprocess"),
    params:
        **rule_params(config, "meeg_preprocess"),
    log:
        str(LOGS / "meeg_preprocess/{sdir}/{rec}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=30,
    script:
        "scripts/run_step.py"


def _meeg_group_runs(wildcards):
    return PLAN.meeg_groups()[wildcards.group]


def _meeg_run_labels(wildcards):
    """Run label of each run of the group, as the epochs' metadata records it."""
    return [r.run or str(i + 1) for i, r in enumerate(_meeg_group_runs(wildcards))]


rule meeg_epochs:
    input:
        raws=lambda w: [PLAN.meeg_clean_raw(r) for r in _meeg_group_runs(w)],
    output:
        **deriv_outputs("meeg_epochs"),
    params:
        **rule_params(config, "meeg_epochs"),
        runs=_meeg_run_labels,
    log:
        str(LOGS / "meeg_epochs/{sdir}/{group}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=3000,
        runtime=20,
    script:
        "scripts/run_step.py"
