"""What a workflow job shows on the terminal and writes to its log (neuroopt.pipeline.rule.run_rule),
the warnings it records for the report, and the chatter ``neuroopt run`` hides."""

import io
import json
import logging
import warnings
from types import SimpleNamespace

import pytest

from neuroopt.cli import _without_chatter, build_parser
from neuroopt.pipeline.rule import GROUP, collect_warnings, job_label, run_rule, warnings_record_path
from neuroopt.utils import log_result, logger


class Named(list):
    """A Snakemake named list, enough for run_rule (attribute access and items())."""

    def __init__(self, **named):
        super().__init__(named.values())
        self._named = named

    def items(self):
        return self._named.items()

    def __getattr__(self, name):
        try:
            return self._named[name]
        except KeyError:
            raise AttributeError(name) from None


def _job(tmp_path, rule="meeg_preprocess"):
    log = tmp_path / "logs" / rule / "sub-01" / "sub-01_task-x_run-01_eeg.log"
    log.parent.mkdir(parents=True)
    out = tmp_path / "out.txt"
    smk = SimpleNamespace(
        input=Named(raw=str(tmp_path / "in.vhdr")), output=Named(result=str(out)), params=Named(), threads=1,
        log=[str(log)], rule=rule, wildcards=Named(sdir="sub-01", rec="sub-01_task-x_run-01", dtype="eeg"),
    )
    return smk, log, out


@pytest.fixture
def terminal():
    """What the package logger's terminal handler prints (its stream swapped for a buffer)."""
    console = next(h for h in logger.handlers if type(h) is logging.StreamHandler)
    buffer = io.StringIO()
    old = console.setStream(buffer)
    yield buffer
    console.setStream(old)


def test_job_prints_start_and_end_lines_and_logs_the_rest(tmp_path, terminal):
    smk, log, out = _job(tmp_path)

    def step(input, output, params, threads):
        logger.info("a detail for the log only")
        log_result("2 bad channel(s)")
        warnings.warn("FastICA did not converge. Consider increasing tolerance.", UserWarning)
        out.write_text("x")

    with warnings.catch_warnings():
        warnings.simplefilter("always")
        run_rule(smk, step)
    console = terminal.getvalue().splitlines()
    label = "sub-01 meeg_preprocess task-x_run-01 eeg"
    assert len(console) == 3, console
    assert console[0].endswith(f"{label}: started")
    assert f"{label}: UserWarning: FastICA did not converge." in console[1]
    assert f"{label}: done in " in console[2] and " s: 2 bad channel(s) [1 warning(s), see " in console[2]
    text = log.read_text()
    assert "a detail for the log only" in text and "inputs: " in text and "wrote: " in text
    assert "WARNING UserWarning: FastICA did not converge" in text
    record = json.loads(warnings_record_path(log).read_text())
    assert record["unit"] == "sub-01" and record["warnings"][0]["count"] == 1
    rows = collect_warnings(tmp_path / "logs", "sub-01")
    assert [(r["rule"], r["category"]) for r in rows] == [("meeg_preprocess", "UserWarning")]
    assert collect_warnings(tmp_path / "logs", "sub-02") == []
    # the console is back to normal after the job
    assert all(not h.filters for h in logger.handlers if type(h) is logging.StreamHandler)


def test_warnings_of_group_jobs_are_on_the_group_page_not_a_subjects(tmp_path):
    def warn(input, output, params, threads):
        warnings.warn("a warning", UserWarning)

    logs = tmp_path / "logs"
    for rule, wildcards in [("group_decoding", Named(family="meeg", contrast="aVsB")), ("demo_dataset", Named()),
                            ("meeg_epochs", Named(sdir="sub-01", rec="sub-01_task-x"))]:
        (logs / rule).mkdir(parents=True)
        smk = SimpleNamespace(input=Named(), output=Named(), params=Named(), threads=1, log=[str(logs / rule / "x.log")],
                              rule=rule, wildcards=wildcards)
        with warnings.catch_warnings():
            warnings.simplefilter("always")
            run_rule(smk, warn)
    assert [r["rule"] for r in collect_warnings(logs, "sub-01")] == ["demo_dataset", "meeg_epochs"]
    assert [r["rule"] for r in collect_warnings(logs, GROUP)] == ["demo_dataset", "group_decoding"]
    # a record written before group jobs had a unit of their own
    record = json.loads(warnings_record_path(logs / "group_decoding" / "x.log").read_text())
    assert record["unit"] == GROUP
    warnings_record_path(logs / "group_decoding" / "x.log").write_text(json.dumps({**record, "unit": None}))
    assert [r["rule"] for r in collect_warnings(logs, "sub-01")] == ["demo_dataset", "meeg_epochs"]


