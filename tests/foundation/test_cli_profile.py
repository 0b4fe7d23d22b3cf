"""``neuroopt run`` uses the local profile unless told otherwise: its ``rerun-incomplete`` is what
the README's resume recipe (run the same command again) relies on."""

import subprocess

import yaml

from neuroopt import cli
from neuroopt._workflow import profile_dir


def _command(monkeypatch, *argv):
    seen = []
    monkeypatch.setattr(subprocess, "call", lambda command: seen.append(command) or 0)
    monkeypatch.setattr(cli, "_quiet_chatter", lambda command: seen.append(command) or 0)
    assert cli.main(["run", *argv]) == 0
    return seen[0]


def test_run_uses_the_local_profile_by_default(monkeypatch):
    command = _command(monkeypatch, "-n")
    assert command[command.index("--profile") + 1] == str(profile_dir("local"))
    assert yaml.safe_load((profile_dir("local") / "config.yaml").read_text())["rerun-incomplete"] is True
    assert command[-3:] == ["--cores", "all", "-n"]


def test_an_explicit_profile_replaces_the_local_one(monkeypatch):
    command = _command(monkeypatch, "--profile", "slurm")
    assert command.count("--profile") == 1
    assert command[command.index("--profile") + 1] == str(profile_dir("slurm"))
    assert "--cores" not in command, "the slurm profile's cores (threads of a group job) must apply"
    assert _command(monkeypatch, "--profile", "slurm", "--cores", "4")[-2:] == ["--cores", "4"]
