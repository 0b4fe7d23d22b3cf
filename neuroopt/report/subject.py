"""Assemble a subject's report from the sections each stage contributes.

A section is a dict ``{"kind": ..., "title": ..., <file paths>}`` planned by the workflow; each
kind has a builder here that loads its files and calls the stage's ``add_*_section`` function.
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
def _meeg(report, section):
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
    )


@section_builder("fmri")
def _fmri(report, section):
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
    add_fmri_preprocessing_section(report, title=section["title"], mask_img=nib.load(section["mask"]), runs=runs)


def _load_truth(info):
    if not info:
        return None
    from ..datasets import load_demo_truth

    return load_demo_truth(info["root"], info["subject"])


@section_builder("r1glm")
def _r1glm(report, section):
    import joblib

    from ..fmri.maps import R1GLMImages
    from .hrf import add_hrf_section

    result = R1GLMImages.from_estimator(**joblib.load(section["model"]))
    add_hrf_section(report, result, truth=_load_truth(section["truth"]), section=f"HRF (R1-GLM) — {section['title']}")


@section_builder("glm")
def _glm(report, section):
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
                                 events=read_events(section["events"][0]), t_r=t_r, n_scans=n_scans, space=section["space"])


@section_builder("sparse")
def _sparse(report, section):
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
                title=f"Sparse sources ({estimator}) — {condition} — {section['title']}",
            )


@section_builder("forward")
def _forward(report, section):
    from .forward import add_forward_section

    with open(section["summary"]) as fid:
        summary = json.load(fid)
    forward = mne.read_forward_solution(section["forward"], verbose="error")
    add_forward_section(report, forward=forward, summary=summary, trans=section.get("trans"), title=section["title"])


@section_builder("meeg_decoding")
def _meeg_decoding(report, section):
    from ..decoding.temporal import TemporalDecodingResult
    from .decoding import add_decoding_section

    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TemporalDecodingResult.load(path)
        add_decoding_section(report, result, title=f"Decoding {contrast} — {section['title']}", section=f"Decoding — {section['title']}")


@section_builder("func_decoding")
def _func_decoding(report, section):
    from ..decoding.trials import TrialDecodingResult
    from ._figures import html_table

    rows = []
    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TrialDecodingResult.load(path)
        folds = ", ".join(f"{s:.2f}" for s in result.scores)
        rows.append((contrast, " vs ".join(map(str, result.classes)), result.scoring, f"{result.mean_scores:.3f}", f"{result.chance:.3f}", folds))
    report.add_html(
        html_table(rows, ("contrast", "classes", "score", "mean", "chance", "per run (leave-one-run-out)")),
        title=f"fMRI decoding of R1-GLMS trial betas — {section['title']}",
        section=f"Decoding — {section['title']}",
        tags=("decoding", "fmri"),
    )


@section_builder("rsa")
def _rsa(report, section):
    from ..rsa.rdm import RDMStack
    from .rsa import add_rsa_section

    stack = RDMStack.load(section["rdm"])
    add_rsa_section(report, stack, title=f"RSA — {section['title']}", section=f"RSA — {section['title']}")


def add_warnings_section(report, warnings):
    """List the Python and MNE warnings raised in the subject's jobs (``collect_warnings`` rows)."""
    import html

    from ._figures import html_table

    if not warnings:
        body = "<p>No Python or MNE warning was raised in this subject's jobs.</p>"
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
        listed first; None leaves the list out.

    Returns
    -------
    report : mne.Report
    """
    report = mne.Report(title=f"neuroopt — {unit}", verbose="error")
    if warnings is not None:
        add_warnings_section(report, warnings)
    for section in sections:
        kind = section["kind"]
        if kind not in SECTION_BUILDERS:
            raise KeyError(f"No report builder for section kind {kind!r}; known: {sorted(SECTION_BUILDERS)}.")
        SECTION_BUILDERS[kind](report, section)
    return report
