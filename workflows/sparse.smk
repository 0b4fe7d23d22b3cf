# Sparse source estimates (multitask Lasso / concomitant estimators) of each condition's evoked.


def _meeg_sparse_inputs(wildcards):
    outs = PLAN.meeg_outputs(wildcards.group)
    return {"evoked": outs["evoked"], "cov": outs["cov"], "epochs": outs["epochs"]}


rule meeg_sparse:
    input:
        unpack(_meeg_sparse_inputs),
    output:
        **{k: str(DERIV / ("{sdir}/{dtype}/{group}_" + v)) for k, v in SPARSE_SUFFIXES.items()},
    params:
        cfg=config["sparse"],
        seed=config["seed"],
        subject=lambda w: _meeg_group_runs(w)[0].subject,
        session=lambda w: _meeg_group_runs(w)[0].session,
        truth=(lambda w: PLAN.truth_info(_meeg_group_runs(w)[0])) if PLAN.is_demo else None,
    log:
        str(LOGS / "meeg_sparse/{sdir}/{group}_{dtype}.log"),
    threads: 1
    resources:
        mem_mb=4000,
        runtime=30,
    script:
        "scripts/run_step.py"
