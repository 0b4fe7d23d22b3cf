"""Steps of ``workflows/gate.smk``: the two markers that order the group-level jobs after every
subject for Snakemake's scheduler (bookkeeping under ``logs/``, not derivatives)."""

from __future__ import annotations

from ...utils import atomic_write_text


def subjects_done(input, output, params, threads):
    """Write the marker saying that the last file of every unit exists (``len(input)`` of them)."""
    atomic_write_text(output[0], f"{len(input)} files of the units are done; read by rule group_gate\n")


def group_gate(input, output, params, threads):
    """Write the marker that every group-level rule takes as an input (``workflows/gate.smk``)."""
    atomic_write_text(output[0], "every unit is done; the group-level jobs may start\n")


subjects_done.writes_provenance = False  # bookkeeping outside the derivatives (see run_rule)
group_gate.writes_provenance = False
