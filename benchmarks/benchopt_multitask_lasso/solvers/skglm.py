"""skglm's MultiTaskLasso (working sets + Anderson-accelerated BCD, Numba), fixed orientation only.

skglm's ``tol`` bounds its optimality violation (no duality gap), so its curve is sampled over the
same decreasing tolerances and certified by the objective's gap.
"""

import numpy as np
from benchopt import BaseSolver
from skglm import MultiTaskLasso


class Solver(BaseSolver):
    name = "skglm"
    requirements = ["pip::skglm"]
    sampling_strategy = "tolerance"

    def skip(self, X, Y, alpha, n_orient):
        if n_orient != 1:
            return True, "skglm's MultiTaskLasso has no blocks of several orientations"
        return False, None

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha = np.asfortranarray(X), Y, alpha

    def warm_up(self):
        self.run(1e-3)  # Numba compilation, not timed

    def run(self, tol):
        est = MultiTaskLasso(self.alpha, fit_intercept=False, tol=tol, max_iter=200,
                             max_epochs=200_000)
        self.B = np.ascontiguousarray(est.fit(self.X, self.Y).coef_.T)

    def get_result(self):
        return dict(B=self.B)
