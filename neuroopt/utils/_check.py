"""Input validation whose errors name the argument, the value and the fix."""

from __future__ import annotations

import numbers

import numpy as np


def check_random_state(seed):
    """Turn ``seed`` (None, int or RandomState) into a ``numpy.random.RandomState``.

    scikit-learn's function, imported when first called: importing scikit-learn costs ~1 s, which
    every ``snakemake`` start (planning) would pay through ``neuroopt.utils``.
    """
    from sklearn.utils import check_random_state as _sklearn_check_random_state

    return _sklearn_check_random_state(seed)


def _type_names(types):
    if not isinstance(types, tuple):
        types = (types,)
    return " or ".join(getattr(t, "__name__", str(t)) for t in types)


def validate_type(value, types, name):
    """Raise TypeError naming ``name`` if ``value`` is not an instance of ``types``."""
    if not isinstance(value, types):
        raise TypeError(
            f"{name} must be an instance of {_type_names(types)}, got {type(value).__name__} "
            f"({value!r:.80})."
        )
    return value


def check_option(key, value, allowed):
    """Raise ValueError naming ``key`` if ``value`` is not one of ``allowed`` (MNE's ``_check_option``).

    Parameters
    ----------
    key : str
        Name of the argument (or config key) checked, used in the message.
    value : object
        The value given.
    allowed : sequence
        The accepted values.

    Returns
    -------
    value : object
        ``value``, unchanged.
    """
    if isinstance(allowed, str) or not isinstance(key, str):
        raise TypeError(
            f"check_option takes (key, value, allowed) like MNE's _check_option; got key={key!r}, "
            f"allowed={allowed!r}: put the argument's name first."
        )
    if value not in allowed:
        raise ValueError(
            f"Invalid value for the '{key}' parameter: {value!r}. Allowed values are "
            f"{', '.join(repr(a) for a in allowed)}."
        )
    return value


def check_positive(value, name, strict=True):
    """Check that a scalar is a finite number > 0 (or >= 0 with ``strict=False``)."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__} ({value!r:.80}).")
    if not np.isfinite(value) or (value <= 0 if strict else value < 0):
        bound = "> 0" if strict else ">= 0"
        raise ValueError(f"{name} must be a finite number {bound}, got {value!r}.")
    return float(value)


def check_finite(array, name):
    """Raise ValueError naming ``name`` and the count of bad entries if ``array`` has NaN/inf."""
    array = np.asarray(array)
    if array.dtype.kind in "fc" and not np.all(np.isfinite(array)):
        n_bad = int(np.size(array) - np.count_nonzero(np.isfinite(array)))
        raise ValueError(
            f"{name} contains {n_bad} NaN or infinite value(s) out of {array.size}; remove or "
            "interpolate them (or mask the affected voxels/channels) before fitting."
        )
    return array


def check_array_2d(array, name, dtype=np.float64, allow_nan=False):
    """Return ``array`` as a C-contiguous 2D float array, with errors naming ``name``."""
    try:
        out = np.asarray(array, dtype=dtype)
    except (TypeError, ValueError) as err:
        raise TypeError(f"{name} must be a numeric array, got {type(array).__name__}: {err}") from err
    if out.ndim != 2:
        raise ValueError(f"{name} must be 2D, got an array of shape {out.shape}.")
    if not allow_nan:
        check_finite(out, name)
    return np.ascontiguousarray(out)
