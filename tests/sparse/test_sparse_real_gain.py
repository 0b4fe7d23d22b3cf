"""Support recovery with the real (whitened) MEG gain of the sample subject on a 15 mm grid."""

import numpy as np
import pytest

from neuroopt.sparse import SGCL, MultiTaskLasso, warmup
from neuroopt.sparse.penalties import group_norms


@pytest.fixture(scope="module")
def sample_gain(shared_data):
    """Whitened free-orientation MEG gain (n_sensors, 3 n_sources), ~5 s to build."""
    mne = pytest.importorskip("mne")
    root = shared_data / "meg_sample"
    if not root.is_dir():
        pytest.skip(f"meg_sample not found in {shared_data}")
    warmup()
    evoked = mne.read_evokeds(root / "test-ave.fif.gz", condition="Left visual", verbose=False)
    evoked.pick("meg", exclude="bads")
    noise_cov = mne.read_cov(root / "test-cov.fif", verbose=False)
    bem = mne.read_bem_solution(root / "bem" / "sample-1280-bem-sol.fif", verbose=False)
    src = mne.setup_volume_source_space(None, pos=15.0, bem=bem, verbose=False)
    fwd = mne.make_forward_solution(evoked.info, root / "sample_audvis_trunc-trans.fif", src,
                                    bem, meg=True, eeg=False, verbose=False)
    picks = [evoked.info["ch_names"].index(name) for name in fwd["sol"]["row_names"]]
    whitener, _ = mne.cov.compute_whitener(noise_cov, evoked.info, picks=picks, pca=True,
                                           verbose=False)
    types = np.array(evoked.get_channel_types(picks=picks))[np.abs(whitener).argmax(axis=1)]
    return whitener @ fwd["sol"]["data"], fwd["source_rr"], types


def _simulate(gain, src_pos, n_orient, seed=0, n_times=40, snr=4.0):
    rng = np.random.default_rng(seed)
    n_sources = src_pos.shape[0]
    # three sources at least 5 cm apart, with distinct time courses
    picked = [int(rng.integers(n_sources))]
    while len(picked) < 3:
        cand = int(rng.integers(n_sources))
        if np.min(np.linalg.norm(src_pos[picked] - src_pos[cand], axis=1)) > 0.05:
            picked.append(cand)
    t = np.linspace(0, 1, n_times)
    W = np.zeros((gain.shape[1], n_times))
    for k, src in enumerate(picked):
        course = np.sin(2 * np.pi * (k + 1) * t) * np.exp(-((t - 0.3 * (k + 1)) ** 2) / 0.05)
        ori = rng.standard_normal(n_orient)
        block = slice(src * n_orient, (src + 1) * n_orient)
        cols = gain[:, block]
        W[block] = np.outer(ori / np.linalg.norm(cols @ ori), course)
    signal = gain @ W
    noise = rng.standard_normal(signal.shape)
    Y = signal + noise * np.linalg.norm(signal) / (snr * np.linalg.norm(noise))
    return Y, np.sort(picked)


@pytest.mark.parametrize("n_orient", [1, 3])
def test_support_recovery_real_gain(sample_gain, n_orient):
    gain_free, src_pos, _ = sample_gain
    if n_orient == 3:
        gain = gain_free
    else:  # no cortical normals in a volume space: keep each source's most visible orientation
        blocks = gain_free.reshape(gain_free.shape[0], -1, 3).transpose(1, 0, 2)
        u, sv, _ = np.linalg.svd(blocks, full_matrices=False)
        gain = (u[:, :, 0] * sv[:, :1]).T
    # full depth weighting (unit-norm groups), as MNE's sparse solvers do, else L21 prefers
    # superficial sources
    gain = np.ascontiguousarray(gain / np.repeat(group_norms(gain.T, n_orient), n_orient))
    Y, truth = _simulate(gain, src_pos, n_orient)
    est = MultiTaskLasso(n_orient=n_orient, tol=1e-6, n_reweighting=5, reweighting="l05")
    est.set_params(alpha=0.2 * est.alpha_max(gain, Y)).fit(gain, Y)
    assert 0 <= est.dual_gap_ <= 1e-6 * est.objective_at_zero_
    found = np.flatnonzero(est.active_set_)
    norms = group_norms(est.coef_.T, n_orient)
    strongest = np.sort(np.argsort(norms)[-3:])
    # each true source is recovered exactly or by a grid neighbour (15 mm)
    for src in truth:
        dist = np.linalg.norm(src_pos[strongest] - src_pos[src], axis=1).min()
        assert dist <= 0.016, (src, found)
    assert found.size <= 6


def test_sgcl_on_real_gain_estimates_whitened_noise(sample_gain):
    """After whitening, the noise has unit variance: SGCL's sigmas must say so (within 10%)."""
    gain_free, src_pos, types = sample_gain
    signal, _ = _simulate(gain_free, src_pos, 3, seed=1, n_times=100, snr=1e12)
    noise = np.random.default_rng(2).standard_normal(signal.shape)
    Y = signal * (np.linalg.norm(noise) / np.linalg.norm(signal)) + noise  # SNR 1
    est = SGCL(sensor_groups=types, n_orient=3, tol=1e-6)
    est.set_params(alpha=0.3 * est.alpha_max(gain_free, Y)).fit(gain_free, Y)
    assert len(est.sigmas_) == len(np.unique(types)) == 2
    np.testing.assert_allclose(est.sigmas_, 1.0, rtol=0.1)
