"""Assemble a subject's report from the sections each stage contributes.

A section is a dict ``{"kind": ..., "title": ..., <file paths>}`` planned by the workflow; each
kind has a builder here that loads its files and calls the stage's ``add_*_section`` function.
The page opens with a summary table (every stage's key numbers and warnings,
:mod:`neuroopt.report.summary`) and the warnings; then one report section per stage and
recording ("M/EEG · Preprocessing — task-demo", "fMRI · HRF (R1-GLM) — task-demo") holds the
stage's entries, so the table of contents (MNE's: one line per section) lists every stage.
"""

from __future__ import annotations

import json
from pathlib import Path

import mne

SECTION_BUILDERS = {}


def section_builder(kind):
    """Register the function that turns a planned section of ``kind`` into report content."""

    def register(function):
        SECTION_BUILDERS[kind] = function
        return function

    return register


@section_builder("meeg")
def _meeg(report, section, target):
    from ..meeg.preprocessing import read_raw
    from .meeg import add_meeg_preprocessing_section

    icas = [mne.preprocessing.read_ica(p, verbose="error") if p else None for p in section["icas"]]
    with open(section["epochs_summary"]) as fid:
        epochs_summary = json.load(fid)
    add_meeg_preprocessing_section(
        report,
        title=section["title"],
        raws_before=[read_raw(p) for p in section["raws_before"]],
        raws_clean=[mne.io.read_raw_fif(p, verbose="error") for p in section["raws_clean"]],
        run_labels=section["run_labels"],
        summaries=[json.loads(Path(p).read_text()) for p in section["summaries"]],
        icas=icas,
        evokeds=mne.read_evokeds(section["evoked"], verbose="error"),
        cov=mne.read_cov(section["cov"], verbose="error"),
        epochs_summary=epochs_summary,
        section=target,
    )


@section_builder("fmri")
def _fmri(report, section, target):
    import nibabel as nib

    from ..fmri.preprocessing import load_bold
    from ..io.bids import read_events
    from .fmri import add_fmri_preprocessing_section

    runs = []
    for label, raw, clean, events, sidecar in zip(
        section["run_labels"], section["bolds_raw"], section["bolds_clean"], section["events"], section["sidecars"]
    ):
        with open(sidecar) as fid:
            t_r = json.load(fid)["RepetitionTime"]
        runs.append(
            {"label": label, "raw_img": load_bold(raw), "clean_img": nib.load(clean), "events": read_events(events), "t_r": t_r}
        )
    add_fmri_preprocessing_section(report, title=section["title"], mask_img=nib.load(section["mask"]), runs=runs, section=target)


def _load_truth(info):
    if not info:
        return None
    from ..datasets import load_demo_truth

    return load_demo_truth(info["root"], info["subject"])


@section_builder("r1glm")
def _r1glm(report, section, target):
    import joblib

    from ..fmri.maps import R1GLMImages
    from .hrf import add_hrf_section

    result = R1GLMImages.from_estimator(**joblib.load(section["model"]))
    add_hrf_section(report, result, truth=_load_truth(section["truth"]), section=target)


@section_builder("glm")
def _glm(report, section, target):
    import nibabel as nib

    from ..io.bids import read_events
    from ..stats.thresholding import read_cluster_table
    from .glm import add_subject_contrast_section

    maps, contrasts = {}, {}
    for i, name in enumerate(section["contrasts"]):
        with open(section["z"][i].replace(".nii.gz", ".json")) as fid:
            info = json.load(fid)["Contrast"]
        contrasts[name] = info["Weights"]
        table, threshold = read_cluster_table(section["clusters"][i])
        maps[name] = {"z": nib.load(section["z"][i]), "table": table, "threshold": threshold, "conditions": info["Conditions"]}
        if "canonical_z" in section:
            table, threshold = read_cluster_table(section["canonical_clusters"][i])
            maps[name]["canonical"] = {"z": nib.load(section["canonical_z"][i]), "table": table, "threshold": threshold}
    with open(section["sidecars"][0]) as fid:
        t_r = json.load(fid)["RepetitionTime"]
    n_scans = nib.load(section["bolds"][0]).shape[-1]
    add_subject_contrast_section(report, title=section["title"], contrasts=contrasts, maps=maps,
                                 events=read_events(section["events"][0]), t_r=t_r, n_scans=n_scans, space=section["space"],
                                 section=target)


@section_builder("sparse")
def _sparse(report, section, target):
    from ..meeg.sources_io import read_source_estimates
    from .sources import add_sources_section

    forward = mne.read_forward_solution(section["forward"], verbose="error")
    with open(section["summary"]) as fid:
        summary = json.load(fid)
    truth = _load_truth(section["truth"])
    for estimator, rows in summary["estimators"].items():
        estimates = read_source_estimates(section[estimator])
        for condition, estimate in estimates.items():
            add_sources_section(
                report,
                estimate["stc"],
                forward["src"],
                noise_levels=estimate["noise_levels"],
                truth=truth["eeg"]["sources"] if truth is not None else None,
                scores=rows[condition].get("truth_scores"),
                fit=rows[condition] if "warnings" in rows[condition] else None,
                criterion_path=rows[condition].get("criterion_path"),
                title=f"Sparse sources ({estimator}) — {condition}",
                section=target,
            )


