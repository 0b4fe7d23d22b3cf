"""Representational similarity analysis: noise-normalised distances, model comparison, inference.

Per subject: :func:`crossnobis` (arrays) or :func:`epochs_rdms` (MNE epochs) give RDM stacks
(:class:`RDMStack`, saved with their time axis); :func:`searchlight_rdms` for fMRI volumes.
Group: :func:`evaluate_models` (model fits, noise ceiling, bootstrap, cluster tests).
"""

from .compare import compare_paired, compare_rdms, cosine_whitened, pool_rdms, rho_a, tau_a
from .distances import condition_order, correlation, crossnobis, euclidean, mahalanobis
from .inference import ModelComparisonResult, evaluate_models, noise_ceiling, stack_subject_rdms
from .models import load_model_rdm, model_rdm_from_labels
from .noise import LowRankPrecision, cov_from_residuals, prec_from_residuals
from .rdm import RDMStack, epochs_rdms, pairs_to_square, roi_rdms, square_to_pairs
from .searchlight import searchlight_crossnobis, searchlight_neighbors, searchlight_rdms
from .simulation import SimulatedPatterns, simulate_patterns

__all__ = [
    "LowRankPrecision",
    "ModelComparisonResult",
    "RDMStack",
    "SimulatedPatterns",
    "compare_paired",
    "compare_rdms",
    "condition_order",
    "correlation",
    "cosine_whitened",
    "cov_from_residuals",
    "crossnobis",
    "epochs_rdms",
    "euclidean",
    "evaluate_models",
    "load_model_rdm",
    "mahalanobis",
    "model_rdm_from_labels",
    "noise_ceiling",
    "pairs_to_square",
    "pool_rdms",
    "prec_from_residuals",
    "rho_a",
    "roi_rdms",
    "searchlight_crossnobis",
    "searchlight_neighbors",
    "searchlight_rdms",
    "simulate_patterns",
    "square_to_pairs",
    "stack_subject_rdms",
    "tau_a",
]
