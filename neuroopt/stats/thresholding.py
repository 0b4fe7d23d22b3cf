"""Thresholded statistic maps and cluster tables (nilearn's ``threshold_stats_img`` and
``get_clusters_table``), with the threshold and correction kept beside the map."""

from __future__ import annotations

import json
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from ..utils import atomic_path, atomic_write_text, check_option

# nilearn's notices that no voxel passes: the Threshold (z = inf) and the empty cluster table say it
_NOTHING_PASSES = r"(The given float value must not exceed|No clusters found with stat (higher|lower) than)"

#: height corrections: FDR q, Bonferroni (FWER), uncorrected p ("fpr"), or a fixed z ("none")
CORRECTIONS = ("fdr", "bonferroni", "fpr", "none")


@dataclass
class Threshold:
    """How a z map was thresholded.

    Attributes
    ----------
    correction : str
        One of :data:`CORRECTIONS`.
    alpha : float
        FDR q, family-wise or uncorrected p (unused with ``"none"``).
    z : float
        The z threshold that resulted (``inf`` when no voxel can pass).
    cluster_extent : int
        Smallest cluster kept, in voxels.
    two_sided : bool
    """

    correction: str
    alpha: float
    z: float
    cluster_extent: int
    two_sided: bool

    def describe(self):
        """One line for figure titles, e.g. ``"|z| > 3.42 (FDR q < 0.05), clusters >= 10 voxels"``."""
        sign = "|z|" if self.two_sided else "z"
        if not np.isfinite(self.z):
            text = f"no voxel passes ({self._what()})"
        else:
            text = f"{sign} > {self.z:.2f} ({self._what()})"
        if self.cluster_extent > 0:
            text += f", clusters >= {self.cluster_extent} voxels"
        return text

    def _what(self):
        return {"fdr": f"FDR q < {self.alpha:g}", "bonferroni": f"Bonferroni p < {self.alpha:g}",
                "fpr": f"uncorrected p < {self.alpha:g}", "none": "fixed height, uncorrected"}[self.correction]


def threshold_z_map(z_img, mask_img=None, *, correction="fdr", alpha=0.05, height=3.09,
                    cluster_extent=0, two_sided=True):
    """Threshold a z map with a height correction and a cluster-extent filter.

    Parameters
    ----------
    z_img : Nifti1Image or path
        The z map.
    mask_img : Nifti1Image or path or None
        Voxels tested (the number of tests of Bonferroni and FDR); default: nonzero voxels.
    correction : {"fdr", "bonferroni", "fpr", "none"}
        FDR at q = ``alpha``, Bonferroni at family-wise ``alpha``, uncorrected p < ``alpha``, or
        the fixed z threshold ``height`` (``"none"``).
    alpha : float
        Level of the correction (q of FDR, family-wise error of Bonferroni, p of ``"fpr"``).
    height : float
        z threshold used with ``correction="none"``.
    cluster_extent : int
        Clusters smaller than this many voxels are removed.
    two_sided : bool
        Test both signs (``|z|``).

    Returns
    -------
    thresholded : Nifti1Image
        z where it passes, 0 elsewhere.
    threshold : Threshold
    """
    from nilearn.glm import threshold_stats_img

    check_option("correction", correction, CORRECTIONS)
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha!r}.")
    if int(cluster_extent) < 0:
        raise ValueError(f"cluster_extent must be >= 0 voxels, got {cluster_extent!r}.")
    z_data = np.asarray(_load(z_img).get_fdata())
    if mask_img is None and not np.any(z_data):
        return _load(z_img), Threshold(correction, float(alpha), float("inf"), int(cluster_extent), bool(two_sided))
    control = None if correction == "none" else correction
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOTHING_PASSES, category=UserWarning)
        thresholded, z = threshold_stats_img(
            # with a correction nilearn derives the height itself (a threshold given too is a warning)
            z_img, mask_img=mask_img, alpha=alpha, threshold=height if control is None else None,
            height_control=control, cluster_threshold=int(cluster_extent), two_sided=two_sided,
        )
    return thresholded, Threshold(correction, float(alpha), float(z), int(cluster_extent), bool(two_sided))


def _load(img):
    import nibabel as nib

    return nib.load(img) if isinstance(img, (str, Path)) else img


def cluster_table(z_img, threshold):
    """Clusters and their peaks (``get_clusters_table``) above ``threshold``.

    Parameters
    ----------
    z_img : Nifti1Image or path
        Unthresholded (or thresholded) z map.
    threshold : Threshold
        From :func:`threshold_z_map`.

    Returns
    -------
    table : pandas.DataFrame
        nilearn's columns (Cluster ID, X, Y, Z in mm, Peak Stat, Cluster Size (mm3)); empty
        when no voxel passes.
    """
    import pandas as pd
    from nilearn.reporting import get_clusters_table

    columns = ["Cluster ID", "X", "Y", "Z", "Peak Stat", "Cluster Size (mm3)"]
    if not np.isfinite(threshold.z):
        return pd.DataFrame(columns=columns)
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message=_NOTHING_PASSES, category=UserWarning)
        table = get_clusters_table(_load(z_img), stat_threshold=threshold.z,
                                   cluster_threshold=int(threshold.cluster_extent),
                                   two_sided=threshold.two_sided)
    return table.reset_index(drop=True)


def save_cluster_table(table, threshold, path):
    """Write a cluster table as TSV (atomically) with a JSON sidecar stating the threshold."""
    with atomic_path(path, suffix=".tsv") as tmp:
        table.to_csv(tmp, sep="\t", index=False, na_rep="n/a")
    sidecar = {"Threshold": {k: (v if np.isfinite(v) else None) if isinstance(v, float) else v
                             for k, v in asdict(threshold).items()},
               "Description": f"clusters of the z map, {threshold.describe()}",
               "Units": {"X": "mm", "Y": "mm", "Z": "mm", "Peak Stat": "z",
                         "Cluster Size (mm3)": "mm3"}}
    atomic_write_text(Path(str(path)[: -len(".tsv")] + ".json"), json.dumps(sidecar, indent=2) + "\n")
    return path


def read_cluster_table(path):
    """A table written by :func:`save_cluster_table` and its :class:`Threshold`."""
    import pandas as pd

    table = pd.read_csv(path, sep="\t")
    with open(str(path)[: -len(".tsv")] + ".json") as fid:
        info = json.load(fid)["Threshold"]
    info["z"] = float("inf") if info["z"] is None else info["z"]
    return table, Threshold(**info)
