"""scikit-learn's MultiTaskLasso (cyclic coordinate descent), fixed orientation only.

scikit-learn stops when its gap (``n`` times ours) is below ``tol ||Y||^2``, i.e. ours below
``2 tol P(0)``: ``tol / 2`` matches a gap relative to the objective at zero.
"""

import warnings

import numpy as np
from benchmark_utils import progress_criterion
from benchopt import BaseSolver
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import MultiTaskLasso


class Solver(BaseSolver):
    name = "scikit-learn"
    requirements = ["pip::scikit-learn"]
    sampling_strategy = "tolerance"
    stopping_criterion = progress_criterion()

    def skip(self, X, Y, alpha, n_orient):
        if n_orient != 1:
            return True, "scikit-learn's MultiTaskLasso has no blocks of several orientations"
        return False, None

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha = np.asfortranarray(X), Y, alpha

    def run(self, tol):
        est = MultiTaskLasso(self.alpha, fit_intercept=False, tol=tol / 2, max_iter=100_000)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", ConvergenceWarning)
            self.B = np.ascontiguousarray(est.fit(self.X, self.Y).coef_.T)

    def get_result(self):
        return dict(B=self.B)
