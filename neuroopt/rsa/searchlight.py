"""Searchlight RSA on a volume: one crossnobis RDM per sphere of voxels.

With no or diagonal noise normalisation the crossnobis estimate is a sum of per-voxel terms, so
the RDMs of all spheres come from one sparse product ``neighbours @ per_voxel_terms``. Shrinkage
noise couples the voxels of a sphere and is computed sphere by sphere (slower).
"""

from __future__ import annotations

import numpy as np
from scipy import sparse

from ..utils import check_array_2d, check_option, check_positive, logger, verbose
from ._design import make_design
from .distances import _cell_means, _crossnobis_from_gram, crossnobis
from .rdm import RDMStack


def searchlight_neighbors(mask_img, radius):
    """Sparse (n_voxels, n_voxels) 0/1 matrix: voxel j lies within ``radius`` mm of centre i.

    Voxels are the in-mask voxels in the order of ``nilearn.masking.apply_mask``.

    Parameters
    ----------
    mask_img : Nifti1Image
        Brain mask; its voxels are the centres and the neighbours.
    radius : float
        Sphere radius in mm.

    Returns
    -------
    neighbors : scipy.sparse.csr_matrix, shape (n_voxels, n_voxels)
    """
    from nilearn.image import load_img
    from sklearn.neighbors import radius_neighbors_graph

    radius = check_positive(radius, "radius")
    mask_img = load_img(mask_img)
    mask = np.asarray(mask_img.dataobj).astype(bool)
    ijk = np.argwhere(mask)  # C order, as nilearn's apply_mask
    xyz = ijk @ mask_img.affine[:3, :3].T + mask_img.affine[:3, 3]
    graph = radius_neighbors_graph(xyz, radius, mode="connectivity", include_self=True)
    return sparse.csr_matrix(graph)


def _per_voxel_crossnobis(data, design):
    """Crossnobis terms of each voxel, shape (n_voxels, n_pairs), before dividing by sphere size."""
    data_t = np.ascontiguousarray(data[None])  # (1, n_trials, n_voxels)
    means, _ = _cell_means(data_t, design)
    n_voxels = data.shape[1]
    # the crossnobis of a single voxel is the Gram-based estimate with a 1 x 1 "channel" set;
    # evaluate all voxels at once by putting voxels on the batch axis
    per_voxel = means[0].T[:, :, None]  # (n_voxels, n_cells, 1)
    gram = np.matmul(per_voxel, per_voxel.transpose(0, 2, 1))
    return _crossnobis_from_gram(gram, design).reshape(n_voxels, -1)


@verbose
def searchlight_crossnobis(data, conditions, runs, neighbors, noise="diag", verbose=None):
    """Crossnobis RDM of every searchlight sphere.

    Parameters
    ----------
    data : ndarray, shape (n_trials, n_voxels)
        Trial patterns (e.g. R1-GLMS betas) of the in-mask voxels.
    conditions, runs : array-like, shape (n_trials,)
        Condition and run of each trial.
    neighbors : sparse matrix, shape (n_centres, n_voxels)
        Sphere membership (:func:`searchlight_neighbors`).
    noise : None | "diag" | "shrinkage_diag" | "shrinkage_eye"
        Noise normalisation within each sphere, estimated from the (run, condition) residuals.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    ndarray, shape (n_centres, n_pairs)
        Equal to :func:`neuroopt.rsa.crossnobis` on each sphere's voxels.
    """
    check_option("noise", noise, (None, "diag", "shrinkage_diag", "shrinkage_eye"))
    data = check_array_2d(data, "data")
    neighbors = sparse.csr_matrix(neighbors)
    if neighbors.shape[1] != data.shape[1]:
        raise ValueError(f"neighbors has {neighbors.shape[1]} columns but data has {data.shape[1]} voxels.")
    design = make_design(conditions, runs, data.shape[0], require_runs=True)
    if noise in ("shrinkage_diag", "shrinkage_eye"):
        logger.info(f"searchlight crossnobis with {noise}: {neighbors.shape[0]} spheres one by one")
        return np.array([
            crossnobis(data[:, neighbors.indices[neighbors.indptr[i]:neighbors.indptr[i + 1]]],
                       conditions, runs, noise=noise)
            for i in range(neighbors.shape[0])
        ])
    terms = _per_voxel_crossnobis(data, design)
    if noise == "diag":
        data_t = np.ascontiguousarray(data[None])
        means, cell = _cell_means(data_t, design)
        residuals = data - means[0][cell]
        residuals -= residuals.mean(axis=0)
        dof = data.shape[0] - design.n_runs * design.n_conditions
        if dof < 1:
            raise ValueError("noise='diag' needs more than one trial per run and condition.")
        variances = np.einsum("ij,ij->j", residuals, residuals) / dof
        if np.any(variances <= 0):
            raise ValueError("Some voxels have zero residual variance; remove them from the mask.")
        terms = terms / variances[:, None]
    sizes = np.asarray(neighbors.sum(axis=1)).ravel()
    return np.asarray(neighbors @ terms) / sizes[:, None]


@verbose
def searchlight_rdms(betas_img, mask_img, conditions, runs, *, radius=6.0, noise="diag", verbose=None):
    """Searchlight crossnobis RDMs of trial beta images.

    Parameters
    ----------
    betas_img : 4D Nifti-like
        One volume per trial.
    mask_img : 3D Nifti-like
        Brain mask (sphere centres and voxels).
    conditions, runs : array-like, shape (n_trials,)
        Condition and run of each trial.
    radius : float
        Sphere radius in mm.
    noise : None | "diag" | "shrinkage_diag" | "shrinkage_eye"
        Noise normalisation per sphere.
    verbose : bool | str | int | None
        Log level for this call.

    Returns
    -------
    RDMStack
        ``axis_name="voxel"``, ``axis`` = index of each centre among the in-mask voxels
        (``nilearn.masking.unmask`` puts maps of the stack back into a volume).
    """
    from nilearn.masking import apply_mask

    data = apply_mask(betas_img, mask_img)
    neighbors = searchlight_neighbors(mask_img, radius)
    dist = searchlight_crossnobis(data, conditions, runs, neighbors, noise=noise)
    return RDMStack(dist, np.unique(np.asarray(conditions)), np.arange(dist.shape[0]), "voxel",
                    "crossnobis", "none" if noise is None else noise)
