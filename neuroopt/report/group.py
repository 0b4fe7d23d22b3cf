"""The group page (``reports/index.html``): links to every subject's report with key numbers, the
inputs left out and why, and the group-level decoding and RSA results."""

from __future__ import annotations

import html
import json
from pathlib import Path

import mne

from ._figures import html_table


def _subject_rows(units, summary_paths):
    by_unit = {unit: [] for unit in units}
    for summary_path in summary_paths:
        name = Path(summary_path).name
        unit = next((u for u in sorted(units, key=len, reverse=True) if name.startswith(u + "_")), None)
        if unit is None:
            continue
        with open(summary_path) as fid:
            summary = json.load(fid)
        if "n_epochs" in summary:
            by_unit[unit].append(f"{summary['n_epochs']} epochs ({summary['n_dropped']} rejected)")
        if "n_voxels" in summary:
            by_unit[unit].append(f"{summary['n_voxels']} voxels in mask")
    return [
        (f'<a href="{html.escape(unit)}_report.html">{html.escape(unit)}</a>', html.escape("; ".join(by_unit[unit]) or "—"))
        for unit in units
    ]


def build_group_report(units, summary_paths, excluded, title="neuroopt", decoding=(), rsa=(), failed=(), glm=(), planned_out=()):
    """The group ``mne.Report``.

    Parameters
    ----------
    units : list of str
        Subject (or subject_session) labels; each links to ``<unit>_report.html`` beside the page.
    summary_paths : list of path-like
        JSON summaries of the subject-level steps; their file name starts with the unit label.
    excluded : list of (path, reason)
        Inputs left out (while planning, or subjects whose jobs failed), with the reason.
    decoding : list of (title, path)
        Group decoding results (:class:`neuroopt.decoding.group.GroupDecodingResult` files).
    rsa : list of (title, path)
        Group model comparisons (:class:`neuroopt.rsa.inference.ModelComparisonResult` files).
    glm : list of dict
        fMRI group results (group contrast maps, HRF medians, fMRI group decoding), as planned by
        ``Plan.group_glm_results`` (:func:`neuroopt.report.glm.add_group_sections`).
    failed : list of (unit, reason, log path)
        Subjects whose jobs failed in a ``--keep-going`` run, one row per failed job (the page of
        an incomplete run, see :func:`neuroopt.pipeline.rule.report_failed_run`).
    planned_out : list of (group, stage, reason)
        Stages left out of the plan because their preconditions fail (e.g. decoding of a
        single-run recording), see :mod:`neuroopt.pipeline.preconditions`.
    """
    from ..decoding.group import GroupDecodingResult
    from ..rsa.inference import ModelComparisonResult
    from .decoding import add_decoding_section
    from .rsa import add_model_comparison_section

    report = mne.Report(title=title, verbose="error")
    report.add_html(html_table(_subject_rows(units, summary_paths), ("subject report", "summary")), title="Subjects", section="Subjects")
    if failed:
        rows = [
            (html.escape(unit), f'<span style="color:#a00">{html.escape(str(reason))}</span>', html.escape(str(log)))
            for unit, reason, log in failed
        ]
        intro = (
            "<p>These subjects are not on this page because a job failed. Fix the cause (see the log) "
            "and rerun, or leave the subject out with the config key 'subjects'.</p>"
        )
        report.add_html(intro + html_table(rows, ("subject", "error", "log")), title="Failed subjects", section="Subjects")
    rows = [(html.escape(str(p)), f'<span style="color:#a00">{html.escape(str(r))}</span>') for p, r in excluded]
    report.add_html(html_table(rows, ("input", "reason")) if rows else "<p>None.</p>", title="Excluded inputs", section="Subjects")
    if planned_out:
        rows = [
            (html.escape(group.replace("_", " ")), html.escape(stage), html.escape(reason))
            for group, stage, reason in planned_out
        ]
        intro = "<p>These stages cannot apply to these recordings, so they were not run (decided when the run was planned).</p>"
        report.add_html(intro + html_table(rows, ("recording", "stage", "reason")), title="Stages planned out", section="Subjects")
    for name, path in decoding:
        add_decoding_section(report, GroupDecodingResult.load(path), title=f"Group decoding {name}", section="Group decoding")
    for name, path in rsa:
        add_model_comparison_section(report, ModelComparisonResult.load(path), title=f"Group RSA {name}", section="Group RSA")
    if glm:
        from .glm import add_group_sections

        add_group_sections(report, glm)
    return report
