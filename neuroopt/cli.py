"""The ``neuroopt`` command: run the workflow, make the demo dataset, show the config."""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

from . import __version__
from ._workflow import default_config, profile_dir, snakefile


def _run(args, extra):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile())]
    if args.profile:
        command += ["--profile", str(profile_dir(args.profile))]
    if args.configfile:
        command += ["--configfile", *[str(Path(c).absolute()) for c in args.configfile]]
    if args.cores and not any(a in ("--cores", "-c", "--jobs", "-j") for a in extra):
        command += ["--cores", str(args.cores)]
    command += extra
    print("neuroopt: " + " ".join(command), flush=True)
    return subprocess.call(command)


def _demo(args, extra):
    from .datasets import make_demo_dataset

    kwargs = dict(n_subjects=args.subjects, n_runs=args.runs, fmri_resolution=args.fmri_resolution, seed=args.seed)
    root = make_demo_dataset(args.path, overwrite=args.overwrite, verbose=True, **kwargs)
    print(f"neuroopt: demo dataset at {root}")
    return 0


def _config(args, extra):
    print(default_config().read_text())
    return 0


def build_parser():
    parser = argparse.ArgumentParser(prog="neuroopt", description=__doc__)
    parser.add_argument("--version", action="version", version=f"neuroopt {__version__}")
    sub = parser.add_subparsers(dest="command", required=True)

    run = sub.add_parser(
        "run",
        help="run the Snakemake workflow (extra arguments go to snakemake, e.g. -n, --keep-going)",
        description=(
            "Run the neuroopt workflow with Snakemake. Without --configfile it uses the default config "
            "(`neuroopt config`): it builds the demo dataset in ./neuroopt-demo and analyses it there. "
            "Snakemake's logs/ (one log per job) and .snakemake/ (its bookkeeping) are written to the "
            "current working directory; the derivatives go to <bids_root>/derivatives/neuroopt. "
            "Unknown arguments are passed to snakemake (-n, --keep-going, --forcerun RULE, --unlock...)."
        ),
    )
    run.add_argument(
        "--configfile", nargs="+",
        help="YAML config file(s) overriding the defaults (start from `neuroopt config > my.yaml`); "
        "without it, the demo is built and analysed in ./neuroopt-demo",
    )
    run.add_argument("--profile", help="'local', 'slurm' or a profile folder")
    run.add_argument("--cores", default="all", help="cores for local execution (default: all)")
    run.set_defaults(func=_run)

    demo = sub.add_parser("demo-data", help="generate the built-in demo BIDS dataset (with ground truth)")
    demo.add_argument("path", help="folder to create (a BIDS dataset, ground truth under derivatives/truth/)")
    demo.add_argument("--subjects", type=int, default=2, help="number of subjects (default: %(default)s)")
    demo.add_argument("--runs", type=int, default=2, help="EEG and fMRI runs per subject, at least 2 (default: %(default)s)")
    demo.add_argument(
        "--fmri-resolution", type=float, default=4.0, help="fMRI voxel size in mm; larger is faster (default: %(default)s)"
    )
    demo.add_argument("--seed", type=int, default=42, help="random seed of the simulation (default: %(default)s)")
    demo.add_argument("--overwrite", action="store_true", help="replace an existing demo dataset at PATH")
    demo.set_defaults(func=_demo)

    config = sub.add_parser("config", help="print the default config (copy it to start your own)")
    config.set_defaults(func=_config)
    return parser


def main(argv=None):
    parser = build_parser()
    args, extra = parser.parse_known_args(argv)
    if extra and args.command != "run":
        parser.error(f"unrecognized arguments: {' '.join(extra)}")
    return args.func(args, extra)


if __name__ == "__main__":
    sys.exit(main())
