"""The group page (``reports/index.html``): every subject's key results with a link to its report,
the inputs left out and why, the configuration and software versions of the run, where the
subjects' strongest sparse sources are, and the group-level decoding, RSA and fMRI results."""

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


def _key_results_table(units, sections, warnings_by_unit):
    """One row per subject, one column per stage: its key numbers in a few words, its scores
    against the demo's truth, and its warnings (the subject page has them in full)."""
    from .summary import summarise_sections

    by_unit = {unit: summarise_sections(sections.get(unit, []), warnings_by_unit.get(unit, [])) for unit in units}
    columns = list(dict.fromkeys((row.modality, row.stage) for rows in by_unit.values() for row in rows if row.brief))
    body = []
    for unit in units:
        cells = [f'<a href="{html.escape(unit)}_report.html">{html.escape(unit)}</a>']
        for column in columns:
            lines = []
            for row in by_unit[unit]:
                if (row.modality, row.stage) == column and row.brief:
                    lines.append(html.escape(row.brief))
                    if row.brief_truth:
                        lines.append(f'<span style="color:#06c">truth: {html.escape(row.brief_truth)}</span>')
            cells.append("<br>".join(lines) or "—")
        warnings = [w for row in by_unit[unit] for w in row.warnings]
        cells.append(f'<span style="color:#a00">{len(warnings)}</span>' if warnings else "0")
        body.append(tuple(cells))
    header = ["subject"] + [f"{html.escape(m)} {html.escape(stage)}" for m, stage in columns] + ["warnings"]
    return (html_table(body, header) + "<p>Each subject's key numbers per stage; its page (the link) has them in full, "
            'with the warnings. <span style="color:#06c">Blue</span>: scores against the demo\'s ground truth.</p>')


def build_group_report(units, summary_paths, excluded, title="neuroopt", decoding=(), rsa=(), failed=(), glm=(), planned_out=(),
                       sections=None, warnings_by_unit=None, deriv_root=None, group_warnings=None):
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
    sections : dict | None
        unit -> its planned report sections (``Plan.report_sections``): the subjects table shows
        every stage's key numbers (:mod:`neuroopt.report.summary`) and the "Sparse sources"
        section the strongest source of each subject. None: the subjects table shows the epochs
        and voxels of ``summary_paths`` only.
    warnings_by_unit : dict | None
        unit -> the warnings of its jobs (:func:`neuroopt.pipeline.rule.collect_warnings`).
    deriv_root : path-like | None
        The derivatives folder: the configuration and software versions are read from its
        provenance records (:mod:`neuroopt.report.provenance`); None leaves them out.
    group_warnings : list of dict | None
        The warnings of the group-level and dataset-level jobs
        (:func:`neuroopt.pipeline.rule.collect_warnings` of ``"group"``); each subject's are on
        its page. None leaves the list out.

    Returns
    -------
    report : mne.Report
    """
    from ..decoding.group import GroupDecodingResult
    from ..rsa.inference import ModelComparisonResult
    from .decoding import add_decoding_section
    from .rsa import add_model_comparison_section

    report = mne.Report(title=title, verbose="error")
    if sections is not None:
        report.add_html(_key_results_table(units, sections, warnings_by_unit or {}), title="Key results", section="Subjects",
                        tags=("summary",))
    else:
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
    if group_warnings is not None:
        from .subject import add_warnings_section

        add_warnings_section(report, group_warnings, whose="the group-level jobs")
    if deriv_root is not None:
        from .provenance import add_provenance_sections

        add_provenance_sections(report, deriv_root)
    if sections:
        from .group_sources import add_group_sources_section

        add_group_sources_section(report, [(unit, s) for unit in units for s in sections.get(unit, []) if s["kind"] == "sparse"])
    for name, path in decoding:
        add_decoding_section(report, GroupDecodingResult.load(path), title=f"Group decoding {name}", section="Group decoding")
    for name, path in rsa:
        add_model_comparison_section(report, ModelComparisonResult.load(path), title=f"Group RSA {name}", section="Group RSA")
    if glm:
        from .glm import add_group_sections

        add_group_sections(report, glm)
    return report
