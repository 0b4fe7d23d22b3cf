# The built-in demo dataset, generated on first use (bids_root: demo).
if PLAN.is_demo:

    rule demo_dataset:
        output:
            PLAN.demo_marker(),
            [str(r.path) for r in PLAN.layout.recordings],
        params:
            path=str(PLAN.bids_root),
            **rule_params(config, "demo_dataset"),
        log:
            LOGS / "demo_dataset.log",
        threads: 1
        resources:
            mem_mb=4000,
            runtime=15,
        script:
            "scripts/run_step.py"
