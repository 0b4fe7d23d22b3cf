"""Check a workflow config against ``config/schema.yaml``: one readable line per problem.

Snakemake's ``validate`` stops at the first problem and prints it followed by the whole schema
(about 140 lines for an unknown key); :func:`check_config` lists every problem on one line each,
with the key's dotted path and, for a misspelt key, the closest known one.
"""

from __future__ import annotations

import difflib

import yaml


class ConfigError(ValueError):
    """The config does not follow the schema; the message lists every problem, one per line."""


def _path(error):
    return ".".join(str(p) for p in error.absolute_path)


def _known_keys(schema):
    return list(schema.get("properties", {}))


def _all_paths(schema, prefix=""):
    """Dotted path of every key the schema knows, e.g. ``fmri.smoothing_fwhm``."""
    paths = []
    for key, sub in schema.get("properties", {}).items():
        paths.append(prefix + key)
        if isinstance(sub, dict):
            paths += _all_paths(sub, f"{prefix}{key}.")
    return paths


def _hint(key, prefix, known, root):
    """``did you mean ...?`` from the keys beside ``key``, else from any key of the schema.

    Beside ``key``, a key that starts with it (or that it starts with) comes first: a shortened
    name (``zscore`` for ``zscore_threshold``) is a closer guess than a similar word elsewhere.
    """
    name = str(key)
    close = [k for k in known if k.startswith(name) or name.startswith(k)]
    close = close or difflib.get_close_matches(name, known, n=1, cutoff=0.6)
    if close:
        return f"did you mean {prefix}{close[0]}?"
    paths = _all_paths(root)
    by_leaf = {}
    for path in paths:
        by_leaf.setdefault(path.rsplit(".", 1)[-1], path)
    close = difflib.get_close_matches(str(key), list(by_leaf), n=1, cutoff=0.6)
    if close:
        return f"did you mean {by_leaf[close[0]]}?"
    return f"known keys here: {', '.join(known)}"


def _describe(error, root):
    """One-line descriptions of a jsonschema ``ValidationError`` (several for unknown keys)."""
    where = _path(error)
    prefix = f"{where}." if where else ""
    if error.validator == "additionalProperties":
        known = _known_keys(error.schema)
        lines = []
        for key in sorted(set(error.instance) - set(known)):
            lines.append(f"{prefix}{key}: unknown key; {_hint(key, prefix, known, root)}")
        return lines
    if error.validator in ("oneOf", "anyOf"):
        options = [c.message for c in error.context if not c.relative_path] or [error.message]
        return [f"{where}: {error.instance!r} is not valid; it must match one of: " + "; or ".join(dict.fromkeys(options))]
    return [f"{where or '(top level)'}: {error.message}"]


def config_problems(config, schema):
    """Every way ``config`` breaks ``schema``, one line each (empty when the config is valid).

    Parameters
    ----------
    config : dict
        The merged workflow config.
    schema : dict | path-like
        The JSON schema (a dict, or the path of ``config/schema.yaml``).

    Returns
    -------
    problems : list of str
        Lines such as ``meeg.lfreq: unknown key; did you mean meeg.l_freq?``.
    """
    import jsonschema

    if not isinstance(schema, dict):
        with open(schema) as fid:
            schema = yaml.safe_load(fid)
    validator_class = jsonschema.validators.validator_for(schema)
    return sorted(line for error in validator_class(schema).iter_errors(config) for line in _describe(error, schema))


def check_config(config, schema):
    """Raise :class:`ConfigError` listing every problem of ``config`` (see :func:`config_problems`).

    Parameters
    ----------
    config : dict
        The merged workflow config.
    schema : dict | path-like
        The JSON schema (a dict, or the path of ``config/schema.yaml``).
    """
    problems = config_problems(config, schema)
    if problems:
        lines = "\n".join(f"  - {p}" for p in problems)
        raise ConfigError(
            f"The config has {len(problems)} problem(s) (keys as in config/schema.yaml; "
            f"`neuroopt config` prints the defaults with comments):\n{lines}"
        )
