"""The group index page: one line per subject with its report link and key numbers, plus what was
left out of the analysis and why."""

from __future__ import annotations

import html
import json
from pathlib import Path

from ..utils import atomic_write_text

_STYLE = """
body{font-family:system-ui,sans-serif;margin:2em;max-width:1100px}
table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:4px 10px;text-align:left}
th{background:#f0f0f0}.bad{color:#a00}
"""


def write_group_index(path, units, summary_paths, excluded, title="neuroopt"):
    """Write the group ``index.html``.

    Parameters
    ----------
    path : path-like
        The HTML file (written atomically).
    units : list of str
        Subject (or subject_session) labels; each links to ``<unit>_report.html`` beside ``path``.
    summary_paths : list of path-like
        JSON summaries of the subject-level steps (epochs summaries carry ``n_epochs``); their file
        name starts with the unit label.
    excluded : list of (path, reason)
        Inputs left out while planning, with the reason.
    """
    path = Path(path)
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
    rows = "".join(
        f'<tr><td><a href="{html.escape(unit)}_report.html">{html.escape(unit)}</a></td>'
        f"<td>{html.escape('; '.join(by_unit[unit]) or '—')}</td></tr>"
        for unit in units
    )
    excl = "".join(
        f'<tr><td>{html.escape(str(p))}</td><td class="bad">{html.escape(str(reason))}</td></tr>' for p, reason in excluded
    )
    body = (
        f"<h1>{html.escape(title)}</h1><h2>Subjects</h2>"
        f"<table><tr><th>report</th><th>summary</th></tr>{rows}</table>"
        "<h2>Excluded inputs</h2>"
        + (f"<table><tr><th>input</th><th>reason</th></tr>{excl}</table>" if excl else "<p>None.</p>")
    )
    page = f"<!DOCTYPE html><html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>{body}</body></html>\n"
    atomic_write_text(path, page)
    return path
