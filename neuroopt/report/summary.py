"""Key numbers of every stage of a subject, read from the files the workflow wrote.

The subject page opens with them (one table: stage, key numbers, warnings) and the group page
puts each subject's on one row. Each planned report section (``Plan.report_sections``: a dict
``{"kind": ..., "title": ..., <file paths>}``) has a summariser here that reads only its small
result files (JSON summaries, cluster tables, decoding and RDM ``.npz``), never the data.
"""

from __future__ import annotations

import html
import json
import re
from dataclasses import dataclass, field

import numpy as np

from ._figures import html_table

MEEG, FMRI = "M/EEG", "fMRI"

# the modality of each planned section kind ("rsa" depends on its family)
MODALITY = {"meeg": MEEG, "forward": MEEG, "sparse": MEEG, "meeg_decoding": MEEG,
            "fmri": FMRI, "r1glm": FMRI, "glm": FMRI, "func_decoding": FMRI}

# the rules whose job warnings belong to each (modality, kind)
RULES = {(MEEG, "meeg"): ("meeg_preprocess", "meeg_epochs"), (MEEG, "forward"): ("meeg_forward",),
         (MEEG, "sparse"): ("meeg_sparse",), (MEEG, "meeg_decoding"): ("meeg_decoding",),
         (MEEG, "rsa"): ("meeg_rsa",), (FMRI, "fmri"): ("fmri_mask", "fmri_clean"),
         (FMRI, "r1glm"): ("fmri_r1glm",), (FMRI, "glm"): ("fmri_glm_contrast",),
         (FMRI, "func_decoding"): ("fmri_decoding",), (FMRI, "rsa"): ("fmri_rsa",)}

# what a reader calls the stage of each planned section kind (the sparse rows add their estimator)
STAGES = {"meeg": "Preprocessing", "forward": "Forward model", "sparse": "Sparse sources", "meeg_decoding": "Decoding over time",
          "rsa": "RSA", "fmri": "Preprocessing", "r1glm": "HRF (R1-GLM)", "glm": "Contrasts (R1-GLM)",
          "func_decoding": "Decoding of trial betas"}

_SCORING = {"roc_auc": "ROC AUC", "balanced_accuracy": "balanced accuracy", "accuracy": "accuracy"}


@dataclass
class StageSummary:
    """Key numbers of one stage of one recording group.

    Attributes
    ----------
    modality : str
        ``"M/EEG"`` or ``"fMRI"``.
    kind : str
        The planned section kind (``"meeg"``, ``"sparse"``, ``"r1glm"``...).
    stage : str
        What a reader calls the stage ("Preprocessing", "Sparse sources (mtl)"...).
    group : str
        The recording group (``sub-01_task-demo``), as the plan names it.
    numbers : list of (str, str)
        Label and formatted value (with units) of each key number.
    truth : list of (str, str)
        Scores against the demo's ground truth (empty outside the demo).
    warnings : list of str
        Problems of the stage's results (an empty sparse estimate...) and the count of
        Python/MNE warnings its jobs raised.
    source : int
        Index of the planned section it summarises (set by :func:`summarise_sections`).
    brief : str
        The key numbers in a few words, for the group page's table ("" leaves the stage out).
    brief_truth : str
        The truth scores in a few words ("" outside the demo).
    """

    modality: str
    kind: str
    stage: str
    group: str
    numbers: list = field(default_factory=list)
    truth: list = field(default_factory=list)
    warnings: list = field(default_factory=list)
    source: int = 0
    brief: str = ""
    brief_truth: str = ""


def section_modality(section):
    """The modality and recording group of a planned report section.

    Parameters
    ----------
    section : dict
        A planned section (``Plan.report_sections``).

    Returns
    -------
    modality : "M/EEG" | "fMRI"
    group : str
        ``sub-01_task-demo`` (an RSA section's title without its family).
    """
    if section["kind"] == "rsa":  # titled "<group> (meeg)" or "<group> (func)"
        group, family = re.fullmatch(r"(.*) \((\w+)\)", section["title"]).groups()
        return (MEEG if family == "meeg" else FMRI), group
    return MODALITY[section["kind"]], section["title"]


