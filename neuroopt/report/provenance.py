"""The configuration and software versions the results were computed with, for the group page.

Both come from the ``*.provenance.json`` record that every job writes beside its outputs
(:func:`neuroopt.pipeline.rule.write_job_provenance`): each rule's config keys
(:data:`neuroopt.pipeline.params.RULE_CONFIG`) and the versions of the tools that ran it. They
describe the results on the page, including those a later run with another config did not
recompute (the page is not rebuilt when only an unused option changes).
"""

from __future__ import annotations

import html
import json
from collections import defaultdict
from pathlib import Path

from ._figures import html_table

# the packages the group page lists first, in this order (the others follow, sorted)
MAIN_PACKAGES = ("neuroopt", "mne", "mne-bids", "nilearn", "snakemake", "numpy", "scipy", "scikit-learn", "numba", "nibabel", "python")


def read_job_records(deriv_root):
    """One provenance record per job under ``deriv_root`` (outputs of a job share it).

    Parameters
    ----------
    deriv_root : path-like
        The derivatives folder (``<bids_root>/derivatives/neuroopt``).

    Returns
    -------
    records : list of dict
        The records, sorted by rule and outputs; unreadable files are skipped.
    """
    records = {}
    for path in sorted(Path(deriv_root).rglob("*.provenance.json")):
        try:
            record = json.loads(path.read_text())
        except (OSError, json.JSONDecodeError):
            continue
        key = (record.get("rule"), tuple(record.get("outputs") or [path.name]), str(path.parent))
        records.setdefault(key, record)
    return [records[k] for k in sorted(records, key=lambda k: (str(k[0]), k[1], k[2]))]


def _merge(target, value, path, conflicts):
    for key, item in value.items():
        where = f"{path}.{key}" if path else key
        if isinstance(item, dict) and isinstance(target.get(key), dict):
            _merge(target[key], item, where, conflicts)
        elif key in target and target[key] != item:
            conflicts.setdefault(where, [target[key]])
            if item not in conflicts[where]:
                conflicts[where].append(item)
        else:
            target.setdefault(key, item)


def run_configuration(records):
    """The config keys the jobs used, merged into one config, and the keys that differ between jobs.

    Parameters
    ----------
    records : list of dict
        Job provenance records (:func:`read_job_records`).

    Returns
    -------
    config : dict
        ``{section: {key: value}}`` as in the config file, with the ``seed``; only the keys some
        job used.
    conflicts : dict
        Dotted key -> the different values jobs recorded (a run resumed with another config).
    """
    from ..pipeline.params import RULE_CONFIG

    config, conflicts = {}, {}
    for record in records:
        rule, params = record.get("rule"), record.get("params") or {}
        if rule not in RULE_CONFIG or "cfg" not in params:
            continue
        sections = {p.split(".")[0] for p in RULE_CONFIG[rule] if p != "seed"}
        if len(sections) == 1:
            _merge(config.setdefault(sections.pop(), {}), params["cfg"], "", conflicts)
        if params.get("seed") is not None:
            _merge(config, {"seed": params["seed"]}, "", conflicts)
    return config, conflicts


def software_versions(records):
    """Package -> version -> number of jobs that ran with it.

    Parameters
    ----------
    records : list of dict
        Job provenance records (:func:`read_job_records`).

    Returns
    -------
    versions : dict
    """
    versions = defaultdict(lambda: defaultdict(int))
    for record in records:
        for package, version in (record.get("versions") or {}).items():
            versions[package][str(version)] += 1
    return {package: dict(counts) for package, counts in versions.items()}


def add_provenance_sections(report, deriv_root, *, section="Configuration and software"):
    """Add the run's configuration (collapsed) and the software versions to the group page.

    Parameters
    ----------
    report : mne.Report
        The group report.
    deriv_root : path-like
        The derivatives folder whose provenance records are read.
    section : str
        Report section of both entries.

    Returns
    -------
    report : mne.Report
    """
    import yaml

    from .. import __version__

    records = read_job_records(deriv_root)
    config, conflicts = run_configuration(records)
    text = yaml.safe_dump(config, sort_keys=True, default_flow_style=None) if config else "(no job record found)\n"
    note = ""
    if conflicts:
        items = "".join(f"<li>{html.escape(k)}: {html.escape(', '.join(map(str, v)))}</li>" for k, v in sorted(conflicts.items()))
        note = ('<p style="color:#a00">These keys had different values in different jobs (a run resumed with '
                f"another config: rerun the jobs concerned):</p><ul>{items}</ul>")
    report.add_html(
        f"<p>The config keys used by the {len(records)} jobs whose results are on these pages, as each job "
        "recorded them in its outputs' <code>.provenance.json</code>.</p>" + note
        + f"<details><summary>Show the configuration</summary><pre>{html.escape(text)}</pre></details>",
        title="Configuration", section=section, tags=("provenance",),
    )
    versions = software_versions(records)
    order = [p for p in MAIN_PACKAGES if p in versions] + sorted(set(versions) - set(MAIN_PACKAGES))
    rows = []
    for package in order:
        counts = versions[package]
        if len(counts) == 1:
            rows.append((html.escape(package), html.escape(next(iter(counts)))))
        else:
            text = "; ".join(f"{v} ({n} jobs)" for v, n in sorted(counts.items()))
            rows.append((html.escape(package), f'<span style="color:#a00">{html.escape(text)}</span>'))
    if "snakemake" not in versions:
        from importlib.metadata import PackageNotFoundError, version

        try:
            rows.append(("snakemake", f"{html.escape(version('snakemake'))} (this page's job)"))
        except PackageNotFoundError:
            pass
    if not rows:
        rows.append(("neuroopt", f"{html.escape(__version__)} (this page's job; no job record found)"))
    report.add_html(
        html_table(rows, ("package", "version"))
        + "<p>As recorded by the jobs; a package with several versions ran different jobs with different versions.</p>",
        title="Software versions", section=section, tags=("provenance",),
    )
    return report
