"""Logging in MNE's style: a package logger and a ``verbose`` decorator."""

from __future__ import annotations

import functools
import inspect
import logging

logger = logging.getLogger("neuroopt")
if not logger.handlers:
    _handler = logging.StreamHandler()
    _handler.setFormatter(logging.Formatter("%(message)s"))
    logger.addHandler(_handler)
    logger.setLevel(logging.WARNING)
    logger.propagate = False

_LEVELS = {
    True: logging.INFO,
    False: logging.WARNING,
    "debug": logging.DEBUG,
    "info": logging.INFO,
    "warning": logging.WARNING,
    "error": logging.ERROR,
}


def set_log_level(verbose=None):
    """Set the neuroopt log level (``True``/``"info"``, ``False``/``"warning"``, ``"debug"``...)."""
    if verbose is None:
        return logger.level
    if isinstance(verbose, str):
        verbose = verbose.lower()
    if verbose not in _LEVELS and not isinstance(verbose, int):
        raise ValueError(f"verbose must be a bool, an int or one of {list(_LEVELS)[2:]}, got {verbose!r}.")
    old = logger.level
    logger.setLevel(_LEVELS.get(verbose, verbose))
    return old


def verbose(function):
    """Decorator: a ``verbose`` argument of the wrapped function sets the log level for the call."""
    signature = inspect.signature(function)
    if "verbose" not in signature.parameters:
        raise RuntimeError(f"{function.__name__} needs a 'verbose' parameter to use @verbose.")

    @functools.wraps(function)
    def wrapper(*args, **kwargs):
        bound = signature.bind_partial(*args, **kwargs)
        level = bound.arguments.get("verbose")
        if level is None:
            return function(*args, **kwargs)
        old = set_log_level(level)
        try:
            return function(*args, **kwargs)
        finally:
            logger.setLevel(old)

    return wrapper
