# Sparse source estimates (multitask Lasso / concomitant estimators) of each condition's evoked.


def _meeg_forward_inputs(wildcards):
    from neuroopt.pipeline.anatomy import resolve_forward

    rec = PLAN.forward_recordings()[(wildcards.sdir, wildcards.dtype)]
    files, _ = resolve_forward(config, PLAN.bids_root, rec)
    return {"raw": str(rec.path), "demo": demo_input(), **files}


def _meeg_forward_params(wildcards):
    from neuroopt.pipeline.anatomy import resolve_forward

    rec = PLAN.forward_recordings()[(wildcards.sdir, wildcards.dtype)]
    return resolve_forward(config, PLAN.bids_root, rec)[1].get("fs_subject")


# One forward model per subject/session and datatype, from the sensor geometry of its first run:
# changing the estimators, the preprocessing or the epochs does not recompute it.
rule meeg_forward:
    input:
        unpack(_meeg_forward_inputs),
    output:
        **deriv_outputs("meeg_forward"),
    params:
        **rule_params(config, "meeg_forward"),
        fs_subject=_meeg_forward_params,
    log:
        str(LOGS / "meeg_forward/{sdir}/{unit}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"


def _meeg_sparse_inputs(wildcards):
    outs = PLAN.meeg_outputs(wildcards.group)
    forward = PLAN.forward_outputs(wildcards.group)["forward"]
    inputs = {"evoked": outs["evoked"], "cov": outs["cov"], "epochs": outs["epochs"], "forward": forward}
    # each run's cleaning (ICA removal, interpolated channels) is applied to the gain too
    runs = [PLAN.meeg_preprocess_outputs(r) for r in _meeg_group_runs(wildcards)]
    inputs["preproc"] = [r["summary"] for r in runs]
    if all("ica" in r for r in runs):
        inputs["icas"] = [r["ica"] for r in runs]
    return inputs


rule meeg_sparse:
    input:
        unpack(_meeg_sparse_inputs),
    output:
        **deriv_outputs("meeg_sparse"),
    params:
        **rule_params(config, "meeg_sparse"),
        subject=lambda w: _meeg_group_runs(w)[0].subject,
        session=lambda w: _meeg_group_runs(w)[0].session,
        runs=_meeg_run_labels,
        truth=(lambda w: PLAN.truth_info(_meeg_group_runs(w)[0])) if PLAN.is_demo else None,
    log:
        str(LOGS / "meeg_sparse/{sdir}/{group}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"
