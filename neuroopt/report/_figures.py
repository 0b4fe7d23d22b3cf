"""Small helpers shared by the report sections."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")  # reports are built in batch jobs without a display

import matplotlib.pyplot as plt  # noqa: E402


def add_figure(report, fig, title, *, section=None, caption=None, tags=()):
    """Add a matplotlib figure to ``report`` and close it (reports may hold hundreds)."""
    report.add_figure(fig, title=title, section=section, caption=caption, tags=tuple(tags) or ("custom-figure",))
    plt.close(fig)


def legend_outside(ax, **kwargs):
    """Put the legend of ``ax`` to the right of the axes, where it covers no curve."""
    return ax.legend(loc="upper left", bbox_to_anchor=(1.01, 1.0), borderaxespad=0.0, fontsize="small", **kwargs)


def html_table(rows, header):
    """A plain HTML table from a list of row tuples."""
    head = "".join(f"<th>{h}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{c}</td>" for c in row) + "</tr>" for row in rows)
    return f'<table class="table table-sm table-striped"><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>'