def section_title(section, unit):
    """The subject page's section of a planned section: modality, stage and recording.

    Parameters
    ----------
    section : dict
        A planned section (``Plan.report_sections``).
    unit : str
        The page's subject (or subject_session), left out of the recording's name.

    Returns
    -------
    title : str
        ``"M/EEG · Sparse sources — task-demo"``; one entry of the page's table of contents.
    """
    modality, group = section_modality(section)
    recording = group[len(unit):].lstrip("_") if group.startswith(unit) else group
    title = f"{modality} · {STAGES[section['kind']]}"
    return f"{title} — {recording}" if recording else title


def _load_json(path):
    with open(path) as fid:
        return json.load(fid)


def _ica_text(summary):
    if summary.get("ica_n_components") is None:
        return None
    names = ", ".join(f"ICA{int(i):03d}" for i in summary["ica_excluded"]) or "none"
    return f"{names} of {summary['ica_n_components']}"


def _span(values, fmt):
    """``"8-14"`` (or ``"14"``) from numbers, formatted with ``fmt``."""
    low, high = fmt.format(min(values)), fmt.format(max(values))
    return low if low == high else f"{low}-{high}"


def _run_bads(summary):
    """A run's bad channels: detected flat or noisy, and marked bad in the BIDS ``channels.tsv``."""
    found = summary["detected_bads"].get("flat", []) + summary["detected_bads"].get("noisy", [])
    return sorted(set(found) | set(summary.get("bids_bads", [])))


def _summarise_meeg(section):
    runs = [label.rsplit("_run-", 1)[-1] for label in section["run_labels"]]
    summaries = [_load_json(p) for p in section["summaries"]]
    bads, icas, notes = [], [], []
    for run, summary in zip(runs, summaries):
        found = _run_bads(summary)
        if found:
            bads.append(f"run {run}: {', '.join(found)}")
        ica = _ica_text(summary)
        if ica is not None:
            icas.append(f"run {run}: {ica}")
        if summary.get("artifact_note"):
            notes.append(f"run {run}: {summary['artifact_note']}")
    epochs = _load_json(section["epochs_summary"])
    numbers = [("runs", str(len(runs))), ("bad channels", "; ".join(bads) or "none")]
    if icas:
        numbers.append(("ICA components excluded", "; ".join(icas)))
    else:
        numbers.append(("artifacts", summaries[0]["artifact_method"] if summaries else "—"))
    numbers.append(("epochs kept", f"{epochs['n_epochs']} ({epochs['n_dropped']} rejected)"))
    all_bads = sorted({b for s in summaries for b in _run_bads(s)})
    brief = f"{epochs['n_epochs']} epochs ({epochs['n_dropped']} rejected); bad channels: {', '.join(all_bads) or 'none'}"
    if icas:
        brief += "; ICA components excluded: " + " + ".join(str(len(s["ica_excluded"])) for s in summaries)
    return [StageSummary(MEEG, "meeg", STAGES["meeg"], section["title"], numbers, warnings=notes, brief=brief)]


def _summarise_forward(section):
    summary = _load_json(section["summary"])
    numbers = [("model", str(summary.get("forward"))), ("sources", f"{summary.get('n_sources', '?')} ({summary.get('source_space', '?')})"),
               ("channels", str(summary.get("n_channels", "?")))]
    return [StageSummary(MEEG, "forward", STAGES["forward"], section["title"], numbers)]


def _summarise_sparse(section):
    summary = _load_json(section["summary"])
    out = []
    for estimator, rows in summary["estimators"].items():
        numbers, truth, warnings, errors_mm, found = [], [], [], [], [0, 0]
        for condition, row in rows.items():
            # the plain convex fit ("none") needs no word; a post-selection (the default relocate) does
            selection = f" (selection: {row['selection']})" if row.get("selection", "none") != "none" else ""
            numbers.append((condition, f"{row['n_sources']} active sources, alpha = {row['alpha_fraction']:.2f} alpha_max{selection}, "
                                       f"{100 * row['explained_variance']:.0f} % explained"))
            scores = row.get("truth_scores")
            if scores:
                errors = ", ".join(f"{1e3 * e:.0f}" for e in scores["localization_error_m"].values())
                errors_mm += [1e3 * e for e in scores["localization_error_m"].values()]
                found = [found[0] + scores["n_detected"], found[1] + scores["n_true"]]
                truth.append((condition, f"{scores['n_detected']}/{scores['n_true']} true sources found "
                                         f"(localisation errors {errors} mm), {scores['n_spurious']} spurious"))
            warnings += [f"{condition}: {w}" for w in row.get("warnings") or []]
        n_sources = [row["n_sources"] for row in rows.values()]
        fractions = [row["alpha_fraction"] for row in rows.values()]
        explained = [100 * row["explained_variance"] for row in rows.values()]
        brief = (f"{_span(n_sources, '{:d}')} active sources, alpha {_span(fractions, '{:.2f}')} alpha_max, "
                 f"{_span(explained, '{:.0f}')} % explained ({len(rows)} conditions)")
        brief_truth = (f"{found[0]}/{found[1]} true sources found, median localisation error {np.median(errors_mm):.0f} mm"
                       if errors_mm else "")
        out.append(StageSummary(MEEG, "sparse", f"{STAGES['sparse']} ({estimator})", section["title"], numbers, truth, warnings,
                                brief=brief, brief_truth=brief_truth))
    return out


