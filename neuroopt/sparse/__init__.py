"""Sparse multitask source estimation on arrays (gain X, data Y).

Estimators: :class:`MultiTaskLasso` (MxNE), :class:`MultiTaskSqrtLasso`, :class:`SGCL` and
:class:`CLaR`, all solved by one working-set block coordinate descent (``solvers``) built from a
datafit (``datafits``) and a penalty (``penalties``); :func:`lasso_path` for warm-started paths; ``alpha="auto" | "sure" | "cv"``
chosen by :func:`search_alpha` with the criteria of :mod:`~neuroopt.sparse.criteria`.
"""

from .alpha_search import AlphaSearchResult, quantile_universal_alpha, search_alpha
from .concomitant import SGCL, CLaR, MultiTaskSqrtLasso
from .multitask import MultiTaskLasso, lasso_path
from .solvers import warmup

__all__ = ["AlphaSearchResult", "CLaR", "MultiTaskLasso", "MultiTaskSqrtLasso", "SGCL", "lasso_path",
           "quantile_universal_alpha", "search_alpha", "warmup"]
