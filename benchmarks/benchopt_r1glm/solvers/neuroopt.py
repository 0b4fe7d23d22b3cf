"""neuroopt.fmri.R1GLM: alternating least squares per voxel on precomputed Gram matrices
(Numba), started from the rank-1 SVD of the unconstrained GLM; the curve runs ``n_iter`` ALS
iterations per voxel (a voxel whose loss stops decreasing, below ``1e-15 ||y_v||^2``, stops
earlier)."""

import numpy as np
from benchopt import BaseSolver

from neuroopt.fmri.estimators import R1GLM


class Solver(BaseSolver):
    name = "neuroopt"
    requirements = ["pip::neuroopt"]
    sampling_strategy = "iteration"

    def set_objective(self, problem, events, t_r):
        self.Y, self.events, self.t_r = problem["Y"], events, t_r

    def warm_up(self):
        self.run(5)  # Numba compilation (or cache load), not timed

    def run(self, n_iter):
        # the plain rank-1 least squares of the objective: no HRF prior, no prewhitening
        est = R1GLM(t_r=self.t_r, basis="3hrf", drift_model="cosine", high_pass=0.01,
                    noise_model="ols", hrf_shrinkage=0.0, tol=1e-15, max_iter=max(n_iter, 1))
        est.fit(self.Y, self.events)
        self.hrf_coef, self.betas = est.hrf_coef_, est.betas_

    def get_result(self):
        return dict(hrf_coef=np.asarray(self.hrf_coef), betas=np.asarray(self.betas))
