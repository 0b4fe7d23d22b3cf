"""Pages generated at build time: the configuration reference (from the schema) and the API index.

Both are written only when their text changes, so an unchanged build stays incremental.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import yaml

# the public sub-packages, in the order of the data flow, with one line on each
PUBLIC_PACKAGES = {
    "neuroopt.io": "BIDS layout, events and sidecars; derivative paths.",
    "neuroopt.datasets": "The built-in demo dataset and its ground truth; the sample MEG gain for simulations.",
    "neuroopt.meeg": "M/EEG forward models and the sparse inverse (Evoked + Forward + Covariance -> sources).",
    "neuroopt.sparse": "Sparse multitask estimators on arrays (MxNE, square-root Lasso, SGCL, CLaR).",
    "neuroopt.fmri": "fMRI preprocessing and the rank-1 GLM (R1-GLM, R1-GLMS).",
    "neuroopt.decoding": "Time-resolved and trial-wise decoding; group statistics.",
    "neuroopt.rsa": "Crossnobis RDMs, noise models, model comparison and inference.",
    "neuroopt.stats": "Group-level statistics (cluster permutation tests).",
}


def _write_if_changed(path, text):
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def _type_of(spec):
    if "oneOf" in spec or "anyOf" in spec:
        return " or ".join(_type_of(s) for s in spec.get("oneOf", spec.get("anyOf")))
    kind = spec.get("type", "any")
    kinds = kind if isinstance(kind, list) else [kind]
    out = []
    for k in kinds:
        if k == "array" and "items" in spec:
            out.append(f"list of {_type_of(spec['items'])}")
        elif k == "string" and "enum" in spec:
            out.append(" | ".join(f'``"{v}"``' for v in spec["enum"]))
        else:
            out.append({"null": "null", "number": "number", "integer": "integer"}.get(k, k))
    return " or ".join(out)


def _bounds(spec):
    parts = []
    for key, sym in (("minimum", ">="), ("exclusiveMinimum", ">"), ("maximum", "<="),
                     ("exclusiveMaximum", "<"), ("minItems", "items >="), ("pattern", "matches")):
        if key in spec:
            parts.append(f"{sym} ``{spec[key]}``")
    return ", ".join(parts)


def _rows(properties, defaults, prefix=""):
    for name, spec in properties.items():
        key = f"{prefix}{name}"
        default = defaults.get(name) if isinstance(defaults, dict) else None
        if spec.get("type") == "object" and "properties" in spec:
            yield key, spec, None, True
            yield from _rows(spec["properties"], default or {}, prefix=f"{key}.")
        else:
            yield key, spec, default, False


def _cell(text):
    """Schema text as plain reStructuredText: one line, markup characters escaped."""
    text = " ".join(str(text).split())
    text = re.sub(r"([\\*`|])", r"\\\1", text)
    # a word ending in "_" is a hyperlink reference in reST ("model-canonical_")
    return re.sub(r"_(?=\W|$)", r"\\_", text)


def write_config_reference(config_dir, out):
    """Write the configuration reference (every key, its type, default and description)."""
    config_dir = Path(config_dir)
    schema = yaml.safe_load((config_dir / "schema.yaml").read_text())
    defaults = yaml.safe_load((config_dir / "config.yaml").read_text())
    lines = [
        ".. This page is generated from config/schema.yaml and config/config.yaml by",
        "   docs/_generate.py at every build: edit those files, not this one.",
        "",
        "Configuration reference",
        "=======================",
        "",
        _cell(schema.get("description", "")),
        "",
        "Every key of the workflow configuration, with its type, its default (from the default "
        "``config/config.yaml``; ``neuroopt config`` prints it with comments) and what it does. A "
        "key in a section marked *section* is written nested in YAML: ``meeg.epochs.tmax`` is "
        "``tmax`` under ``epochs`` under ``meeg``.",
        "",
        ".. list-table::",
        "   :header-rows: 1",
        "   :widths: 22 22 16 40",
        "",
        "   * - key",
        "     - type",
        "     - default",
        "     - description",
    ]
    for key, spec, default, is_section in _rows(schema["properties"], defaults):
        desc = _cell(spec.get("description", ""))
        if is_section:
            lines += [f"   * - **{key}**", "     - *section*", "     -", f"     - {desc}"]
            continue
        bounds = _bounds(spec)
        shown = "null" if default is None else default
        lines += [f"   * - ``{key}``", f"     - {_type_of(spec)}" + (f" ({bounds})" if bounds else ""),
                  f"     - ``{' '.join(str(shown).split())}``", f"     - {desc}"]
    _write_if_changed(out, "\n".join(lines) + "\n")


def write_api_reference(out):
    """Write the API index: one autosummary table per public sub-package, from its ``__all__``."""
    lines = [
        ".. This page is generated from the __all__ of each public sub-package by",
        "   docs/_generate.py at every build.",
        "",
        "API reference",
        "=============",
        "",
        "Every public name of the library, by sub-package. Each sub-package is importable from the "
        "top (``import neuroopt; neuroopt.sparse``); the names below are imported from their "
        "sub-package, e.g. ``from neuroopt.sparse import MultiTaskLasso``.",
        "",
    ]
    for package, summary in PUBLIC_PACKAGES.items():
        module = importlib.import_module(package)
        names = sorted(getattr(module, "__all__", []))
        lines += [f"``{package}``", "-" * (len(package) + 4), "", summary, "",
                  f".. currentmodule:: {package}", "", ".. autosummary::",
                  "   :toctree: api", "   :template: autosummary/neuroopt.rst", ""]
        lines += [f"   {name}" for name in names]
        lines.append("")
    _write_if_changed(out, "\n".join(lines) + "\n")
