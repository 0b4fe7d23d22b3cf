"""Which contrasts to decode and which model RDMs to test, from the condition names.

Condition names may carry factors separated by ``/`` (MNE's tags: ``auditory/left``); "auto"
then means one contrast (and one categorical model RDM) per factor with exactly two levels.
"""

from __future__ import annotations

import re


def _label(text):
    """A BIDS-safe label (letters and digits only) for a condition or tag."""
    parts = re.split(r"[^a-zA-Z0-9]+", str(text))
    return "".join(p[:1].upper() + p[1:] for p in parts if p)


def contrast_name(first, second):
    """``("auditory", "visual")`` -> ``"auditoryVsVisual"`` (a valid BIDS ``desc`` label)."""
    name = _label(first) + "Vs" + _label(second)
    return name[:1].lower() + name[1:]


def factor_levels(conditions):
    """Levels of each ``/``-separated factor, or [] when names have different factor counts."""
    split = [str(c).split("/") for c in conditions]
    n_factors = {len(s) for s in split}
    if len(n_factors) != 1 or n_factors == {1}:
        return []
    return [sorted({s[i] for s in split}) for i in range(n_factors.pop())]


def resolve_contrasts(conditions, contrasts="auto"):
    """``{name: (first, second)}`` of two-class contrasts, or ``{"allConditions": tuple(conditions)}``.

    ``"auto"``: one contrast per two-level factor; without such factors, every condition against
    every other in one multi-class problem.
    """
    conditions = sorted(conditions)
    if contrasts != "auto":
        return {contrast_name(a, b): (a, b) for a, b in contrasts}
    out = {contrast_name(*levels): tuple(levels) for levels in factor_levels(conditions) if len(levels) == 2}
    if not out and len(conditions) == 2:
        out[contrast_name(*conditions)] = tuple(conditions)
    if not out and len(conditions) > 2:
        out["allConditions"] = tuple(conditions)
    return out


def resolve_models(conditions, models="auto"):
    """``{name: model RDM (n_pairs,)}`` in the order of ``sorted(conditions)``."""
    from ..rsa.models import load_model_rdm, model_rdm_from_labels

    conditions = sorted(conditions)
    if models != "auto":
        return {m["name"]: load_model_rdm(m["path"], conditions) for m in models}
    out = {}
    for index, levels in enumerate(factor_levels(conditions)):
        if len(levels) > 1:
            out[_label("/".join(levels)).replace("/", "")] = model_rdm_from_labels(conditions, factor=index)
    out["identity"] = model_rdm_from_labels(conditions)
    return out
