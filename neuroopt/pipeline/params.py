"""Which config keys each workflow rule uses: one table, so that a job reruns only when one of them
changes.

Snakemake reruns a job whose ``params`` changed (it compares the ``repr`` of each value with the
one recorded when the job ran). A rule that received a whole config section (``cfg=config["meeg"]``)
was rerun by any change in that section, and by a config file that only lists the same keys in
another order (a ``dict``'s ``repr`` follows its insertion order). Here each rule gets exactly the
keys it reads, in a canonical form (mappings with sorted keys, at every depth), so:

- changing ``meeg.epochs.tmax`` reruns ``meeg_epochs`` and what depends on its outputs, not
  ``meeg_preprocess``; ``decoding.n_permutations`` reruns only ``group_decoding``;
  ``rsa.n_bootstrap`` only ``group_rsa``;
- the default config re-saved with its keys in another order plans nothing.

Keys that decide *which* jobs exist (``subjects``, ``*.enabled``, ``decoding.contrasts``,
``meeg.epochs.conditions``...) are read by the plan (:mod:`neuroopt.pipeline.plan`), and the values
a job derives from them reach it as inputs, outputs or other params.

A new rule is one entry in :data:`RULE_CONFIG` and ``params: **rule_params(config, "<rule>")`` in
its ``workflows/*.smk`` file; its step reads ``params.cfg`` (and ``params.seed`` when the entry lists
``seed``).
"""

from __future__ import annotations

# rule -> the config keys its step reads, as dotted paths from the top of the config; a path may
# name a whole sub-section ("meeg.bad_channels"). All paths of a rule but "seed" are in one
# section, which the step receives as ``params.cfg`` (restricted to these keys); "seed" is
# ``params.seed``.
RULE_CONFIG = {
    "demo_dataset": ("demo",),
    "meeg_preprocess": (
        "meeg.l_freq",
        "meeg.h_freq",
        "meeg.notch_freqs",
        "meeg.resample_sfreq",
        "meeg.bad_channels",
        "meeg.artifacts",
        "meeg.maxwell",
        "seed",
    ),
    "meeg_epochs": ("meeg.epochs", "meeg.noise_cov"),
    "fmri_mask": ("fmri.input",),
    "fmri_clean": (
        "fmri.input",
        "fmri.check_tr_header",
        "fmri.high_pass",
        "fmri.detrend",
        "fmri.standardize",
        "fmri.smoothing_fwhm",
        "fmri.confounds",
    ),
    "fmri_r1glm": ("r1glm.basis", "r1glm.hrf_length", "r1glm.noise_model", "r1glm.high_pass", "r1glm.trial_betas"),
    "meeg_forward": (
        "sparse.forward",
        "sparse.grid_spacing",
        "sparse.subjects_dir",
        "sparse.fs_subject",
        "sparse.trans",
        "sparse.bem",
        "sparse.source_space",
    ),
    "meeg_sparse": (
        "sparse.estimators",
        "sparse.alpha",
        "sparse.selection",
        "sparse.loose",
        "sparse.depth",
        "sparse.tmin",
        "sparse.tmax",
        "seed",
    ),
    "meeg_decoding": ("decoding.scoring", "decoding.generalization"),
    "fmri_decoding": ("decoding.scoring",),
    "meeg_rsa": ("rsa.noise",),
    "fmri_rsa": ("rsa.noise",),
    "group_decoding": ("decoding.n_permutations", "seed"),
    "group_rsa": ("rsa.models", "rsa.comparison", "rsa.n_bootstrap", "seed"),
    # fmri_glm_contrast also gets r1glm.noise_model and r1glm.high_pass as params of their own
    "fmri_glm_contrast": ("glm.correction", "glm.alpha", "glm.height", "glm.cluster_extent"),
    "group_glm_contrast": ("glm.correction", "glm.alpha", "glm.height", "glm.cluster_extent"),
    "group_fmri_decoding": ("decoding.n_permutations", "seed"),
}


def canonical(value):
    """``value`` with every mapping's keys sorted, at every depth (lists keep their order).

    Two configs that differ only in the order of their keys give equal ``repr``.
    """
    if isinstance(value, dict):
        return {key: canonical(value[key]) for key in sorted(value, key=str)}
    if isinstance(value, (list, tuple)):
        return [canonical(v) for v in value]
    return value


def _lookup(config, path, rule):
    node = config
    for part in path.split("."):
        if not isinstance(node, dict) or part not in node:
            raise KeyError(
                f"RULE_CONFIG[{rule!r}] lists the config key {path!r}, which the config does not have; "
                "fix the entry in neuroopt/pipeline/params.py (or add the key to config/config.yaml and "
                "config/schema.yaml)."
            )
        node = node[part]
    return node


def rule_params(config, rule):
    """The part of ``config`` that ``rule`` uses, canonical: ``{"cfg": {...}, "seed": ...}``.

    Parameters
    ----------
    config : dict
        The workflow's validated config.
    rule : str
        A rule listed in :data:`RULE_CONFIG`.

    Returns
    -------
    params : dict
        ``cfg``: the keys of the rule's config section that it uses (nested as in the config,
        keys sorted); ``seed``: the config's seed, only when the rule uses it.
    """
    if rule not in RULE_CONFIG:
        raise KeyError(
            f"Rule {rule!r} has no entry in neuroopt.pipeline.params.RULE_CONFIG: add the config keys it "
            f"uses there (known rules: {', '.join(sorted(RULE_CONFIG))})."
        )
    paths = RULE_CONFIG[rule]
    sections = {p.split(".")[0] for p in paths if p != "seed"}
    if len(sections) > 1:
        raise ValueError(f"RULE_CONFIG[{rule!r}] mixes config sections {sorted(sections)}; a rule's keys come from one section.")
    params = {}
    cfg = {}
    for path in paths:
        value = canonical(_lookup(config, path, rule))
        if path == "seed":
            params["seed"] = value
            continue
        parts = path.split(".")[1:]
        if not parts:  # the whole section
            cfg.update(value)
            continue
        node = cfg
        for part in parts[:-1]:
            node = node.setdefault(part, {})
        node[parts[-1]] = value
    params["cfg"] = canonical(cfg)
    return params
