"""celer's multitask Lasso path solver (working sets, dual extrapolation), fixed orientation only.

celer stops when its gap is below ``tol * ||Y||^2 / n = 2 tol P(0)``: ``tol / 2`` matches a gap
relative to the objective at zero.
"""

import numpy as np
from benchmark_utils import progress_criterion
from benchopt import BaseSolver
from celer.homotopy import mtl_path


class Solver(BaseSolver):
    name = "celer"
    requirements = ["pip::celer"]
    sampling_strategy = "tolerance"
    stopping_criterion = progress_criterion()

    def skip(self, X, Y, alpha, n_orient):
        if n_orient != 1:
            return True, "celer has no blocks of several orientations (n_orient > 1)"
        return False, None

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha = np.asfortranarray(X), Y, alpha

    def warm_up(self):
        self.run(1e-3)

    def run(self, tol):
        _, coefs, _ = mtl_path(self.X, self.Y, alphas=[self.alpha], tol=tol / 2,
                               max_epochs=200_000, max_iter=200)
        self.B = np.ascontiguousarray(coefs[:, :, 0].T)

    def get_result(self):
        return dict(B=self.B)
