"""Group level of fMRI maps: one-sample tests of the subjects' contrast maps (nilearn's
``SecondLevelModel``), voxel-wise medians of HRF maps, and subjects' decoding scores against
chance (sign-flip permutation test)."""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np

from ..utils import atomic_save_npz, logger


def _check_same_grid(imgs, names):
    from nilearn.image import load_img

    imgs = [load_img(i) for i in imgs]
    first = imgs[0]
    for img, name in zip(imgs[1:], names[1:]):
        if img.shape[:3] != first.shape[:3] or not np.allclose(img.affine, first.affine, atol=1e-3):
            raise ValueError(
                f"{name} is on a different grid ({img.shape[:3]}, affine {np.round(img.affine, 2).tolist()}) "
                f"than {names[0]} ({first.shape[:3]}): group maps need all subjects in one space "
                "(e.g. fMRIPrep space-MNI152NLin2009cAsym outputs)."
            )
    return imgs


def one_sample_group_map(effect_imgs, mask_img=None, smoothing_fwhm=None, names=None):
    """One-sample t test over subjects of their contrast effect maps (``SecondLevelModel``).

    Parameters
    ----------
    effect_imgs : list of 3D images or paths
        One effect-size map per subject, all on the same grid (a common space).
    mask_img : image or path or None
        Voxels tested; default: voxels nonzero in every subject's map.
    smoothing_fwhm : float | None
        Extra smoothing (mm) before the test.
    names : list of str | None
        Subject names for error messages.

    Returns
    -------
    maps : dict
        ``"effect"`` (mean effect), ``"variance"``, ``"t"``, ``"z"`` (Nifti1Image), ``"dof"``,
        ``"mask"`` (the voxels tested).
    """
    import nibabel as nib
    import pandas as pd
    from nilearn.glm.second_level import SecondLevelModel

    names = list(names) if names is not None else [f"subject {i + 1}" for i in range(len(effect_imgs))]
    if len(effect_imgs) < 2:
        raise ValueError(f"A group test needs at least 2 subjects' maps, got {len(effect_imgs)}.")
    imgs = _check_same_grid(list(effect_imgs), names)
    if mask_img is None:
        common = np.all([np.asarray(img.get_fdata()) != 0 for img in imgs], axis=0)
        if not common.any():
            raise ValueError(f"The maps of {names} share no nonzero voxel: they do not overlap, so "
                             "they cannot be in one space. Check the subjects' masks and space.")
        mask_img = nib.Nifti1Image(common.astype(np.int8), imgs[0].affine)
    model = SecondLevelModel(mask_img=mask_img, smoothing_fwhm=smoothing_fwhm, minimize_memory=False)
    design = pd.DataFrame({"intercept": np.ones(len(imgs))})
    model.fit(imgs, design_matrix=design)
    res = model.compute_contrast("intercept", second_level_stat_type="t", output_type="all")
    logger.info("group one-sample test of %d subjects", len(imgs))
    return {"effect": res["effect_size"], "variance": res["effect_variance"], "t": res["stat"],
            "z": res["z_score"], "dof": float(len(imgs) - 1), "mask": mask_img}


def median_map(imgs, names=None):
    """Voxel-wise median over subjects of 3D maps (e.g. HRF time to peak), ignoring zeros.

    Zeros are voxels outside a subject's mask (or without an HRF peak); a voxel zero in every
    subject stays zero.

    Parameters
    ----------
    imgs : list of Nifti1Image
        One 3D map per subject, all on the same grid.
    names : list of str | None
        Subject labels, used in the error when the grids differ.

    Returns
    -------
    median : Nifti1Image
        The median map.
    """
    import nibabel as nib

    names = list(names) if names is not None else [f"subject {i + 1}" for i in range(len(imgs))]
    imgs = _check_same_grid(list(imgs), names)
    data = np.stack([np.asarray(i.get_fdata(), dtype=float) for i in imgs], axis=-1)
    data[data == 0] = np.nan
    with np.errstate(all="ignore"):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN voxels (outside every mask)
            median = np.nanmedian(data, axis=-1)
    return nib.Nifti1Image(np.nan_to_num(median).astype(np.float32), imgs[0].affine)