def _summarise_meeg_decoding(section):
    from ..decoding.temporal import TemporalDecodingResult

    numbers, brief = [], []
    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TemporalDecodingResult.load(path)
        curve = result.mean_scores if result.mean_scores.ndim == 1 else np.diag(result.mean_scores)
        peak = int(np.argmax(curve))
        scoring = _SCORING.get(result.scoring, result.scoring)
        numbers.append((contrast, f"peak {scoring} {curve[peak]:.2f} at {result.times[peak]:.2f} s (chance {result.chance:.2f})"))
        brief.append(f"{contrast} {curve[peak]:.2f} at {result.times[peak]:.2f} s")
    brief = f"peak {scoring}: " + "; ".join(brief) if brief else ""
    return [StageSummary(MEEG, "meeg_decoding", STAGES["meeg_decoding"], section["title"], numbers, brief=brief)]


def _summarise_rsa(section):
    from ..rsa.rdm import RDMStack

    modality, group = section_modality(section)
    stack = RDMStack.load(section["rdm"])
    axis = f"{len(stack.axis)} time points" if stack.axis_name == "time" else f"{stack.axis_name}: {', '.join(map(str, stack.axis))}"
    numbers = [("RDMs", f"{stack.n_conditions} conditions, {stack.method} (noise: {stack.noise}), {axis}")]
    return [StageSummary(modality, "rsa", STAGES["rsa"], group, numbers)]


def _summarise_fmri(section):
    import nibabel as nib

    n_voxels = int(np.count_nonzero(np.asarray(nib.load(section["mask"]).dataobj)))
    t_r = _load_json(section["sidecars"][0])["RepetitionTime"]
    numbers = [("runs", str(len(section["run_labels"]))), ("brain mask", f"{n_voxels} voxels"), ("TR", f"{t_r:g} s")]
    return [StageSummary(FMRI, "fmri", STAGES["fmri"], section["title"], numbers, brief=f"{n_voxels} voxels in the brain mask")]


def _summarise_r1glm(section):
    summary = _load_json(section["summary"])
    numbers = [("median HRF peak", f"{summary['median_hrf_peak_s']:.1f} s"),
               ("median R² gain over canonical", f"{summary['median_r2_gain']:.3f}"),
               ("voxels", str(summary["n_voxels"]))]
    truth, brief_truth = [], ""
    scores = summary.get("truth_scores")
    if scores:
        truth = [("HRF shape r", f"{scores['hrf_r']:.2f}"), ("time-to-peak error", f"{scores['ttp_error']:.2f} s"),
                 ("beta r (active voxels)", f"{scores['beta_r_active']:.2f}")]
        brief_truth = ", ".join(f"{label} {value}" for label, value in truth)
    return [StageSummary(FMRI, "r1glm", STAGES["r1glm"], section["title"], numbers, truth,
                         brief=f"median HRF peak {summary['median_hrf_peak_s']:.1f} s", brief_truth=brief_truth)]


