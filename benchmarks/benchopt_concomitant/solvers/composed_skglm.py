"""What a user can build today: skglm's multitask BCD alternated with SGCL's closed-form noise update.

With the noise levels fixed, the SGCL objective times ``T`` is a multitask Lasso on the rows of
``X`` and ``Y`` divided by ``sqrt(sigma_k)``; skglm solves it (warm-started), then the noise levels
are updated from the residual, until the objective changes by less than the tolerance. The code
is ``composed_skglm`` of ``benchmarks/bench_sparse.py``; ``tol`` is skglm's inner tolerance and the
outer stop.
"""

import numpy as np
from bench_sparse import composed_skglm
from benchmark_utils import sgcl_primal
from benchopt import BaseSolver


class Solver(BaseSolver):
    name = "composed skglm"
    requirements = ["pip::skglm"]
    sampling_strategy = "tolerance"

    def set_objective(self, X, Y, alpha, group_index, sigma_min):
        self.X, self.Y, self.alpha = X, Y, alpha
        self.group_index, self.sigma_min = group_index, sigma_min

    def warm_up(self):
        self.run(1e-3)  # Numba compilation, not timed

    def run(self, tol):
        previous = [np.inf]

        def stop(W):  # outer loop: relative change of the objective below tol
            value = sgcl_primal(self.X, self.Y, W, self.alpha, self.group_index, self.sigma_min)
            done = previous[0] - value <= tol * abs(value)
            previous[0] = value
            return done

        W, _ = composed_skglm(self.X, self.Y, self.alpha, self.group_index, self.sigma_min,
                              tol, stop)
        self.B = np.ascontiguousarray(W)

    def get_result(self):
        return dict(B=self.B)