@dataclass
class GroupTrialDecodingResult:
    """Subjects' decoding scores against chance, sign-flip permutation test of the mean.

    Attributes
    ----------
    scores : ndarray, (n_subjects,)
        Each subject's cross-validated score.
    chance : float
    scoring : str
    p_value : float
        One-sided p of mean score > chance (all sign flips when there are at most
        ``n_permutations`` of them).
    t : float
        One-sample t of ``scores - chance``.
    n_permutations : int
    subjects : list of str
    """

    scores: np.ndarray
    chance: float
    scoring: str
    p_value: float
    t: float
    n_permutations: int
    subjects: list

    @property
    def mean_scores(self):
        """Mean score over subjects."""
        return float(np.mean(self.scores))

    def save(self, path):
        """Write an ``.npz`` file atomically."""
        atomic_save_npz(path, scores=self.scores, chance=np.array(self.chance), scoring=np.array(self.scoring),
                        p_value=np.array(self.p_value), t=np.array(self.t),
                        n_permutations=np.array(self.n_permutations), subjects=np.array(self.subjects, dtype=str))
        return path

    @classmethod
    def load(cls, path):
        """Read a result written by :meth:`save`."""
        with np.load(path, allow_pickle=False) as npz:
            return cls(npz["scores"], float(npz["chance"]), str(npz["scoring"]), float(npz["p_value"]),
                       float(npz["t"]), int(npz["n_permutations"]), [str(s) for s in npz["subjects"]])


def group_trial_decoding(results, subjects=None, *, n_permutations=1024, random_state=0):
    """Test subjects' trial-decoding scores against chance (sign flips of ``score - chance``).

    Parameters
    ----------
    results : list of TrialDecodingResult
        One per subject, same contrast and scoring.
    subjects : list of str | None
        Subject labels, in the order of ``results`` (default: numbered).
    n_permutations : int
        Sign-flip permutations; all ``2**n_subjects`` of them when that is fewer.
    random_state : int | None
        Seed of the random sign flips (unused when all of them are enumerated).

    Returns
    -------
    GroupTrialDecodingResult
    """
    if len(results) < 2:
        raise ValueError(f"A group decoding test needs at least 2 subjects, got {len(results)}.")
    chances = {float(r.chance) for r in results}
    scorings = {str(r.scoring) for r in results}
    if len(chances) > 1 or len(scorings) > 1:
        raise ValueError(f"The subjects' results differ in scoring {sorted(scorings)} or chance "
                         f"{sorted(chances)}; combine results of the same contrast only.")
    chance = chances.pop()
    scores = np.array([r.mean_scores for r in results], dtype=float)
    diffs = scores - chance
    n = diffs.size
    if 2 ** n <= n_permutations:  # every sign flip, the identity included: an exact test
        signs = np.array(list(itertools.product((1.0, -1.0), repeat=n)))
    else:
        rng = np.random.default_rng(random_state)
        signs = np.vstack([np.ones(n), rng.choice((1.0, -1.0), size=(int(n_permutations), n))])
    null = signs @ diffs / n
    p = float(np.mean(null >= diffs.mean() - 1e-12))
    sd = diffs.std(ddof=1)
    t = float(diffs.mean() / (sd / np.sqrt(n))) if sd > 0 else (0.0 if diffs.mean() == 0 else float(np.sign(diffs.mean()) * np.inf))
    n_perm = len(signs)
    subjects = list(subjects) if subjects is not None else [f"subject {i + 1}" for i in range(len(scores))]
    logger.info("group trial decoding: mean %.3f (chance %.3f), p = %.4f", scores.mean(), chance, p)
    return GroupTrialDecodingResult(scores, chance, scorings.pop(), p, t, n_perm, subjects)
