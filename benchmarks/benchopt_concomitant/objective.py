"""Smoothed concomitant multitask Lasso (SGCL; the square-root Lasso with one noise group).

    min_{B, sigma_k >= sigma_min}  sum_k ||Y_k - X_k B||_F^2 / (2 n T sigma_k) + n_k sigma_k / (2 n)
                                   + alpha sum_j ||B_j||_2

with ``k`` over sensor groups (sensor types, or one group: the multitask square-root Lasso),
the scaling of ``neuroopt.sparse.SGCL`` (Massias et al., AISTATS 2018). ``alpha = reg *
alpha_max``. Results are certified by the duality gap computed in numpy for every solver.
"""

import numpy as np
from benchmark_utils import sgcl_alpha_max, sgcl_duality_gap, sgcl_primal
from benchopt import BaseObjective


class Objective(BaseObjective):
    name = "Concomitant multitask Lasso (SGCL)"
    min_benchopt_version = "1.5"
    requirements = ["pip::numpy"]
    parameters = {"reg": [0.5, 0.2, 0.1], "noise_groups": ["types", "one"],
                  "sigma_min": [1e-6]}
    sampling_strategy = "tolerance"
    test_config = {"dataset": {"name": "Simulated"}}

    def set_data(self, X, Y, sensor_types):
        self.X, self.Y = X, Y
        labels = sensor_types if self.noise_groups == "types" else np.zeros(len(Y))
        self.group_index = np.unique(labels, return_inverse=True)[1]
        self.alpha = self.reg * sgcl_alpha_max(X, Y, self.group_index, self.sigma_min)
        self.p0 = sgcl_primal(X, Y, np.zeros((X.shape[1], Y.shape[1])), 0.0, self.group_index,
                              self.sigma_min)

    def get_objective(self):
        return dict(X=self.X, Y=self.Y, alpha=self.alpha, group_index=self.group_index,
                    sigma_min=self.sigma_min)

    def evaluate_result(self, B):
        args = (self.X, self.Y, B, self.alpha, self.group_index, self.sigma_min)
        gap = sgcl_duality_gap(*args)
        return dict(value=sgcl_primal(*args), duality_gap=gap,
                    relative_duality_gap=gap / self.p0, value_at_zero=self.p0,
                    n_active=int((np.abs(B).sum(axis=1) > 0).sum()))

    def get_one_result(self):
        return dict(B=np.zeros((self.X.shape[1], self.Y.shape[1])))
