"""Multitask Lasso (MxNE) with the scaling of ``neuroopt.sparse.MultiTaskLasso``.

    min_B  ||Y - X B||_F^2 / (2 n)  +  alpha * sum_g ||B_g||_F

where ``g`` runs over blocks of ``n_orient`` rows of B (1: fixed orientation, 3: free
orientation, the MxNE of MNE's ``mixed_norm``). ``alpha = reg * alpha_max``. Besides the
objective value, every result is certified by its duality gap (absolute and relative to the
objective at zero), computed by the same numpy code for every solver.
"""

import numpy as np
from benchmark_utils import alpha_max, mtl_duality_gap, mtl_primal
from benchopt import BaseObjective


class Objective(BaseObjective):
    name = "Multitask Lasso (MxNE)"
    min_benchopt_version = "1.5"
    requirements = ["pip::numpy"]
    parameters = {"reg": [0.5, 0.2, 0.1]}
    sampling_strategy = "tolerance"
    test_config = {"dataset": {"name": "Simulated"}}

    def set_data(self, X, Y, n_orient):
        self.X, self.Y, self.n_orient = X, Y, n_orient
        self.alpha = self.reg * alpha_max(X, Y, n_orient)
        self.p0 = float(np.vdot(Y, Y)) / (2 * X.shape[0])

    def get_objective(self):
        return dict(X=self.X, Y=self.Y, alpha=self.alpha, n_orient=self.n_orient)

    def evaluate_result(self, B):
        gap = mtl_duality_gap(self.X, self.Y, B, self.alpha, self.n_orient)
        active = int((np.abs(B).reshape(B.shape[0] // self.n_orient, -1).sum(axis=1) > 0).sum())
        return dict(value=mtl_primal(self.X, self.Y, B, self.alpha, self.n_orient),
                    duality_gap=gap, relative_duality_gap=gap / self.p0, value_at_zero=self.p0,
                    n_active=active)

    def get_one_result(self):
        return dict(B=np.zeros((self.X.shape[1], self.Y.shape[1])))
