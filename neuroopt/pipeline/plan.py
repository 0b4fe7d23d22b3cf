"""The workflow plan: which recordings exist, which are analysed, and where every output goes.

Built once when the Snakefile is parsed (one scan of the BIDS tree); rules only look things up.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from ..io.bids import (
    BIDSError,
    BIDSLayout,
    Recording,
    check_events_file,
    discover_bids,
    listing_cache,
    make_basename,
    read_bold_shape,
    read_repetition_time,
)
from ..utils import logger
from .outputs import OUTPUTS, rule_outputs, uses_ica

DEMO = "demo"
DEMO_TASK = "demo"


def _selection(value):
    return None if value in (None, "all") else list(value)


def demo_layout(root, demo):
    """The recordings the demo generator writes, known before it runs (so ``-n`` plans them)."""
    layout = BIDSLayout(root=Path(root))
    for sub in range(1, demo["n_subjects"] + 1):
        for run in range(1, demo["n_runs"] + 1):
            entities = {"sub": f"{sub:02d}", "task": DEMO_TASK, "run": f"{run:02d}"}
            base = Path(root) / f"sub-{sub:02d}"
            stem = make_basename(entities)
            layout.recordings.append(
                Recording("eeg", base / "eeg" / f"{stem}_eeg.vhdr", tuple(entities.items()), base / "eeg" / f"{stem}_events.tsv")
            )
            layout.recordings.append(
                Recording("func", base / "func" / f"{stem}_bold.nii.gz", tuple(entities.items()), base / "func" / f"{stem}_events.tsv")
            )
    return layout


@dataclass
class Plan:
    """What the workflow runs: the layout, the derivative folder and the output names."""

    config: dict
    bids_root: Path
    deriv_root: Path
    layout: BIDSLayout
    is_demo: bool = False
    invalid: list = field(default_factory=list)  # (path, reason) left out with on_invalid_input=skip

    # Snakemake calls the rules' input and params functions once per job while it builds the DAG
    # (about 6000 jobs for 200 subjects x 2 sessions x 3 runs), so every lookup below is computed
    # once and reused; the config must not change after the plan is made.
    def _memoized(self, key, compute):
        # kept with the layout's own cache: editing the recordings invalidates both
        return self.layout._cached(("plan",) + key, compute)

    def _groups(self, family):
        """Shared (do not edit) group -> runs of ``family`` ("meeg" or "func"); {} when disabled."""

        def compute():
            enabled = self.config["meeg" if family == "meeg" else "fmri"]["enabled"]
            return self.layout.groups(family) if enabled else {}

        return self._memoized(("groups", family), compute)

    def meeg_groups(self):
        return dict(self._groups("meeg"))

    def fmri_groups(self):
        return dict(self._groups("func"))

    def recording(self, stem, datatype):
        return self.layout.get(stem, datatype)

    def units(self):
        """Subject (or subject_session) labels that get a report, e.g. ``sub-01``."""

        def compute():
            units = {}
            for family in ("meeg", "func"):
                for recs in self._groups(family).values():
                    units[recs[0].sdir.replace("/", "_")] = recs[0].sdir
            return dict(sorted(units.items()))

        return dict(self._memoized(("units",), compute))

    # ---------------------------------------------------------------- outputs
    def outputs(self, rule, **wildcards):
        """The outputs of one job of ``rule``: key -> path, from the table :mod:`.outputs`."""
        patterns = self._memoized(("outputs", rule), lambda: rule_outputs(self.config, rule))
        # plain string joins: the same text as str(deriv_root / ...), at a fraction of the cost
        return {key: f"{self._deriv}/{pattern.format(**wildcards)}" for key, pattern in patterns.items()}

    def output(self, rule, key, **wildcards):
        """One output path of a job of ``rule`` (``OUTPUTS[rule][key]`` formatted)."""
        return f"{self._deriv}/{OUTPUTS[rule][key].format(**wildcards)}"

    @property
    def _deriv(self):
        return self._memoized(("deriv",), lambda: str(self.deriv_root))

    def meeg_preprocess_outputs(self, rec):
        return self.outputs("meeg_preprocess", sdir=rec.sdir, dtype=rec.datatype, rec=rec.stem)

    def meeg_clean_raw(self, rec):
        return self.output("meeg_preprocess", "raw", sdir=rec.sdir, dtype=rec.datatype, rec=rec.stem)

    def meeg_outputs(self, group):
        def compute():
            rec = self._groups("meeg")[group][0]
            return self.outputs("meeg_epochs", sdir=rec.sdir, dtype=rec.datatype, group=group)

        return dict(self._memoized(("meeg_outputs", group), compute))

    def fmri_clean_outputs(self, rec):
        return self.outputs("fmri_clean", sdir=rec.sdir, rec=rec.stem)

    def fmri_clean_bold(self, rec):
        return self.output("fmri_clean", "bold", sdir=rec.sdir, rec=rec.stem)

    def fmri_mask_outputs(self, group):
        return self.outputs("fmri_mask", sdir=self._groups("func")[group][0].sdir, group=group)

    def fmri_mask(self, group):
        return self.output("fmri_mask", "mask", sdir=self._groups("func")[group][0].sdir, group=group)

    def meeg_summary(self, rec):
        return self.output("meeg_preprocess", "summary", sdir=rec.sdir, dtype=rec.datatype, rec=rec.stem)

    def meeg_ica(self, rec):
        return self.output("meeg_preprocess", "ica", sdir=rec.sdir, dtype=rec.datatype, rec=rec.stem)

    def uses_ica(self):
        return uses_ica(self.config)

    def fmri_sidecar(self, rec):
        return self.output("fmri_clean", "json", sdir=rec.sdir, rec=rec.stem)

    def fmri_mask_summary(self, group):
        return self.output("fmri_mask", "summary", sdir=self._groups("func")[group][0].sdir, group=group)

    # ---------------------------------------------------------------- analysis stages
    def r1glm_enabled(self):
        return self.config["fmri"]["enabled"] and self.config["r1glm"]["enabled"]

    def r1glm_outputs(self, group):
        def compute():
            rec = self._groups("func")[group][0]
            return self.outputs("fmri_r1glm", sdir=rec.sdir, group=group)

        return dict(self._memoized(("r1glm_outputs", group), compute))

    def sparse_enabled(self):
        return self.config["meeg"]["enabled"] and self.config["sparse"]["enabled"]

    def sparse_outputs(self, group):
        rec = self._groups("meeg")[group][0]
        return self.outputs("meeg_sparse", sdir=rec.sdir, dtype=rec.datatype, group=group)

    def forward_recordings(self):
        """``(sdir, datatype)`` -> the recording whose sensor geometry the forward model uses.

        One forward per subject/session and datatype (the first run of the first task, as
        mne-bids-pipeline does), shared by its tasks and estimators.
        """

        def compute():
            out = {}
            for recs in self._groups("meeg").values():
                out.setdefault((recs[0].sdir, recs[0].datatype), recs[0])
            return out

        return dict(self._memoized(("forward_recordings",), compute))

    def forward_outputs(self, group):
        """Files of the forward job of ``group``'s subject/session (``trans`` with ``forward: bem``)."""
        rec = self._groups("meeg")[group][0]
        return self.outputs("meeg_forward", sdir=rec.sdir, dtype=rec.datatype, unit=rec.sdir.replace("/", "_"))

    def conditions(self, group, family):
        """Sorted trial types of a group's runs (``family`` "meeg" or "func"), read from events.tsv.

        Before the demo is generated, its conditions are known constants.
        """
        return list(self._memoized(("conditions", group, family), lambda: self._conditions(group, family)))

    def _conditions(self, group, family):
        recs = self._groups(family)[group]
        if self.is_demo and not recs[0].path.exists():
            from ..datasets import DEMO_EEG_CONDITIONS, DEMO_FMRI_CONDITIONS

            names = set(DEMO_EEG_CONDITIONS if family == "meeg" else DEMO_FMRI_CONDITIONS)
        else:
            names = set()
            for rec in recs:
                names |= check_events_file(rec.events)
        selected = self.config["meeg"]["epochs"]["conditions"] if family == "meeg" else "all"
        if selected != "all":
            names &= set(selected)
        return sorted(names)

    def _on_trials_or_epochs(self, stage, family):
        """Decoding and RSA run on M/EEG epochs, and on fMRI R1-GLMS trial betas."""
        if not self.config[stage]["enabled"]:
            return False
        if family == "meeg":
            return self.config["meeg"]["enabled"]
        return self.r1glm_enabled() and self.config["r1glm"]["trial_betas"]

    def decoding_enabled(self, family):
        return self._on_trials_or_epochs("decoding", family)

    def rsa_enabled(self, family):
        return self._on_trials_or_epochs("rsa", family)

    # ---------------------------------------------------------------- GLM contrast maps
    def glm_enabled(self):
        return self.r1glm_enabled() and self.config["glm"]["enabled"]

    def glm_contrasts(self, group):
        """BIDS label -> weights over the group's sorted fMRI conditions (config ``glm.contrasts``).

        Resolved while the workflow is planned: a contrast naming an unknown condition stops
        there, naming the contrast and the conditions the data have.
        """
        from ..fmri.contrasts import resolve_glm_contrasts

        def compute():
            try:
                return resolve_glm_contrasts(self.conditions(group, "func"), self.config["glm"]["contrasts"])
            except ValueError as err:
                raise BIDSError(f"glm.contrasts of {group}: {err}") from None

        return dict(self._memoized(("glm_contrasts", group), compute))

    def glm_outputs(self, group, contrast):
        return self.outputs("fmri_glm_contrast", sdir=self._groups("func")[group][0].sdir, group=group, contrast=contrast)

    def group_glm_space_problem(self):
        """Why fMRI group maps cannot be made (subjects not in one space), or None."""
        fmri = self.config["fmri"]
        if self.is_demo or (fmri["input"] == "fmriprep" and str(fmri["space"]).startswith("MNI")):
            return None
        if fmri["input"] == "fmriprep":
            return (f"fMRI group maps need the subjects in one space, and fmri.space is {fmri['space']!r} "
                    "(not an MNI template): set fmri.space to an MNI space of your fMRIPrep outputs.")
        return ("fMRI group maps need the subjects in one space, and raw BIDS BOLD images are in each "
                "subject's native space: run fMRIPrep and set fmri.input: fmriprep with an MNI fmri.space "
                "(e.g. MNI152NLin2009cAsym). Subject maps, and group decoding of scores, are still made.")

    def group_glm_output(self, task, contrast):
        return self.outputs("group_glm_contrast", task=task, contrast=contrast)

    def group_hrf_output(self, task):
        return self.outputs("group_hrf", task=task)

    def group_fmri_decoding_output(self, task, contrast):
        return self.group_decoding_output(task, "func", contrast)

    def group_glm_results(self):
        """Sections of the group page from the fMRI group outputs (dicts with ``kind``)."""
        return list(self._memoized(("group_glm_results",), self._group_glm_results))

    def _group_glm_results(self):
        targets = set(self.group_targets())
        out = []
        for task, groups in self.group_sets("func").items():
            if self.glm_enabled():
                for contrast in self.glm_contrasts(groups[0]):
                    paths = self.group_glm_output(task, contrast)
                    if paths["z"] in targets:
                        out.append({"kind": "contrast", "title": f"{contrast} (task {task})", "n_subjects": len(groups), **paths})
                paths = self.group_hrf_output(task)
                if paths["hrf_peak"] in targets:
                    out.append({"kind": "hrf", "title": f"task {task}", **paths})
            if self.decoding_enabled("func"):
                for contrast in sorted({c for g in groups for c in self.decoding_contrasts(g, "func")}):
                    path = self.group_fmri_decoding_output(task, contrast)
                    if path in targets:
                        out.append({"kind": "decoding", "title": f"{contrast} (task {task}, fMRI)", "result": path})
        return out

    def _group_glm_targets(self, task, groups):
        out = []
        if self.decoding_enabled("func"):  # the subjects whose decoding was not planned out (2 or more)
            contrasts = sorted({c for g in groups for c in self.decoding_contrasts(g, "func")})
            out += [self.group_fmri_decoding_output(task, c) for c in contrasts
                    if len(self.group_members(task, "func", "decoding", c)) >= 2]
        if not (self.glm_enabled() and self.config["glm"]["group"]):
            return out
        problem = self.group_glm_space_problem()
        if problem is not None:
            logger.warning(f"Planned out: group fMRI maps of task {task}. {problem}")
            return out
        for contrast in self.glm_contrasts(groups[0]):
            out += list(self.group_glm_output(task, contrast).values())
        return out + list(self.group_hrf_output(task).values())

    def contrasts(self, group, family):
        from .contrasts import resolve_contrasts

        def compute():
            return resolve_contrasts(self.conditions(group, family), self.config["decoding"]["contrasts"])

        return dict(self._memoized(("contrasts", group, family), compute))

    # ---------------------------------------------------------------- planned out
    def planned_out(self):
        """The stages left out of the plan, each with its reason (see :mod:`.preconditions`)."""
        return list(self._memoized(("planned_out",), self._planned_out))

    def _planned_out(self):
        from .preconditions import PlannedOut, decoding_problem, partitions, rsa_problem, sparse_problem

        out = []
        fmri = self.config["fmri"]
        for family in ("meeg", "func"):
            for group, recs in self._groups(family).items():
                if self.is_demo and not recs[0].path.exists():
                    continue  # the demo's layout satisfies every precondition
                decoding, rsa = self.decoding_enabled(family), self.rsa_enabled(family)
                if family == "meeg" and self.sparse_enabled():
                    reason = sparse_problem(recs, self.config["sparse"]["forward"])
                    if reason:
                        out.append(PlannedOut("sparse", family, group, reason))
                if not (decoding or rsa):
                    continue
                conditions = self.conditions(group, family)
                single = fmri["single_run"] if family == "func" else "skip"
                counts, unit = partitions(recs, conditions, single, fmri["single_run_gap"])
                if decoding:
                    for name, classes in self.contrasts(group, family).items():
                        reason = decoding_problem(counts, unit, tuple(classes), family)
                        if reason:
                            out.append(PlannedOut("decoding", family, group, reason, name))
                if rsa:
                    from_trials = family == "meeg" or self.config["rsa"]["fmri_noise"] == "trials"
                    reason = rsa_problem(counts, unit, conditions, family, from_trials and self.config["rsa"]["noise"] != "none")
                    if reason:
                        out.append(PlannedOut("rsa", family, group, reason))
        return out

    def _planned_out_keys(self):
        return self._memoized(
            ("planned_out_keys",), lambda: {(p.stage, p.family, p.group, p.contrast) for p in self.planned_out()}
        )

    def decoding_contrasts(self, group, family):
        """The contrasts decoded for a group: :meth:`contrasts` minus those planned out."""
        skipped = self._planned_out_keys()
        return {name: classes for name, classes in self.contrasts(group, family).items()
                if ("decoding", family, group, name) not in skipped}

    def rsa_planned(self, group, family):
        return self.rsa_enabled(family) and ("rsa", family, group, None) not in self._planned_out_keys()

    def sparse_planned(self, group):
        return self.sparse_enabled() and ("sparse", "meeg", group, None) not in self._planned_out_keys()

    def group_members(self, task, family, stage, contrast=None):
        """The subject-level groups of ``task`` whose ``stage`` result exists (input of the group rule)."""
        groups = self.group_sets(family).get(task, [])
        if stage == "decoding":
            return [g for g in groups if contrast in self.decoding_contrasts(g, family)]
        return [g for g in groups if self.rsa_planned(g, family)]

    def _group_rec(self, group, family):
        return self._groups(family)[group][0]

    def decoding_output(self, group, family, contrast):
        rec = self._group_rec(group, family)
        rule = "meeg_decoding" if family == "meeg" else "fmri_decoding"
        return self.output(rule, "result", sdir=rec.sdir, dtype=rec.datatype, group=group, contrast=contrast)

    def rsa_output(self, group, family):
        rec = self._group_rec(group, family)
        return self.output("meeg_rsa" if family == "meeg" else "fmri_rsa", "rdm", sdir=rec.sdir, dtype=rec.datatype, group=group)

    def group_sets(self, family):
        """Task -> list of the subject-level groups of that task (for the group-level rules)."""

        def compute():
            out = {}
            for group, recs in self._groups(family).items():
                out.setdefault(recs[0].task, []).append(group)
            return out

        return {task: list(groups) for task, groups in self._memoized(("group_sets", family), compute).items()}

    def group_decoding_output(self, task, family, contrast):
        return self.output("group_decoding" if family == "meeg" else "group_fmri_decoding", "result", task=task, contrast=contrast)

    def group_rsa_output(self, task, family):
        return self.output("group_rsa", "result", family=family, task=task)

    def group_results(self):
        """``(decoding, rsa)``: lists of (title, path) of the group-level results shown on the group page."""
        decoding, rsa = self._memoized(("group_results",), self._group_results)
        return list(decoding), list(rsa)

    def _group_results(self):
        decoding, rsa = [], []
        targets = set(self.group_targets())
        for family in ("meeg", "func"):
            for task, groups in self.group_sets(family).items():
                # fMRI group decoding (scores, not curves) is on the page through group_glm_results
                meeg_decoding = self.decoding_enabled(family) and family == "meeg"
                contrasts = {c for g in groups for c in self.decoding_contrasts(g, family)} if meeg_decoding else ()
                for contrast in sorted(contrasts):
                    path = self.group_decoding_output(task, family, contrast)
                    if path in targets:
                        decoding.append((f"{contrast} (task {task}, {family})", path))
                path = self.group_rsa_output(task, family)
                if path in targets:
                    rsa.append((f"task {task} ({family})", path))
        return decoding, rsa

    def group_targets(self):
        """Group-level results: need at least two subjects for the statistics."""
        return list(self._memoized(("group_targets",), self._group_targets))

    def _group_targets(self):
        out = []
        for family in ("meeg", "func"):
            for task, groups in self.group_sets(family).items():
                if self.decoding_enabled(family) and family == "meeg":
                    contrasts = sorted({c for g in groups for c in self.decoding_contrasts(g, family)})
                    out += [self.group_decoding_output(task, family, c) for c in contrasts
                            if len(self.group_members(task, family, "decoding", c)) >= 2]
                if self.rsa_enabled(family) and len(self.group_members(task, family, "rsa")) >= 2:
                    out.append(self.group_rsa_output(task, family))
                if family == "func" and len(groups) >= 2:
                    out += self._group_glm_targets(task, groups)
        return out

    def report_sections(self, unit):
        """The sections of one subject's report, each with the files it shows (shared: do not edit)."""
        return self._memoized(("report_sections",), self._all_report_sections).get(unit, [])

    def _all_report_sections(self):
        """unit -> its report's sections, in one pass over the groups (in the order of the groups)."""
        by_unit = {}
        for group, recs in self._groups("meeg").items():
            sections = by_unit.setdefault(recs[0].sdir.replace("/", "_"), [])
            outs = self.meeg_outputs(group)
            sections.append(
                {
                    "kind": "meeg",
                    "title": group,
                    "run_labels": [r.stem for r in recs],
                    "raws_before": [str(r.path) for r in recs],
                    "raws_clean": [self.meeg_clean_raw(r) for r in recs],
                    "summaries": [self.meeg_summary(r) for r in recs],
                    "icas": [self.meeg_ica(r) if self.uses_ica() else None for r in recs],
                    "epochs_summary": outs["summary"],
                    "evoked": outs["evoked"],
                    "cov": outs["cov"],
                }
            )
            if self.sparse_planned(group):
                fwd = self.forward_outputs(group)
                if "trans" in fwd and self.forward_recordings()[(recs[0].sdir, recs[0].datatype)] is recs[0]:
                    sections.append({"kind": "forward", "title": recs[0].sdir.replace("/", "_"), **fwd})
                sections.append(
                    {"kind": "sparse", "title": group, "truth": self.truth_info(recs[0]), "forward": fwd["forward"],
                     **self.sparse_outputs(group)}
                )
            sections += self._decoding_rsa_sections(group, "meeg")
        for group, recs in self._groups("func").items():
            sections = by_unit.setdefault(recs[0].sdir.replace("/", "_"), [])
            sections.append(
                {
                    "kind": "fmri",
                    "title": group,
                    "run_labels": [r.stem for r in recs],
                    "bolds_raw": [str(r.path) for r in recs],
                    "bolds_clean": [self.fmri_clean_bold(r) for r in recs],
                    "sidecars": [self.fmri_sidecar(r) for r in recs],
                    "events": [str(r.events) for r in recs],
                    "mask": self.fmri_mask(group),
                }
            )
            if self.r1glm_enabled():
                outs = self.r1glm_outputs(group)
                sections.append(
                    {"kind": "r1glm", "title": group, "model": outs["model"], "summary": outs["summary"], "truth": self.truth_info(recs[0])}
                )
            if self.glm_enabled():
                contrasts = list(self.glm_contrasts(group))
                outs = [self.glm_outputs(group, c) for c in contrasts]
                sections.append(
                    {
                        "kind": "glm",
                        "title": group,
                        "contrasts": contrasts,
                        "events": [str(r.events) for r in recs],
                        "sidecars": [self.fmri_sidecar(r) for r in recs],
                        "bolds": [self.fmri_clean_bold(recs[0])],
                        "space": None if self.group_glm_space_problem() else "MNI",
                        **{kind: [o[kind] for o in outs] for kind in rule_outputs(self.config, "fmri_glm_contrast")},
                    }
                )
            sections += self._decoding_rsa_sections(group, "func")
        return by_unit

    def _decoding_rsa_sections(self, group, family):
        sections = []
        contrasts = self.decoding_contrasts(group, family) if self.decoding_enabled(family) else {}
        if contrasts:
            sections.append(
                {
                    "kind": f"{family}_decoding",
                    "title": group,
                    "contrasts": list(contrasts),
                    "results": [self.decoding_output(group, family, c) for c in contrasts],
                }
            )
        if self.rsa_planned(group, family):
            sections.append({"kind": "rsa", "title": f"{group} ({family})", "rdm": self.rsa_output(group, family)})
        return sections

    def truth_info(self, rec):
        """Where the demo ground truth of ``rec`` is, or None outside the demo."""
        if not self.is_demo:
            return None
        return {"root": str(self.bids_root), "subject": rec.subject}

    def report_inputs(self, unit):
        """Every derivative file the report of ``unit`` reads (raw inputs are not tracked here)."""
        return list(self._memoized(("report_inputs", unit), lambda: self._report_inputs(unit)))

    def _report_inputs(self, unit):
        files = []
        for section in self.report_sections(unit):
            for key, value in section.items():
                if key in ("kind", "title", "run_labels", "raws_before", "bolds_raw", "events", "truth", "contrasts", "space"):
                    continue
                values = value if isinstance(value, list) else [value]
                files += [v for v in values if v]
        return files

    def report_job_inputs(self, unit):
        """The inputs of the report job of ``unit``: one file per job whose outputs it reads.

        The report reads every file of :meth:`report_inputs` (its sections name them), but
        Snakemake only needs one output of each job that writes them: a job writes all its
        outputs at once (its missing outputs are checked all the same), and when it reruns the
        output named here is newer too, so the report reruns. Each file Snakemake resolves costs
        planning time: 17 files instead of 53 for a subject/session with 3 EEG and 3 fMRI runs.
        """
        first = self._first_outputs()
        return list(dict.fromkeys(first.get(path, path) for path in self.report_inputs(unit)))

    def _first_outputs(self):
        """Shared (do not edit) path -> the first output of the planned job that writes it."""

        def compute():
            return {path: outputs[0] for outputs in self._job_outputs(self.targets()) for path in outputs}

        return self._memoized(("first_outputs",), compute)

    def group_summaries(self):
        out = [self.meeg_outputs(g)["summary"] for g in self._groups("meeg")]
        return out + [self.fmri_mask_summary(g) for g in self._groups("func")]

    def report(self, unit):
        return self.output("subject_report", "html", unit=unit)

    def group_report(self):
        return self.output("group_report", "html")

    def multi_session_subjects(self):
        """``sub-01`` -> its units (``sub-01_ses-01``...), for the subjects with several sessions."""

        def compute():
            units = {}
            for unit, sdir in self.units().items():
                units.setdefault(sdir.split("/")[0], []).append(unit)
            return {subject: tuple(u) for subject, u in units.items() if len(u) > 1}

        return dict(self._memoized(("multi_session_subjects",), compute))

    def sessions_table(self, subject):
        """``<deriv>/sub-01/sub-01_sessions.tsv``: the sessions of a subject with several sessions.

        Its job reads every session's results, so a subject's sessions are one connected part of
        the job graph: one job group (one SLURM job) with the cluster profile.
        """
        return self.output("subject_sessions", "table", subject=subject)

    def sessions_inputs(self, subject):
        """What the sessions table of ``subject`` waits for: each session's report, or its results."""
        return self.units_done_inputs(self.multi_session_subjects()[subject])

    def units_done_inputs(self, units=None):
        """The last files of ``units`` (all of them by default): each unit's report, or its results."""
        units = self.units() if units is None else units
        if self.config["report"]["enabled"]:
            return [self.report(unit) for unit in units]
        return [path for unit in units for path in self.report_job_inputs(unit)]

    def sessions_rows(self, subject):
        """One row per session: ``session_id``, runs per data type, the session's report."""
        runs = self._unit_runs()
        report = self.config["report"]["enabled"]
        units = self.multi_session_subjects()[subject]
        columns = sorted({key for unit in units for key in runs.get(unit, {})})
        rows = []
        for unit in units:
            row = {"session_id": unit.split("_", 1)[1]}
            row.update({key: len(runs.get(unit, {}).get(key, ())) for key in columns})
            row["report"] = os.path.relpath(self.report(unit), os.path.dirname(self.sessions_table(subject))) if report else "n/a"
            rows.append(row)
        return rows

    def _unit_runs(self):
        """Shared (do not edit) unit -> ``{"<datatype>_runs": {run stems}}``, over every group.

        Made once: each subject's sessions job reads its own units from it (building it for each
        of 1000 subjects scanned all 12 000 recordings 1000 times, 7 % of ``snakemake -n``).
        """

        def compute():
            runs = {}
            for family in ("meeg", "func"):
                for recs in self._groups(family).values():
                    for rec in recs:
                        unit = rec.sdir.replace("/", "_")
                        runs.setdefault(unit, {}).setdefault(f"{rec.datatype}_runs", set()).add(rec.stem)
            return runs

        return self._memoized(("unit_runs",), compute)

    def demo_marker(self):
        """A file the demo generator writes last-but-atomically; raw inputs depend on it."""
        return str(self.bids_root / "dataset_description.json")

    def targets(self):
        out = []
        for group, recs in self.meeg_groups().items():
            out += [self.meeg_clean_raw(r) for r in recs] + list(self.meeg_outputs(group).values())
        for group, recs in self.fmri_groups().items():
            out += [self.fmri_clean_bold(r) for r in recs] + [self.fmri_mask(group)]
            if self.r1glm_enabled():
                out += list(self.r1glm_outputs(group).values())
            if self.glm_enabled():
                for contrast in self.glm_contrasts(group):
                    out += list(self.glm_outputs(group, contrast).values())
        forwards = {}  # one forward job per subject/session, shared by its groups
        for group in self.meeg_groups():
            if self.sparse_planned(group):
                out += list(self.sparse_outputs(group).values())
                forwards.update(dict.fromkeys(self.forward_outputs(group).values()))
        out += list(forwards)
        for family, groups in (("meeg", self.meeg_groups()), ("func", self.fmri_groups())):
            for group in groups:
                if self.decoding_enabled(family):
                    out += [self.decoding_output(group, family, c) for c in self.decoding_contrasts(group, family)]
                if self.rsa_planned(group, family):
                    out.append(self.rsa_output(group, family))
        out += self.group_targets()
        if self.config["report"]["enabled"]:
            out += [self.report(unit) for unit in self.units()] + [self.group_report()]
        out += [self.sessions_table(subject) for subject in self.multi_session_subjects()]
        return out


    def final_targets(self):
        """What ``rule all`` asks for: one output of each job that no report already asks for.

        The reports read almost every derivative, so Snakemake reaches those jobs through the
        report jobs anyway; and a job runs when any of its outputs is missing, so one output names
        the whole job. Listing every derivative again in ``rule all`` planned the same jobs but
        made Snakemake resolve each file twice (a fifth of ``snakemake -n`` on 200 subjects). The
        jobs, and so the outputs, are those of :meth:`targets`.
        """
        targets = self.targets()
        read = set()
        if self.config["report"]["enabled"]:
            decoding, rsa = self.group_results()
            read = {self.report(unit) for unit in self.units()} | set(self.group_summaries())
            read |= {path for _, path in decoding + rsa}
            read |= {v for sec in self.group_glm_results() for k, v in sec.items() if k not in ("kind", "title", "n_subjects")}
            for unit in self.units():
                read.update(self.report_inputs(unit))
        out = []
        for outputs in self._job_outputs(targets):
            if not read.intersection(outputs):
                out.append(outputs[0])
        return out

    def _job_outputs(self, targets):
        """``targets`` as the output lists of the jobs that write them (one list per job)."""
        jobs = []
        for recs in self._groups("meeg").values():
            jobs += [list(self.meeg_preprocess_outputs(rec).values()) for rec in recs]
        forwards = {}
        for group in self._groups("meeg"):
            jobs.append(list(self.meeg_outputs(group).values()))
            if self.sparse_planned(group):
                jobs.append(list(self.sparse_outputs(group).values()))
                outputs = list(self.forward_outputs(group).values())
                forwards.setdefault(outputs[0], outputs)
        jobs += list(forwards.values())
        for group, recs in self._groups("func").items():
            jobs += [list(self.fmri_clean_outputs(rec).values()) for rec in recs]
            jobs.append(list(self.fmri_mask_outputs(group).values()))
            if self.r1glm_enabled():
                jobs.append(list(self.r1glm_outputs(group).values()))
            if self.glm_enabled():
                jobs += [list(self.glm_outputs(group, c).values()) for c in self.glm_contrasts(group)]
        for task, groups in self.group_sets("func").items():
            if self.glm_enabled():
                jobs += [list(self.group_glm_output(task, c).values()) for c in self.glm_contrasts(groups[0])]
                jobs.append(list(self.group_hrf_output(task).values()))
        if self.config["report"]["enabled"]:
            jobs.append(list(self.outputs("group_report").values()))
        # every target is in exactly one job; the others (decoding, RSA, reports, group results)
        # write one file each
        grouped = {path for outputs in jobs for path in outputs}
        jobs += [[path] for path in targets if path not in grouped]
        wanted = set(targets)
        return [outputs for outputs in jobs if wanted.intersection(outputs)]


