"""Solvers of :mod:`neuroopt.sparse`: numba block coordinate descent, dual points, Gram caches,
working sets."""

from .bcd import bcd_gram_epochs
from .dual import AndersonExtrapolator, dual_from_residual
from .gram import GradientCache, group_columns
from .working_set import (
    SolverResult,
    check_solver_requirements,
    group_spectral_norms,
    solve_working_set,
    warmup,
)

__all__ = [
    "AndersonExtrapolator",
    "GradientCache",
    "SolverResult",
    "bcd_gram_epochs",
    "check_solver_requirements",
    "dual_from_residual",
    "group_columns",
    "group_spectral_norms",
    "solve_working_set",
    "warmup",
]
