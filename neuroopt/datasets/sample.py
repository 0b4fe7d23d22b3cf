"""The whitened MEG gain of the MNE sample subject, for examples and simulations on arrays."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..utils import check_option


def sample_meg_gain(data_path, *, pos=15.0, orientation="free"):
    """Whitened MEG gain of the MNE ``sample`` subject on a volume grid, one unit norm per source.

    The sensors (306 MEG channels, bad ones excluded), the head<->MRI transform, the 1-layer BEM and
    the noise covariance are those of the MNE sample recording, as shipped in ``data_path``
    (``test-ave.fif.gz``, ``test-cov.fif``, ``sample_audvis_trunc-trans.fif``,
    ``bem/sample-1280-bem-sol.fif``). The gain is whitened with the covariance (PCA whitener: its
    rows are whitened sensor combinations) and each source is scaled to unit norm (full depth
    weighting: otherwise an L21 penalty favours superficial sources).

    Parameters
    ----------
    data_path : path-like
        Folder with the sample files listed above (``../shared/data/meg_sample``).
    pos : float
        Grid spacing in mm (15: ~700 sources, a few seconds to compute).
    orientation : ``"free"`` | ``"fixed"``
        ``"free"``: three columns per source (x, y, z), the block of each source of unit Frobenius
        norm. ``"fixed"``: one column per source, the orientation of largest gain (first left
        singular vector of the source's whitened 3-column block).

    Returns
    -------
    sample : dict
        ``gain`` (n_whitened_sensors, n_sources or 3 * n_sources), ``sensor_types`` (channel type of
        the dominant channel of each whitened row, e.g. for ``SGCL(sensor_groups=...)``),
        ``source_rr`` (source positions, m, head frame), ``forward`` (:class:`mne.Forward`),
        ``info`` (:class:`mne.Info` of the MEG channels) and ``whitener``.
    """
    import mne

    check_option("orientation", orientation, ("free", "fixed"))
    data_path = Path(data_path)
    if not (data_path / "test-ave.fif.gz").exists():
        raise FileNotFoundError(
            f"data_path={str(data_path)!r} has no test-ave.fif.gz: give the folder of the MNE sample files "
            "(../shared/data/meg_sample)."
        )
    info = mne.io.read_info(data_path / "test-ave.fif.gz", verbose=False)
    info = mne.pick_info(info, mne.pick_types(info, meg=True, exclude="bads"))
    noise_cov = mne.read_cov(data_path / "test-cov.fif", verbose=False)
    bem = mne.read_bem_solution(data_path / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    src = mne.setup_volume_source_space(None, pos=float(pos), bem=bem, verbose=False)
    forward = mne.make_forward_solution(info, data_path / "sample_audvis_trunc-trans.fif", src, bem,
                                        meg=True, eeg=False, verbose=False)
    whitener, _ = mne.cov.compute_whitener(noise_cov, info, pca=True, verbose=False)
    blocks = (whitener @ forward["sol"]["data"]).reshape(len(whitener), -1, 3)
    if orientation == "fixed":
        gain = np.stack([np.linalg.svd(block, full_matrices=False)[0][:, 0] for block in blocks.transpose(1, 0, 2)],
                        axis=1)
    else:
        gain = (blocks / np.linalg.norm(blocks, axis=(0, 2))[None, :, None]).reshape(len(whitener), -1)
    sensor_types = np.array(info.get_channel_types())[np.abs(whitener).argmax(axis=1)]
    return dict(gain=gain, sensor_types=sensor_types, source_rr=forward["source_rr"], forward=forward, info=info,
                whitener=whitener)