@section_builder("forward")
def _forward(report, section, target):
    from .forward import add_forward_section

    with open(section["summary"]) as fid:
        summary = json.load(fid)
    forward = mne.read_forward_solution(section["forward"], verbose="error")
    add_forward_section(report, forward=forward, summary=summary, trans=section.get("trans"), title=section["title"],
                        section=target)


@section_builder("meeg_decoding")
def _meeg_decoding(report, section, target):
    from ..decoding.temporal import TemporalDecodingResult
    from .decoding import add_decoding_section

    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TemporalDecodingResult.load(path)
        add_decoding_section(report, result, title=f"Decoding {contrast}", section=target, tags=("meeg", "decoding"))


@section_builder("func_decoding")
def _func_decoding(report, section, target):
    from ..decoding.trials import TrialDecodingResult
    from ._figures import html_table

    rows = []
    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TrialDecodingResult.load(path)
        folds = ", ".join(f"{s:.2f}" for s in result.scores)
        rows.append((contrast, " vs ".join(map(str, result.classes)), result.scoring, f"{result.mean_scores:.3f}", f"{result.chance:.3f}", folds))
    report.add_html(
        html_table(rows, ("contrast", "classes", "score", "mean", "chance", "per run (leave-one-run-out)")),
        title="fMRI decoding of R1-GLMS trial betas",
        section=target,
        tags=("decoding", "fmri"),
    )


@section_builder("rsa")
def _rsa(report, section, target):
    from ..rsa.rdm import RDMStack
    from .rsa import add_rsa_section

    stack = RDMStack.load(section["rdm"])
    add_rsa_section(report, stack, title="RSA", section=target)


def add_warnings_section(report, warnings, whose="this subject's jobs"):
    """List the Python and MNE warnings raised in a page's jobs.

    Parameters
    ----------
    report : mne.Report
        The page.
    warnings : list of dict
        :func:`neuroopt.pipeline.rule.collect_warnings` rows.
    whose : str
        The jobs listed, as the page's text names them ("the group-level jobs"...).
    """
    import html

    from ._figures import html_table

    if not warnings:
        body = f"<p>No Python or MNE warning was raised in {html.escape(whose)}.</p>"
    else:
        rows = [(w["rule"], w["job"], f"{w['category']}: {w['message']}", w["count"], w["log"]) for w in warnings]
        body = html_table(rows, ("rule", "job", "warning", "times", "log")) + (
            f"<p>{len(warnings)} distinct warning(s); each job's log has them in context. "
            f"{html.escape('A warning is not an error: check the stage it names.')}</p>"
        )
    report.add_html(body, title="Warnings", section="Warnings", tags=("warnings",))


def build_subject_report(unit, sections, warnings=None):
    """Return the ``mne.Report`` of one subject.

    Parameters
    ----------
    unit : str
        ``sub-01`` or ``sub-01_ses-01``.
    sections : list of dict
        The planned sections (``Plan.report_sections``), each ``{"kind": ..., "title": ..., <files>}``.
    warnings : list of dict | None
        Warnings raised in the subject's jobs (:func:`neuroopt.pipeline.rule.collect_warnings`),
        counted per stage in the summary and listed after it; None leaves the list out.

    Returns
    -------
    report : mne.Report
    """
    from .summary import section_title, summarise_sections, summary_table_html

    unknown = sorted({s["kind"] for s in sections} - set(SECTION_BUILDERS))
    if unknown:
        raise KeyError(f"No report builder for section kind(s) {unknown}; known: {sorted(SECTION_BUILDERS)}.")
    report = mne.Report(title=f"neuroopt — {unit}", verbose="error")
    rows = summarise_sections(sections, warnings or [])
    content = getattr(report, "_content", None)  # MNE's list of entries: its dom ids let the summary link to them
    starts = []
    for section in sections:
        starts.append(len(content) if content is not None else 0)
        SECTION_BUILDERS[section["kind"]](report, section, section_title(section, unit))
    n_entries = len(content) if content is not None else None
    links = None
    if content is not None:
        ends = starts[1:] + [n_entries]
        links = []
        for row in rows:
            added = content[starts[row.source]:ends[row.source]] if starts else []
            first = next((e for e in added if row.stage in e.name), added[0] if added else None)
            links.append(getattr(first, "dom_id", None))
    report.add_html(
        summary_table_html(rows, links) + "<p>Every stage that ran for this subject, with its key numbers (a stage's name "
        "links to its first figure); the sections below hold the figures, one per modality and recording.</p>",
        title="Summary", tags=("summary",),
    )
    if warnings is not None:
        add_warnings_section(report, warnings)
    if n_entries is not None:  # the summary and the warnings first
        report.reorder(list(range(n_entries, len(content))) + list(range(n_entries)))
    return report
