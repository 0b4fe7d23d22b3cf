"""GLM contrasts over condition names: ``"auto"`` or nilearn-style expressions -> weight vectors.

A contrast is a weight per condition (a t contrast). ``"auto"`` gives each condition against the
implicit baseline, plus one contrast per two-level factor of ``/``-separated condition names
(``auditory/left``: the levels of each factor, as :mod:`neuroopt.pipeline.contrasts` does for
decoding), each level's conditions averaged. Expressions are those of nilearn's
``FirstLevelModel.compute_contrast`` (``"audio - video"``, ``"0.5 * a + 0.5 * b - c"``) over the
condition names.
"""

from __future__ import annotations

import re

import numpy as np

_IDENTIFIER = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_WORDS = {"-": "Minus", "+": "Plus", "*": "Times", "/": "Over"}


def _label(text):
    """A BIDS-safe label (letters and digits only, camelCase) for a condition or expression."""
    parts = re.split(r"[^a-zA-Z0-9]+", str(text))
    name = "".join(p[:1].upper() + p[1:] for p in parts if p)
    return name[:1].lower() + name[1:]


def contrast_label(expression):
    """BIDS ``desc`` label of an expression: ``"audio - video"`` -> ``"audioMinusVideo"``."""
    text = str(expression)
    for symbol, word in _WORDS.items():
        text = text.replace(symbol, f" {word} ")
    text = text.replace(".", "p")
    return _label(text)


def expression_weights(expression, conditions, name=None):
    """Weights over ``conditions`` of a nilearn-style contrast expression.

    Parameters
    ----------
    expression : str
        Linear combination of condition names, e.g. ``"audio - video"``.
    conditions : list of str
        Condition names (columns of the design), in the order of the returned weights.
    name : str | None
        How the contrast is named in error messages (default: the expression).

    Returns
    -------
    weights : ndarray, (n_conditions,)
    """
    from nilearn.glm import expression_to_contrast_vector

    conditions = [str(c) for c in conditions]
    label = name or repr(expression)
    tokens = set(_IDENTIFIER.findall(str(expression)))
    unknown = sorted(t for t in tokens if t not in conditions and not re.fullmatch(r"e\d*", t))
    if unknown:
        raise ValueError(
            f"The contrast {label} names condition(s) {unknown} that are not in the data; the "
            f"available conditions are {conditions}. Fix the expression (names are case-sensitive)."
        )
    weights = np.asarray(expression_to_contrast_vector(str(expression), conditions), dtype=float)
    if weights.shape != (len(conditions),) or not np.any(weights):
        raise ValueError(f"The contrast {label} gives no weight to any condition of {conditions}.")
    return weights


def resolve_glm_contrasts(conditions, contrasts="auto"):
    """``{label: weights over sorted(conditions)}`` of the t contrasts to compute.

    Parameters
    ----------
    conditions : list of str
        Condition names (trial types).
    contrasts : "auto" | list of str
        ``"auto"``: each condition against baseline, plus for every two-level factor of
        ``/``-separated names the first level minus the second (each level's conditions
        averaged). A list: nilearn-style expressions over the condition names.

    Returns
    -------
    contrasts : dict
        BIDS-safe label -> weights (n_conditions,) in the order of ``sorted(conditions)``.
    """
    from ..pipeline.contrasts import contrast_name, factor_levels

    conditions = sorted(str(c) for c in conditions)
    out = {}
    if contrasts == "auto":
        for k, condition in enumerate(conditions):
            weights = np.zeros(len(conditions))
            weights[k] = 1.0
            label = _label(condition)
            if not label or label in out:  # "face" and "Face", or no letters: number it
                label = f"{label or 'condition'}{k + 1}"
            out[label] = weights
        split = [c.split("/") for c in conditions]
        for index, levels in enumerate(factor_levels(conditions)):
            if len(levels) != 2:
                continue
            member = np.array([[s[index] == level for s in split] for level in levels], float)
            out[contrast_name(*levels)] = member[0] / member[0].sum() - member[1] / member[1].sum()
        return out
    if isinstance(contrasts, str):
        contrasts = [contrasts]
    for expression in contrasts:
        label = contrast_label(expression)
        if not label:
            raise ValueError(f"The contrast {expression!r} has no letters or digits to name it.")
        if label in out:
            raise ValueError(f"Two contrasts have the same name {label!r}; the second is {expression!r}.")
        out[label] = expression_weights(expression, conditions)
    return out
