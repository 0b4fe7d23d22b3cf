"""neuroopt.sparse.SGCL: the working-set BCD of the multitask Lasso with closed-form noise updates
inside the inner solves; ``tol`` is the duality gap relative to the objective at zero."""

import numpy as np
from benchopt import BaseSolver

from neuroopt.sparse import SGCL, warmup


class Solver(BaseSolver):
    name = "neuroopt"
    requirements = ["pip::neuroopt"]
    sampling_strategy = "tolerance"

    def set_objective(self, X, Y, alpha, group_index, sigma_min):
        self.X, self.Y, self.alpha = X, Y, alpha
        self.group_index, self.sigma_min = group_index, sigma_min

    def warm_up(self):
        warmup()
        self.run(1e-4)

    def run(self, tol):
        est = SGCL(alpha=self.alpha, sensor_groups=self.group_index, sigma_min=self.sigma_min,
                   tol=tol, max_iter=1000)
        self.B = np.ascontiguousarray(est.fit(self.X, self.Y).coef_.T)

    def get_result(self):
        return dict(B=self.B)
