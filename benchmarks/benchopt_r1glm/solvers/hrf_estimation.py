"""hrf-estimation 1.1 (Pedregosa et al.'s reference implementation): L-BFGS-B per voxel on the
joint (HRF, betas, drift coefficients) least squares, first HRF coefficient fixed to 1, started
from the canonical HRF and the canonical GLM's betas as its ``glm`` function does; the curve
runs ``n_iter`` L-BFGS-B iterations per voxel (``maxiter``; projected-gradient tolerance 1e-12).
``bounds=False``: no box on the derivative coefficients, so that it solves the objective's
unconstrained problem.

hrf-estimation is not installable with the project's numpy (its wheel must be built from the
2016 source distribution, which uses ``np.float``); install it with
``pip install --no-deps --no-build-isolation hrf_estimation==1.1``. Its ``rank_one`` itself
runs on current numpy; only module-level code of ``hrf_estimation.hrf`` needs the removed
``np.float`` / ``np.int`` aliases, which are provided while it is imported.
"""

import numpy as np
from benchopt import BaseSolver, safe_import_context

with safe_import_context() as import_ctx:
    from benchmark_utils import canonical_design
    from scipy import sparse

    _restore = {name: getattr(np, name, None) for name in ("float", "int")}
    np.float, np.int = float, int  # removed aliases, used at import time by hrf_estimation.hrf
    try:
        from hrf_estimation.rank_one_ import rank_one
    finally:
        for _name, _value in _restore.items():
            if _value is None:
                delattr(np, _name)


class Solver(BaseSolver):
    name = "hrf-estimation"
    requirements = ["pip::hrf_estimation"]
    sampling_strategy = "iteration"

    def set_objective(self, problem, events, t_r):
        self.design = sparse.csr_matrix(problem["design"])
        self.drifts, self.Y = problem["drifts"], problem["Y"]
        self.n_basis = problem["n_basis"]
        # glm()'s start: canonical HRF (first coefficient 1, as the bound fixes it) and the
        # least-squares betas and drift coefficients of the canonical model
        u0 = problem["canonical_coef"] / problem["canonical_coef"][0]
        canonical = canonical_design(problem) / problem["canonical_coef"][0]
        v0 = np.linalg.lstsq(np.column_stack([canonical, self.drifts]), self.Y, rcond=None)[0]
        self.w_init = np.vstack([np.tile(u0[:, None], (1, self.Y.shape[1])), v0])

    def warm_up(self):
        pass  # pure numpy / scipy

    def run(self, n_iter):
        self.hrf_coef, self.betas = rank_one(
            self.design, self.Y, self.n_basis, w_i=self.w_init, drifts=self.drifts, rtol=1e-12,
            maxiter=n_iter, bounds=False)

    def get_result(self):
        return dict(hrf_coef=np.asarray(self.hrf_coef), betas=np.asarray(self.betas))
