"""M/EEG: preprocessing, forward models and sparse source estimation."""

from .cleaned_forward import clean_forward, cleaning_operator
from .forward import make_sphere_forward
from .inverse import SparseInverseSolution, quantile_universal_alpha, sparse_inverse, write_sparse_solution
from .source_scoring import score_sources_against_truth, source_amplitudes, source_positions

__all__ = [
    "SparseInverseSolution",
    "clean_forward",
    "cleaning_operator",
    "make_sphere_forward",
    "quantile_universal_alpha",
    "score_sources_against_truth",
    "source_amplitudes",
    "source_positions",
    "sparse_inverse",
    "write_sparse_solution",
]
