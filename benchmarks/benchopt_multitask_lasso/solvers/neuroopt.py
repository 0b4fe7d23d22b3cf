"""neuroopt.sparse.MultiTaskLasso: working-set block coordinate descent (Numba), Anderson
acceleration and dual extrapolation; ``tol`` is the duality gap relative to the objective at 0."""

import numpy as np
from benchmark_utils import progress_criterion
from benchopt import BaseSolver

from neuroopt.sparse import MultiTaskLasso, warmup


class Solver(BaseSolver):
    name = "neuroopt"
    requirements = ["pip::neuroopt"]
    sampling_strategy = "tolerance"
    stopping_criterion = progress_criterion()

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha, self.n_orient = X, Y, alpha, n_orient

    def warm_up(self):
        warmup()  # Numba compilation (or cache load), not timed
        self.run(1e-4)

    def run(self, tol):
        est = MultiTaskLasso(alpha=self.alpha, n_orient=self.n_orient, tol=tol, max_iter=1000)
        self.B = np.ascontiguousarray(est.fit(self.X, self.Y).coef_.T)

    def get_result(self):
        return dict(B=self.B)
