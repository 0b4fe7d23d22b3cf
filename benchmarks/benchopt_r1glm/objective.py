"""Rank-1 GLM (Pedregosa et al., NeuroImage 2015): one HRF per voxel shared by all conditions.

    min_{w_v, beta_v}  sum_v ||P (y_v - X vec(w_v beta_v^T))||^2

with ``X`` the condition x basis design (SPM canonical HRF and its two derivatives), ``P`` the
projector orthogonal to the cosine drifts and the constant (their coefficients minimised out),
and no prior on the HRF shape (``hrf_shrinkage=0``, ``noise_model="ols"`` in
``neuroopt.fmri.R1GLM``). The problem is not convex (bilinear); the value reported is the
residual sum of squares relative to the drift-free data's, so 1 is the zero model and the
suboptimality is measured against the best value any solver reached. The canonical GLM's value
(the HRF fixed to SPM's canonical one) is reported beside it as a reference.
"""

import numpy as np
from benchmark_utils import canonical_design, r1glm_problem, r1glm_rss
from benchopt import BaseObjective

from neuroopt.fmri.design import project_out


class Objective(BaseObjective):
    name = "Rank-1 GLM"
    min_benchopt_version = "1.5"
    requirements = ["pip::numpy"]
    sampling_strategy = "iteration"
    test_config = {"dataset": {"name": "Simulated"}}

    def set_data(self, Y, events, t_r):
        self.problem = r1glm_problem(Y, events, t_r)
        self.events, self.t_r = events, t_r
        P = self.problem
        R = project_out(P["drifts"], P["Y"])
        self.voxel_total = np.einsum("ij,ij->j", R, R)
        # reference: the canonical GLM (the rank-1 model with the HRF fixed to SPM's canonical)
        u = P["canonical_coef"]
        betas = np.linalg.lstsq(project_out(P["drifts"], canonical_design(P)), R, rcond=None)[0]
        self.canonical_value = float(r1glm_rss(P["design"], P["drifts"], P["Y"],
                                               np.tile(u[:, None], (1, R.shape[1])), betas).sum()
                                     / self.voxel_total.sum())

    def get_objective(self):
        return dict(problem=self.problem, events=self.events, t_r=self.t_r)

    def evaluate_result(self, hrf_coef, betas):
        P = self.problem
        rss = r1glm_rss(P["design"], P["drifts"], P["Y"], hrf_coef, betas)
        return dict(value=float(rss.sum() / self.voxel_total.sum()), value_at_zero=1.0,
                    canonical_glm_value=self.canonical_value,
                    median_voxel_r2=float(np.median(1 - rss / np.maximum(self.voxel_total, 1e-300))))

    def get_one_result(self):
        n_voxels = self.problem["Y"].shape[1]
        return dict(hrf_coef=np.zeros((self.problem["n_basis"], n_voxels)),
                    betas=np.zeros((len(self.problem["conditions"]), n_voxels)))
