"""Shared helpers: input checks, logging, thread pinning, atomic writes."""

from ._check import (
    check_array_2d,
    check_finite,
    check_option,
    check_positive,
    check_random_state,
    validate_type,
)
from ._io import atomic_path, atomic_save_npz, atomic_write_bytes, atomic_write_text
from ._logging import log_result, logger, set_log_level, verbose
from ._threads import blas_threads, pin_blas_threads

__all__ = [
    "atomic_path",
    "atomic_save_npz",
    "atomic_write_bytes",
    "atomic_write_text",
    "blas_threads",
    "check_array_2d",
    "check_finite",
    "check_option",
    "check_positive",
    "check_random_state",
    "log_result",
    "logger",
    "pin_blas_threads",
    "set_log_level",
    "validate_type",
    "verbose",
]
