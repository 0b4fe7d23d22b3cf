"""The ``neuroopt`` command: run the workflow, make the demo dataset, show the config."""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import textwrap
from pathlib import Path

from . import __version__
from ._workflow import default_config, profile_dir, snakefile

# Snakemake's scheduling chatter and its block per job (every input and output, the reason...),
# hidden from the terminal by `neuroopt run` (they stay in .snakemake/log/); each job prints its
# own end line (neuroopt.pipeline.rule), numbered here. Error blocks ("Error in rule x:") are kept.
_SNAKEMAKE_CHATTER = re.compile(
    r"^(Select jobs to execute\.\.\.|Execute \d+ jobs\.\.\.|\[\w{3} \w{3} +\d+ [\d:]+ \d{4}\]|"
    r"Finished jobid: \d+ \(Rule: \w+\)|Assuming unrestricted shared filesystem usage\.|host: \S+|"
    r"Using shell: \S+|Rules claiming more threads will be scaled down\.|"
    r"Using profile \S+ for setting default command line arguments\.|"
    # printshellcmds (local profile) prints this after every script job's block
    r"Shell command: None)\s*$"
)


_JOB_BLOCK = re.compile(r"^(local)?rule \w+:\s*$")


_PROGRESS = re.compile(r"^(\d+) of (\d+) steps \(\d+%\) done\s*$")


_CORES = re.compile(r"^Provided cores: (\d+)")


_STATS_ROW = re.compile(r"^(\w+)\s+(\d+)\s*$")


# a job's own lines (neuroopt.pipeline.rule): "HH:MM:SS <subject> <rule> ...: started" / ": done in"
_JOB_STARTED = re.compile(r"^\d\d:\d\d:\d\d \S.*: started\s*$")


_JOB_DONE = re.compile(r"^\d\d:\d\d:\d\d \S.*: done in ")


def _jobs_line(counts, cores):
    """Snakemake's job-count table as one wrapped line (``total`` first, ``all`` left out)."""
    total = counts.pop("total", sum(counts.values()))
    on = f" on {cores} cores" if cores else ""
    rules = [f"{n}\N{NO-BREAK SPACE}{rule}" for rule, n in counts.items() if rule != "all"]  # never split "2 rule"
    text = textwrap.fill(f"neuroopt: {total} jobs{on}: {', '.join(rules)}", width=110, subsequent_indent="  ")
    return text.replace("\N{NO-BREAK SPACE}", " ") + "\n"


def _without_chatter(lines):
    """Yield the lines worth showing, about two screens for the demo's 51 jobs.

    Hidden: scheduling chatter, the job blocks (header + indented lines) and the jobs' start
    lines; Snakemake's job-count table becomes one line; each job's end line is numbered like
    Snakemake's "k of n steps done", which is shown only at the end of the run. Kept in full:
    warnings, errors (with their log) and everything else a job or Snakemake prints.
    """
    in_block, stats, cores, done, total = False, None, None, 0, None
    for line in lines:
        if in_block and (line.startswith((" ", "\t")) or not line.strip()):
            continue
        in_block = bool(_JOB_BLOCK.match(line))
        if stats is not None:  # inside the job-count table
            row = _STATS_ROW.match(line)
            if row and row.group(1) != "job":
                stats[row.group(1)] = int(row.group(2))
                if row.group(1) == "total":
                    total = stats["total"]
                    yield _jobs_line(stats, cores)
                    stats = None
                continue
            if line.startswith(("job ", "---")):
                continue
            if stats:  # a table without its total line: show what it had
                yield _jobs_line(stats, cores)
            stats = None
        if line.startswith("Job stats:"):
            stats = {}
            continue
        if _CORES.match(line):
            cores = _CORES.match(line).group(1)
            continue
        progress = _PROGRESS.match(line)
        if progress and progress.group(1) != progress.group(2):
            continue
        if _JOB_STARTED.match(line):
            continue
        if _JOB_DONE.match(line):
            done += 1
            width = len(str(total or done))
            line = f"[{done:>{width}}/{total or '?'}] {line}"
        if not (in_block or _SNAKEMAKE_CHATTER.match(line) or not line.strip()):
            yield line


def _quiet_chatter(command):
    """Run ``command``, copying its output (stdout and stderr) to ours without the chatter."""
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, bufsize=1)
    try:
        for line in _without_chatter(process.stdout):
            sys.stdout.write(line)
            sys.stdout.flush()
    except KeyboardInterrupt:  # Snakemake got the Ctrl-C too: let it stop its jobs and report
        for line in process.stdout:
            sys.stdout.write(line)
    return process.wait()


def _run(args, extra):
    command = [sys.executable, "-m", "snakemake", "--snakefile", str(snakefile())]
    # the local profile by default: its --rerun-incomplete is what resuming an interrupted run needs
    profile = args.profile or "local"
    command += ["--profile", str(profile_dir(profile))]
    if args.configfile:
        command += ["--configfile", *[str(Path(c).absolute()) for c in args.configfile]]
    # all cores by default on this machine; with another profile (slurm) its own `cores` (the
    # threads of one group job) applies unless --cores is given
    cores = args.cores or ("all" if profile == "local" else None)
    if cores and not any(a in ("--cores", "-c", "--jobs", "-j") for a in extra):
        command += ["--cores", str(cores)]
    command += extra
    print("neuroopt: " + " ".join(command), flush=True)
    if args.all_messages:
        return subprocess.call(command)
    return _quiet_chatter(command)


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
    run.add_argument("--profile", help="'local' (the default), 'slurm' or a profile folder")
    run.add_argument("--cores", help="cores for local execution (default: all; with --profile slurm: the profile's)")
    run.add_argument(
        "--all-messages", action="store_true",
        help="show Snakemake's own messages (a block per job with its inputs and outputs, the "
        "scheduling, its progress lines); by default the terminal shows one numbered line per finished "
        "job and every warning and error, and Snakemake's full log is in .snakemake/log/",
    )
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