def test_a_rerun_without_warnings_removes_the_record(tmp_path):
    smk, log, out = _job(tmp_path)
    warnings_record_path(log).write_text("{}")
    run_rule(smk, lambda input, output, params, threads: out.write_text("x"))
    assert not warnings_record_path(log).exists()


def test_job_label():
    assert job_label("group_report", {}) == "group group_report"
    assert job_label("demo_dataset", {}) == "dataset demo_dataset"
    assert job_label("meeg_decoding", {"sdir": "sub-02/ses-1", "group": "sub-02_ses-1_task-a", "dtype": "eeg",
                                       "contrast": "aVsB"}) == "sub-02_ses-1 meeg_decoding task-a aVsB eeg"


def test_neuroopt_run_hides_snakemake_chatter_but_not_errors():
    output = """Using profile /x/config/profiles/local for setting default command line arguments.
Assuming unrestricted shared filesystem usage.
host: vm
Building DAG of jobs...
Provided cores: 2
Rules claiming more threads will be scaled down.
Job stats:
job                count
---------------  -------
all                    1
meeg_epochs            1
meeg_preprocess        2
total                  4

Select jobs to execute...
Execute 2 jobs...

[Mon Dec  7 10:25:39 2026]
localrule meeg_preprocess:
    input: /a/very/long/path.vhdr
    output: /another/long/path.fif
    jobid: 3

Shell command: None
10:25:40 sub-01 meeg_preprocess run-01: started
10:25:41 sub-01 meeg_preprocess run-02: started
10:26:38 sub-01 meeg_preprocess run-01: ConvergenceWarning: FastICA did not converge.
10:26:39 sub-01 meeg_preprocess run-01: done in 59.0 s: 1 bad channel(s) (FC5) [1 warning(s), see logs/x.log]
[Mon Dec  7 10:26:39 2026]
Finished jobid: 3 (Rule: meeg_preprocess)
1 of 4 steps (25%) done
10:26:40 sub-01 meeg_preprocess run-02: done in 59.0 s
2 of 4 steps (50%) done
[Mon Dec  7 10:26:39 2026]
Error in rule meeg_epochs:
    message: None
    log: logs/x.log (check log file(s) for error details)
4 of 4 steps (100%) done
"""
    shown = "".join(_without_chatter(output.splitlines(keepends=True)))
    assert shown == """Building DAG of jobs...
neuroopt: 4 jobs on 2 cores: 1 meeg_epochs, 2 meeg_preprocess
10:26:38 sub-01 meeg_preprocess run-01: ConvergenceWarning: FastICA did not converge.
[1/4] 10:26:39 sub-01 meeg_preprocess run-01: done in 59.0 s: 1 bad channel(s) (FC5) [1 warning(s), see logs/x.log]
[2/4] 10:26:40 sub-01 meeg_preprocess run-02: done in 59.0 s
Error in rule meeg_epochs:
    message: None
    log: logs/x.log (check log file(s) for error details)
4 of 4 steps (100%) done
"""


@pytest.mark.parametrize("command, needle", [(["run"], "./neuroopt-demo"), (["run"], ".snakemake/"),
                                             (["demo-data", "x"], "fMRI voxel size in mm")])
def test_cli_help_says_what_it_does(command, needle):
    parser = build_parser()
    sub = parser._subparsers._group_actions[0].choices[command[0]]
    assert needle in sub.format_help().replace("\n", " ").replace("  ", " ")