def _check_recording(rec, layout, config):
    """The problem (path, reason) of one recording's events and BOLD sidecar, or None."""
    try:
        if rec.events is None:
            expected = rec.path.with_name(rec.stem + "_events.tsv")
            raise BIDSError(
                f"{expected} is missing: {rec.path.name} has no events, so it cannot be epoched or "
                "modelled. Add its events.tsv, or leave the task out with the config key 'tasks'."
            )
        if rec.datatype == "func":
            t_r = read_repetition_time(rec.path, root=layout.root, check_header=config["fmri"]["check_tr_header"])
            n_scans = read_bold_shape(rec.path)[-1]
            check_events_file(rec.events, n_scans=n_scans, t_r=t_r)
        else:
            check_events_file(rec.events)
    except BIDSError as err:
        return (rec.path, str(err))
    return None


def _check_inputs(layout, config, on_invalid):
    """Read each events file and BOLD sidecar once; collect every problem with its file."""
    problems = []
    with listing_cache():  # the tree does not change while it is planned
        for rec in list(layout.recordings):
            problem = _check_recording(rec, layout, config)
            if problem is not None:
                problems.append(problem)
                layout.recordings.remove(rec)
    if problems and on_invalid == "error":
        listing = "\n".join(f"  - {reason}" for _, reason in problems)
        raise BIDSError(
            f"{len(problems)} recording(s) failed the input checks:\n{listing}\n"
            "Fix them, or set on_invalid_input: skip to analyse the other recordings."
        )
    for path, reason in problems:
        logger.warning(f"Skipping {path}: {reason}")
    return problems


