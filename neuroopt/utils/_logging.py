"""Logging in MNE's style: a package logger and a ``verbose`` decorator.

Inside a workflow job (:func:`neuroopt.pipeline.rule.run_rule`) every record goes to the job's log
file; the terminal gets one line when the job starts, one when it ends (with the results logged
through :func:`log_result`) and the warnings.
"""

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


def log_result(message):
    """Log a key result of a workflow step (numbers with units), shown on the job's "done" line.

    Parameters
    ----------
    message : str
        A short phrase, e.g. ``"peak ROC AUC 0.93 at 0.12 s (chance 0.50)"``.
    """
    logger.info(message, extra={"result": True})


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
