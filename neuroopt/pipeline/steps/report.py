"""Steps of ``workflows/report.smk``: the subject pages and the group page."""

from __future__ import annotations

from pathlib import Path

from ...io.derivatives import write_dataset_description


def subject_report(input, output, params, threads):
    """Per-subject HTML report: every stage's section for this subject (or subject/session)."""
    from ...report import save_report
    from ...report.subject import build_subject_report
    from ..rule import collect_warnings

    logs = getattr(params, "logs", None)
    warnings = collect_warnings(logs, params.unit) if logs else None
    save_report(build_subject_report(params.unit, params.sections, warnings=warnings), output.html)


def subject_sessions(input, output, params, threads):
    """A subject's ``sub-<label>_sessions.tsv`` (BIDS): one row per session, with its runs and report."""
    from ...io.derivatives import write_sessions_table

    write_sessions_table(output.table, params.rows)


def group_report(input, output, params, threads):
    """Group page: subjects' key results, excluded inputs, configuration and versions, sparse
    sources, group decoding, RSA and fMRI maps."""
    from ...report import save_report
    from ...report.group import build_group_report
    from ..rule import GROUP, collect_warnings

    write_dataset_description(Path(output.description).parent, source_name=params.dataset_name)
    logs = getattr(params, "logs", None)
    report = build_group_report(
        params.units, list(input.summaries), params.excluded, params.title, decoding=params.decoding, rsa=params.rsa,
        glm=params.glm,
        planned_out=getattr(params, "planned_out", ()),
        sections=_report_sections(params.units, input.reports),
        warnings_by_unit={unit: collect_warnings(logs, unit) for unit in params.units} if logs else None,
        deriv_root=Path(output.description).parent,
        group_warnings=collect_warnings(logs, GROUP) if logs else None,
    )
    save_report(report, output.html)


def _report_sections(units, reports):
    """unit -> the planned sections of its page, as its subject_report job recorded them in the
    page's provenance (the group job gets no copy of every unit's sections as params: at 1000
    subjects that would be a copy of all their paths in its params and provenance)."""
    import json

    from ...io.derivatives import provenance_path

    sections = {}
    for unit, report in zip(units, reports):
        with open(provenance_path(report)) as fid:
            sections[unit] = json.load(fid)["params"]["sections"]
    return sections