def _check_meeg_anatomy(layout, config, bids_root):
    """Forward-model inputs (``sparse.forward``) and ``meeg.maxwell``, checked before any job runs."""
    from .anatomy import resolve_forward

    meeg = [r for r in layout.recordings if r.datatype in ("eeg", "meg")]
    problems = []
    if config["meeg"]["maxwell"]["enabled"]:
        problems += sorted({
            f"meeg.maxwell is enabled but {r.path} is EEG: Maxwell filtering applies to MEGIN/Elekta MEG only; "
            "disable meeg.maxwell or leave the EEG out (config key tasks/subjects)." for r in meeg if r.datatype == "eeg"
        })
    if config["sparse"]["enabled"]:
        for rec in {(r.sdir, r.datatype): r for r in meeg}.values():
            try:
                resolve_forward(config, bids_root, rec)
            except BIDSError as err:
                problems.append(str(err))
    if problems:
        listing = "\n".join(f"  - {p}" for p in dict.fromkeys(problems))
        raise BIDSError(f"The M/EEG source model cannot be set up:\n{listing}")


def make_plan(config, workdir="."):
    """Build the plan from a validated config (see config/schema.yaml).

    With ``bids_root: demo`` the demo dataset's layout is known from its parameters, so planning
    (``snakemake -n``) writes nothing; the ``demo_dataset`` rule generates it on the first real run.
    """
    workdir = Path(workdir)
    is_demo = config["bids_root"] == DEMO
    bids_root = (workdir / config["demo"]["path"]) if is_demo else Path(config["bids_root"])
    bids_root = bids_root.absolute()
    deriv_root = Path(config["deriv_root"]).absolute() if config.get("deriv_root") else bids_root / "derivatives" / "neuroopt"
    selection = dict(
        subjects=_selection(config["subjects"]), sessions=_selection(config["sessions"]), tasks=_selection(config["tasks"])
    )
    datatypes = tuple(
        ([("eeg"), "meg"] if config["meeg"]["enabled"] else []) + (["func"] if config["fmri"]["enabled"] else [])
    )
    invalid = []
    if is_demo and not (bids_root / "dataset_description.json").exists():
        layout = demo_layout(bids_root, config["demo"])
        layout.recordings = [
            r
            for r in layout.recordings
            if (r.datatype in datatypes)
            and (selection["subjects"] is None or r.subject in selection["subjects"])
            and (selection["tasks"] is None or r.task in selection["tasks"])
        ]
        if not layout.recordings:
            raise BIDSError(f"The demo has no recording matching subjects={config['subjects']}, tasks={config['tasks']}.")
    else:
        fmri = config["fmri"]
        bold_root = None
        if fmri["input"] == "fmriprep":
            if not fmri["fmriprep_root"]:
                raise BIDSError("fmri.input is 'fmriprep' but fmri.fmriprep_root is not set: give the fMRIPrep output folder.")
            bold_root = Path(fmri["fmriprep_root"])
            if not bold_root.is_dir():
                raise BIDSError(f"fmri.fmriprep_root {str(bold_root)!r} does not exist.")
        layout = discover_bids(bids_root, datatypes=datatypes, bold_root=bold_root, bold_space=fmri["space"], **selection)
        invalid = _check_inputs(layout, config, config["on_invalid_input"])
        if not layout.recordings:
            raise BIDSError(f"Every recording in {bids_root} failed the input checks; nothing to analyse.")
        _check_meeg_anatomy(layout, config, bids_root)
    plan = Plan(config=config, bids_root=bids_root, deriv_root=deriv_root, layout=layout, is_demo=is_demo, invalid=invalid + layout.excluded)
    if config["fmri"]["enabled"] and plan.fmri_groups():
        from .steps.fmri import RAW_BOLD_CONFOUNDS, raw_bold_ignored_confounds

        ignored = raw_bold_ignored_confounds(config["fmri"])
        if ignored:
            logger.warning(f"fmri.confounds.strategy {ignored} not applied: {RAW_BOLD_CONFOUNDS}")
    for item in plan.planned_out():  # one line per stage planned out (also on the group page)
        logger.warning(item.message())
    return plan
