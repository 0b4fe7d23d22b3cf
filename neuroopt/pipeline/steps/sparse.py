"""Steps of ``workflows/sparse.smk``: the forward model, then sparse source estimates."""

from __future__ import annotations

from ...utils import atomic_path, log_result, logger
from ._common import demo_truth, write_json


def _head_mri_trans(raw_path, sidecar, fs_subject, subjects_dir):
    """Head<->MRI transform from the MRI landmarks of the T1w sidecar (``mne_bids``)."""
    import mne_bids

    t1 = mne_bids.get_bids_path_from_fname(str(sidecar).replace(".json", ".nii.gz"))
    if not t1.fpath.exists():
        t1 = mne_bids.get_bids_path_from_fname(str(sidecar).replace(".json", ".nii"))
    return mne_bids.get_head_mri_trans(
        mne_bids.get_bids_path_from_fname(raw_path), t1_bids_path=t1, fs_subject=fs_subject,
        fs_subjects_dir=_absolute(subjects_dir), verbose="error",
    )


def _absolute(path):
    from pathlib import Path

    return str(Path(path).absolute())


def meeg_forward(input, output, params, threads):
    """Sensor geometry of a subject/session (its first raw recording) -> forward solution.

    Sphere, BEM (FreeSurfer anatomy) or a given ``-fwd.fif``; a rule of its own, so changing the
    estimators does not recompute it.
    """
    import mne
    import mne_bids

    from ...io.derivatives import write_provenance
    from ...meeg.forward import make_bem_forward, make_sphere_forward

    cfg = params.cfg
    keys = input.keys()
    summary = {"forward": cfg["forward"], "info_from": str(input.raw)}
    if "fwd" in keys:
        try:
            forward = mne.read_forward_solution(input.fwd, verbose="error")
        except (OSError, ValueError) as err:
            raise ValueError(f"sparse.forward: cannot read the forward solution {input.fwd} ({err}).") from err
    else:
        info = mne_bids.read_raw_bids(mne_bids.get_bids_path_from_fname(input.raw), verbose="error").info
        if cfg["forward"] == "sphere":
            forward, _, _ = make_sphere_forward(info, pos=cfg["grid_spacing"])
            summary.update(source_space="volume", n_sources=int(forward["nsource"]))
        else:
            if "trans" in keys:
                trans, source = input.trans, f"sparse.trans ({input.trans})"
            else:
                trans = _head_mri_trans(input.raw, input.t1w_sidecar, params.fs_subject, cfg["subjects_dir"])
                source = f"the landmarks of {input.t1w_sidecar} (sparse.trans: auto)"
            forward, details = make_bem_forward(
                info, subject=params.fs_subject, subjects_dir=cfg["subjects_dir"], trans=trans,
                bem=input.bem if "bem" in keys else None, source_space=cfg["source_space"],
                pos=cfg["grid_spacing"], trans_source=source,
            )
            with atomic_path(output.trans, suffix="-trans.fif") as tmp:  # the transform used
                mne.write_trans(tmp, forward["mri_head_t"], overwrite=True, verbose="error")
            summary.update(details, fs_subject=params.fs_subject, subjects_dir=_absolute(cfg["subjects_dir"]),
                           trans_from=source)
    summary.update(n_channels=int(forward["nchan"]), n_sources=int(forward["nsource"]),
                   ch_types=sorted(set(forward["info"].get_channel_types())), params=cfg)
    with atomic_path(output.forward, suffix="-fwd.fif") as tmp:
        mne.write_forward_solution(tmp, forward, overwrite=True, verbose="error")
    write_json(output.summary, summary, default=float)
    write_provenance(output.forward, inputs=[str(input[k]) for k in keys if k != "demo"], params=cfg, seed=None)


