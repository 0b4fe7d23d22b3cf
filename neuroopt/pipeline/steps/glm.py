"""Steps of ``workflows/glm.smk``: fMRI contrast statistics (subject maps, group maps, group decoding)."""

from __future__ import annotations

import json

from ...io.derivatives import write_provenance
from ...utils import atomic_path, logger
from ._common import runs_repetition_time

STATS = ("effect", "variance", "t", "z")


def _provenance(input, output, params, seed=None):
    """A ``.provenance.json`` beside every output of the step (inputs, parameters, versions)."""
    inputs = [str(p) for p in input]
    settings = {k: getattr(params, k) for k in params.keys()} if hasattr(params, "keys") else {}
    for path in output:
        write_provenance(path, inputs=inputs, params=settings, seed=seed)


def _threshold_and_table(z_img, mask_img, cfg, path):
    from ...stats.thresholding import cluster_table, save_cluster_table, threshold_z_map

    _, threshold = threshold_z_map(z_img, mask_img, correction=cfg["correction"], alpha=cfg["alpha"],
                                   height=cfg["height"], cluster_extent=cfg["cluster_extent"])
    table = cluster_table(z_img, threshold)
    save_cluster_table(table, threshold, path)
    return threshold, table


def fmri_glm_contrast(input, output, params, threads):
    """Cleaned BOLD runs + the R1-GLM fit -> one contrast's effect/variance/t/z maps and clusters
    (with each voxel's HRF), and the same from nilearn's canonical GLM when configured.

    The input is the fit (``input.model``); the runs, their sidecars and the mask it was fitted on
    are ``params.files`` (``bolds``, ``sidecars``, ``mask``).
    """
    import joblib
    import nibabel as nib

    from ...fmri.contrast_maps import canonical_contrast_images, r1glm_contrast_images, save_contrast_maps
    from ...fmri.maps import R1GLMImages
    from ...io.bids import read_events

    cfg, files = params.cfg, params.files
    bolds = list(files["bolds"])
    name = output.z.split("_desc-")[-1].split("_stat-")[0]
    t_r = runs_repetition_time(files["sidecars"], bolds)
    events = [read_events(p) for p in params.events]
    weights = dict(zip(params.conditions, params.weights))
    result = R1GLMImages.from_estimator(**joblib.load(input.model))
    mask = nib.load(files["mask"])
    maps = r1glm_contrast_images(result, bolds, events, {name: weights})[name]
    save_contrast_maps(maps, {s: output[s] for s in STATS}, name=name, model="rank-1 GLM (voxel-wise HRF)",
                       extra={"NoiseModel": params.noise_model})
    threshold, table = _threshold_and_table(maps["z"], mask, cfg, output.clusters)
    logger.info(f"{name} (R1-GLM): dof {maps['dof']:.0f}, {threshold.describe()}, {len(table)} cluster row(s)")
    if "canonical_z" in output.keys():
        canonical = canonical_contrast_images(bolds, events, mask, t_r, {name: weights},
                                              noise_model=params.noise_model, high_pass=params.high_pass)[name]
        save_contrast_maps(canonical, {s: output[f"canonical_{s}"] for s in STATS}, name=name,
                           model="nilearn FirstLevelModel, spm canonical HRF", extra={"NoiseModel": params.noise_model})
        threshold, table = _threshold_and_table(canonical["z"], mask, cfg, output.canonical_clusters)
        logger.info(f"{name} (canonical GLM): {threshold.describe()}, {len(table)} cluster row(s)")
    _provenance([*input, *bolds, *files["sidecars"], files["mask"]], output, params)


def group_glm_contrast(input, output, params, threads):
    """Subjects' effect maps of one contrast -> one-sample group maps (SecondLevelModel) + clusters."""
    from ...fmri.contrast_maps import save_contrast_maps
    from ...stats.second_level import one_sample_group_map

    name = output.z.split("_desc-")[-1].split("_stat-")[0]
    maps = one_sample_group_map(list(input.effects), names=list(params.subjects))
    with open(input.effects[0].replace(".nii.gz", ".json")) as fid:
        contrast = json.load(fid)["Contrast"]
    maps.update(weights=contrast["Weights"], conditions=contrast["Conditions"])
    save_contrast_maps(maps, {s: output[s] for s in STATS}, name=name,
                       model=f"one-sample t test over {len(input.effects)} subjects (nilearn SecondLevelModel)",
                       extra={"Subjects": list(params.subjects)})
    threshold, table = _threshold_and_table(maps["z"], maps["mask"], params.cfg, output.clusters)
    logger.info(f"group {name}: {threshold.describe()}, {len(table)} cluster row(s)")
    _provenance(input, output, params)


def _active_voxels(z_paths, cluster_paths, subjects):
    """Voxels passing a subject's threshold in any contrast, in at least half of the subjects."""
    import nibabel as nib
    import numpy as np

    from ...stats.thresholding import read_cluster_table

    counts = None
    for subject in subjects:
        active = None
        for z_path, cluster_path in zip(z_paths, cluster_paths):
            if not str(z_path).split("/")[-1].startswith(subject + "_"):
                continue
            threshold = read_cluster_table(cluster_path)[1]
            passes = np.abs(np.asarray(nib.load(z_path).get_fdata())) > threshold.z
            active = passes if active is None else active | passes
        if active is not None:
            counts = active.astype(int) if counts is None else counts + active
    return None if counts is None else counts >= max(1, len(subjects) / 2)


def group_hrf(input, output, params, threads):
    """Subjects' HRF time-to-peak and FWHM maps -> voxel-wise medians over the active voxels.

    A voxel's HRF timing is only meaningful where it responds: the medians are kept where at
    least half of the subjects pass their subject-level threshold in some contrast (0 elsewhere).
    """
    import json as _json
    from pathlib import Path

    import nibabel as nib
    import numpy as np

    from ...stats.second_level import median_map
    from ...utils import atomic_write_text

    active = _active_voxels(list(input.zmaps), list(input.clusters), list(params.subjects))
    for kind, paths, what in (("hrf_peak", input.peaks, "time to peak"), ("hrf_fwhm", input.fwhms, "FWHM")):
        img = median_map(list(paths), names=list(params.subjects))
        if active is not None:
            img = nib.Nifti1Image(np.where(active, img.get_fdata(), 0).astype(np.float32), img.affine)
        with atomic_path(output[kind]) as tmp:
            nib.save(img, tmp)
        sidecar = {"Description": f"median over subjects of the R1-GLM HRF {what}, in the voxels "
                                  "that pass the subject-level threshold of some contrast in at least "
                                  "half of the subjects (0 elsewhere)",
                   "Units": "s", "Subjects": list(params.subjects),
                   "NumberOfVoxels": int(np.count_nonzero(img.get_fdata()))}
        atomic_write_text(Path(output[kind].replace(".nii.gz", ".json")), _json.dumps(sidecar, indent=2) + "\n")
    _provenance(input, output, params)


def group_fmri_decoding(input, output, params, threads):
    """Subjects' fMRI trial-decoding scores of one contrast -> sign-flip test against chance."""
    from ...decoding.trials import TrialDecodingResult
    from ...stats.second_level import group_trial_decoding

    results = [TrialDecodingResult.load(p) for p in input.results]
    group_trial_decoding(results, subjects=params.subjects, n_permutations=params.cfg["n_permutations"],
                         random_state=params.seed).save(output.result)
    _provenance(input, output, params, seed=params.seed)
