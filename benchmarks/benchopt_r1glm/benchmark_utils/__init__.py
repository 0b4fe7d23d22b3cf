"""Helpers shared by the datasets, objective and solvers of the R1-GLM benchmark.

The design and the drift space are built by neuroopt's own functions (the ones ``R1GLM`` uses),
so every solver fits the same least-squares problem; the data folder is resolved as in
``benchmarks/sample_mxne.py``.
"""

import os
from pathlib import Path

import numpy as np

# One BLAS thread for every solver (as in neuroopt's own benchmarks on 2-core machines).
from threadpoolctl import threadpool_limits

threadpool_limits(1)

BENCH_DIR = Path(__file__).resolve().parents[2]
HRF_LENGTH = 32.0
HIGH_PASS = 0.01


def shared_data_dir(name):
    """Folder ``name`` of the shared real data; a clear error when it is absent."""
    env = os.environ.get("NEUROOPT_SHARED_DATA")
    root = Path(env) if env else BENCH_DIR.parents[1] / "shared" / "data"
    folder = root / name
    if not folder.is_dir():
        raise FileNotFoundError(
            f"The dataset folder {folder} was not found: clone the repository beside shared/ (so "
            "that ../shared/data exists) or set NEUROOPT_SHARED_DATA to the shared data/ folder."
        )
    return folder


def r1glm_problem(Y, events, t_r):
    """Design of the R1-GLM least squares, as ``neuroopt.fmri.R1GLM`` builds it (3hrf basis).

    Returns
    -------
    problem : dict
        ``design`` (n_scans, n_conditions * n_basis; condition-major columns, not drift-free),
        ``drifts`` (n_scans, n_drifts; orthonormal cosine drifts + constant), ``Y`` (the data),
        ``n_basis``, ``conditions`` and ``canonical_coef`` (basis coefficients of the SPM
        canonical HRF, unit norm).
    """
    from neuroopt.fmri.design import check_events, condition_design, drift_basis
    from neuroopt.fmri.hrf_basis import HRFBasis

    n_scans = Y.shape[0]
    basis = HRFBasis("3hrf", t_r=t_r, hrf_length=HRF_LENGTH)
    events = check_events(events, n_scans, t_r)
    conditions = np.array(sorted(set(events["trial_type"])))
    return dict(design=condition_design(events, basis, n_scans, t_r, conditions),
                drifts=drift_basis(n_scans, t_r, "cosine", HIGH_PASS), Y=np.asarray(Y, float),
                n_basis=basis.n_basis, conditions=conditions,
                canonical_coef=basis.canonical_coef())


def canonical_design(problem):
    """Design (n_scans, n_conditions) of the canonical GLM: one SPM canonical regressor per
    condition (the HRF coefficients ``canonical_coef``)."""
    u = problem["canonical_coef"]
    return problem["design"] @ np.kron(np.eye(len(problem["conditions"])), u[:, None])


def rank1_coef(hrf_coef, betas):
    """Coefficients (n_conditions * n_basis, n_voxels) of the rank-1 model ``w_v beta_v^T``."""
    n_basis, n_voxels = hrf_coef.shape
    return np.einsum("bv,cv->cbv", hrf_coef, betas).reshape(-1, n_voxels)


def r1glm_rss(design, drifts, Y, hrf_coef, betas):
    """Residual sum of squares of each voxel, drifts projected out (their best fit)."""
    from neuroopt.fmri.design import project_out

    R = project_out(drifts, Y - design @ rank1_coef(hrf_coef, betas))
    return np.einsum("ij,ij->j", R, R)


__all__ = ["canonical_design", "r1glm_problem", "r1glm_rss", "rank1_coef", "shared_data_dir"]