def _cleaned_forwards(forward, epochs, evokeds, input, params):
    """Forward of each condition with the gain cleaned as its data were (``neuroopt.meeg.cleaned_forward``).

    Each run's ICA removal and interpolated channels, weighted by the run's share of the
    condition's epochs; the forward itself when no run removed or interpolated anything.
    """
    import json
    from pathlib import Path

    import mne

    from ...meeg.cleaned_forward import clean_forward, cleaning_operator

    summaries = [json.loads(Path(path).read_text()) for path in input.preproc]
    icas = [None] * len(summaries)
    if "icas" in input.keys():
        icas = [mne.preprocessing.read_ica(path, verbose="error") if summary.get("ica_excluded") else None
                for path, summary in zip(input.icas, summaries)]
    interpolated = [summary.get("interpolated") or [] for summary in summaries]
    if all(ica is None for ica in icas) and not any(interpolated):
        return {evoked.comment: forward for evoked in evokeds}
    operators = [cleaning_operator(epochs.info, ica=ica, interpolated=bads) for ica, bads in zip(icas, interpolated)]
    logger.info("Gain cleaned as the data: ICA components removed per run %s, interpolated channels per run %s",
                [summary.get("ica_excluded") or [] for summary in summaries], interpolated)
    runs = epochs.metadata["run"].astype(str)
    forwards = {}
    for evoked in evokeds:
        in_condition = runs[(epochs.metadata["trial_type"] == evoked.comment).to_numpy()]
        weights = [int((in_condition == str(run)).sum()) for run in params.runs]
        forwards[evoked.comment] = clean_forward(forward, epochs.info, operators, weights)
    return forwards


def meeg_sparse(input, output, params, threads):
    """Evoked (+ epochs for CLaR) + noise covariance -> sparse source estimates per estimator."""
    import mne

    from ...meeg.inverse import sparse_inverse
    from ...meeg.source_scoring import score_sources_against_truth
    from ...meeg.sources_io import save_source_estimates

    cfg = params.cfg
    evokeds = mne.read_evokeds(input.evoked, verbose="error")
    cov = mne.read_cov(input.cov, verbose="error")
    forward = mne.read_forward_solution(input.forward, verbose="error")
    need_epochs = "clar" in cfg["estimators"] or cfg["alpha"] == "cv"
    epochs = mne.read_epochs(input.epochs, preload=need_epochs, verbose="error")
    forwards = _cleaned_forwards(forward, epochs, evokeds, input, params)
    truth = demo_truth(params.truth)
    summary = {"params": cfg, "estimators": {}}
    for estimator in cfg["estimators"]:
        solutions, rows = {}, {}
        for evoked in evokeds:
            condition = evoked.comment
            if estimator == "clar" or cfg["alpha"] == "cv":
                inst = epochs[condition].copy().crop(cfg["tmin"], cfg["tmax"])
            else:
                inst = evoked.copy().crop(cfg["tmin"], cfg["tmax"])
            sol = sparse_inverse(
                inst, forwards[condition], cov, estimator=estimator, alpha=cfg["alpha"], loose=cfg["loose"], depth=cfg["depth"],
                selection=cfg["selection"], random_state=params.seed,
            )
            solutions[condition] = sol
            row = {
                "n_sources": int(len(sol.stc.data)),
                "alpha": float(sol.alpha),
                "alpha_fraction": float(sol.alpha_fraction),
                "alpha_method": sol.alpha_method,
                "selection": sol.selection,
                "criterion_path": None if sol.criterion_path is None else sol.criterion_path.to_dict("list"),
                "explained_variance": float(sol.explained_variance),
                "alpha_max": float(sol.alpha_max),
                "data_noise_ratio": float(sol.data_noise_ratio),
                "warnings": list(sol.warnings),
                "noise_levels": sol.noise_levels.to_dict("records"),
            }
            if truth is not None:
                eeg = truth["eeg"]
                row["truth_scores"] = score_sources_against_truth(
                    sol.stc, eeg["sources"], forward, truth_waveforms=eeg["waveforms"][condition]
                )
            rows[condition] = row
            logger.info(f"{estimator} {condition}: {row['n_sources']} sources, alpha/alpha_max {row['alpha_fraction']:.3f}, "
                        f"explained variance {100 * row['explained_variance']:.1f} %" + (f", {len(sol.warnings)} warning(s)" if sol.warnings else ""))
        n_sources = sorted(r["n_sources"] for r in rows.values())
        log_result(f"{estimator}: {n_sources[0]}-{n_sources[-1]} sources per condition" if n_sources[0] != n_sources[-1]
                   else f"{estimator}: {n_sources[0]} sources per condition")
        save_source_estimates(output[estimator], solutions)
        summary["estimators"][estimator] = rows
    write_json(output.summary, summary, default=float)