def _summarise_glm(section):
    from ..stats.thresholding import read_cluster_table

    numbers, brief = [], []
    for name, path in zip(section["contrasts"], section["clusters"]):
        table, threshold = read_cluster_table(path)
        if table.empty:
            numbers.append((name, f"no cluster at {threshold.describe()}"))
            brief.append(f"{name} 0")
            continue
        n_clusters = int(table["Cluster ID"].astype(str).str.fullmatch(r"\d+").sum())
        peak = table.loc[table["Peak Stat"].abs().idxmax()]
        numbers.append((name, f"{n_clusters} cluster(s), peak z {peak['Peak Stat']:.1f} at ({peak['X']:.0f}, {peak['Y']:.0f}, "
                              f"{peak['Z']:.0f}) mm; {threshold.describe()}"))
        brief.append(f"{name} {n_clusters} (z {peak['Peak Stat']:.1f})")
    return [StageSummary(FMRI, "glm", STAGES["glm"], section["title"], numbers,
                         brief="clusters (peak z): " + ", ".join(brief))]


def _summarise_func_decoding(section):
    from ..decoding.trials import TrialDecodingResult

    numbers, brief = [], []
    for contrast, path in zip(section["contrasts"], section["results"]):
        result = TrialDecodingResult.load(path)
        numbers.append((contrast, f"{_SCORING.get(result.scoring, result.scoring)} {result.mean_scores:.2f} "
                                  f"(chance {result.chance:.2f}, {len(result.scores)} folds)"))
        brief.append(f"{contrast} {result.mean_scores:.2f} (chance {result.chance:.2f})")
    return [StageSummary(FMRI, "func_decoding", STAGES["func_decoding"], section["title"], numbers, brief="; ".join(brief))]


SUMMARISERS = {"meeg": _summarise_meeg, "forward": _summarise_forward, "sparse": _summarise_sparse,
               "meeg_decoding": _summarise_meeg_decoding, "rsa": _summarise_rsa, "fmri": _summarise_fmri,
               "r1glm": _summarise_r1glm, "glm": _summarise_glm, "func_decoding": _summarise_func_decoding}


def _group_entities(group):
    """``task-x``, ``acq-y``... of a group name (the subject and session are the unit's)."""
    return [e for e in re.findall(r"(?:^|_)([a-z]+-[A-Za-z0-9]+)", group) if not e.startswith(("sub-", "ses-"))]


def summarise_sections(sections, warnings=()):
    """The key numbers of every planned section of a subject, in the order of the sections.

    Parameters
    ----------
    sections : list of dict
        The subject's planned report sections (``Plan.report_sections``).
    warnings : list of dict
        The warnings its jobs raised (:func:`neuroopt.pipeline.rule.collect_warnings`); each is
        counted on the row of the stage whose rule raised it.

    Returns
    -------
    list of StageSummary
    """
    out = []
    for index, section in enumerate(sections):
        summariser = SUMMARISERS.get(section["kind"])
        if summariser is None:
            raise KeyError(f"No summary for report section kind {section['kind']!r}; known: {sorted(SUMMARISERS)}.")
        for row in summariser(section):
            row.source = index
            out.append(row)
    for row in out:
        rules = RULES.get((row.modality, row.kind), ())
        entities = _group_entities(row.group)
        raised = [w for w in warnings if w["rule"] in rules and all(e in w["job"] for e in entities)]
        if raised:
            row.warnings.append(f"{sum(w['count'] for w in raised)} Python/MNE warning(s) in {', '.join(sorted({w['rule'] for w in raised}))} "
                                "(see Warnings)")
    return out


def _cell(pairs):
    return "<br>".join(f"{html.escape(label)}: {html.escape(value)}" for label, value in pairs) or "—"


def summary_table_html(rows, links=None):
    """The subject page's first table: one row per stage with its key numbers, truth scores and warnings.

    Parameters
    ----------
    rows : list of StageSummary
        :func:`summarise_sections` rows.
    links : list of str | None
        The page anchor of each row's first entry (the stage name links to it), or None.

    Returns
    -------
    html : str
    """
    has_truth = any(row.truth for row in rows)
    body = []
    for row, link in zip(rows, links or [None] * len(rows)):
        warnings = "<br>".join(f'<span style="color:#a00">{html.escape(w)}</span>' for w in row.warnings) or "none"
        stage = f'<a href="#{html.escape(link)}">{html.escape(row.stage)}</a>' if link else html.escape(row.stage)
        cells = [row.modality, stage, html.escape(row.group), _cell(row.numbers)]
        body.append(tuple(cells + ([_cell(row.truth)] if has_truth else []) + [warnings]))
    header = ("modality", "stage", "recording", "key numbers") + (("against the demo's truth",) if has_truth else ()) + ("warnings",)
    return html_table(body, header)

