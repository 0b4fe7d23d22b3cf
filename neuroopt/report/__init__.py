"""HTML reports: per-subject ``mne.Report`` sections for every stage, and the group index page."""


def save_report(report, path):
    """Write an ``mne.Report`` to ``path`` under a temporary name, renamed when complete."""
    from ..utils import atomic_path

    with atomic_path(path, suffix=".html") as tmp:
        report.save(tmp, open_browser=False, overwrite=True, verbose="error")
    return path
