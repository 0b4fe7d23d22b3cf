"""HTML reports: per-subject ``mne.Report`` sections for every stage, and the group index page."""
