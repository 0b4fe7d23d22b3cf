"""MNE's ``mixed_norm_solver`` (block coordinate descent with active sets), as ``mixed_norm`` calls it.

MNE minimises ``0.5 ||Y - X B||^2 + alpha' ||B||_21`` with an absolute duality-gap tolerance: both
are ``n`` times ours, so ``alpha' = n alpha`` and the tolerance is ``tol * P(0) * n``.
"""

import numpy as np
from benchmark_utils import progress_criterion
from benchopt import BaseSolver
from mne.inverse_sparse.mxne_optim import mixed_norm_solver


class Solver(BaseSolver):
    name = "MNE"
    requirements = ["pip::mne"]
    sampling_strategy = "tolerance"
    stopping_criterion = progress_criterion()
    parameters = {"active_set_size": [10, 50]}

    def set_objective(self, X, Y, alpha, n_orient):
        self.X, self.Y, self.alpha, self.n_orient = X, Y, alpha, n_orient
        self.p0 = float(np.vdot(Y, Y)) / (2 * X.shape[0])

    def run(self, tol):
        n = self.X.shape[0]
        sol, active, _ = mixed_norm_solver(
            self.Y, self.X, self.alpha * n, maxit=3000, tol=tol * self.p0 * n,
            active_set_size=self.active_set_size, debias=False, n_orient=self.n_orient,
            solver="bcd", verbose=False)
        self.B = np.zeros((self.X.shape[1], self.Y.shape[1]))
        self.B[active] = sol

    def get_result(self):
        return dict(B=self.B)
