"""skglm's MultiTaskLasso (working sets + Anderson-accelerated BCD, Numba), fixed orientation only.

skglm's ``tol`` bounds its optimality (KKT) violation, in the units of the gradient, with no
duality gap: the benchmark's relative tolerance is scaled by ``alpha`` (a violation of ``tol *
alpha``), so that the first, loose tolerances already move away from zero (unscaled, they returned
the zero solution on the real data, and benchopt stopped the curve for lack of progress). The
objective's gap certifies the result, as for every solver.
"""

import numpy as np
from benchmark_utils import progress_criterion
from benchopt import BaseSolver
from skglm import MultiTaskLasso


class Solver(BaseSolver):
    name = "skglm"
    requirements = ["pip::skglm"]
    sampling_strategy = "tolerance"
    stopping_criterion = progress_criterion()

    def skip(self, X, Y, alpha, n_orient):
        if n_orient != 1:
            return True, "skglm's MultiTaskLasso has no blocks of several orientations"
        return False, None

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha = np.asfortranarray(X), Y, alpha

    def warm_up(self):
        self.run(1e-3)  # Numba compilation, not timed

    def run(self, tol):
        est = MultiTaskLasso(self.alpha, fit_intercept=False, tol=tol * self.alpha, max_iter=200,
                             max_epochs=200_000)
        self.B = np.ascontiguousarray(est.fit(self.X, self.Y).coef_.T)

    def get_result(self):
        return dict(B=self.B)
