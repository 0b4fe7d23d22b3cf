"""sparse_inverse against MNE's mixed_norm, and the noise levels of the concomitant estimators.

A small sphere-model MEG forward (discrete source space with tangential normals, so fixed and
loose orientations are meaningful) with simulated sources and noise drawn from the real sample
noise covariance.
"""

from __future__ import annotations

import mne
import numpy as np
import pandas as pd
import pytest

from neuroopt.meeg.inverse import SparseInverseSolution, sparse_inverse

from sample_forward_utils import read_sample_evoked, sphere_discrete_forward

TRUE_SOURCES = (10, 60)
NAVE = 4


def _cov_sqrt(cov, ch_names):
    """Matrix ``A`` with ``A A^T`` the covariance of ``ch_names`` (to draw noise)."""
    data = mne.pick_channels_cov(cov, ch_names, ordered=True, verbose=False).data
    evals, evecs = np.linalg.eigh(data)
    return evecs * np.sqrt(np.clip(evals, 0, None))


def _noise(rng, cov_sqrt, n_times, ch_scale):
    """Noise of one trial with covariance ``diag(s) C diag(s)``."""
    return ch_scale[:, None] * (cov_sqrt @ rng.standard_normal((cov_sqrt.shape[1], n_times)))


@pytest.fixture(scope="module")
def sphere_problem(shared_data):
    meg_sample = shared_data / "meg_sample"
    evoked = read_sample_evoked(meg_sample, "Left Auditory", tmin=0.0, tmax=0.05)
    cov = mne.read_cov(meg_sample / "test-cov.fif", verbose=False)
    forward = sphere_discrete_forward(evoked.info)
    fixed = mne.convert_forward_solution(forward, surf_ori=True, force_fixed=True,
                                         use_cps=True, verbose=False)
    times = evoked.times
    source_data = np.zeros((fixed["nsource"], len(times)))
    source_data[TRUE_SOURCES[0]] = 30e-9 * np.sin(2 * np.pi * 20 * times)
    source_data[TRUE_SOURCES[1]] = -25e-9 * np.cos(2 * np.pi * 15 * times)
    signal = fixed["sol"]["data"] @ source_data
    return dict(evoked=evoked, cov=cov, forward=forward, signal=signal,
                cov_sqrt=_cov_sqrt(cov, evoked.ch_names))


def _simulated_evoked(problem, *, seed=0, scale=1.0, signal=True):
    """Evoked of ``NAVE`` trials: signal plus noise ``scale`` times the covariance's."""
    evoked = problem["evoked"].copy()
    rng = np.random.default_rng(seed)
    ch_scale = np.broadcast_to(np.asarray(scale, dtype=float), (len(evoked.ch_names),))
    noise = _noise(rng, problem["cov_sqrt"], len(evoked.times), ch_scale) / np.sqrt(NAVE)
    evoked.data = problem["signal"] * signal + noise
    evoked.nave = NAVE
    return evoked


@pytest.mark.parametrize("loose, depth", [(0.0, 0.8), (0.2, 0.8), (1.0, None)])
def test_mtl_matches_mne_mixed_norm(sphere_problem, loose, depth):
    """Same support and amplitudes as MNE's MxNE on the same objective (MNE alpha in %)."""
    evoked = _simulated_evoked(sphere_problem)
    forward, cov = sphere_problem["forward"], sphere_problem["cov"]
    stc_mne = mne.inverse_sparse.mixed_norm(evoked, forward, cov, alpha=40, loose=loose,
                                            depth=depth, debias=False, tol=1e-9, verbose=False)
    sol = sparse_inverse(evoked, forward, cov, estimator="mtl", alpha=0.4, loose=loose,
                         depth=depth, tol=1e-9, selection="none")
    assert isinstance(sol, SparseInverseSolution)
    assert isinstance(sol.stc, mne.VolSourceEstimate)
    np.testing.assert_array_equal(sol.stc.vertices[0], stc_mne.vertices[0])
    scale = np.abs(stc_mne.data).max()
    np.testing.assert_allclose(sol.stc.data, stc_mne.data, atol=1e-3 * scale)
    assert sol.alpha_fraction == pytest.approx(0.4)
    assert len(sol.dipoles) == len(stc_mne.vertices[0])
    positions = np.array([dip.pos[0] for dip in sol.dipoles])
    expected = forward["source_rr"][np.searchsorted(forward["src"][0]["vertno"],
                                                    stc_mne.vertices[0])]
    np.testing.assert_allclose(np.sort(positions, axis=0), np.sort(expected, axis=0))
    for dip, row in zip(sol.dipoles, sol.stc.data):
        np.testing.assert_allclose(dip.amplitude, row, atol=1e-3 * scale)


def test_auto_alpha_recovers_sources_and_rejects_noise(sphere_problem):
    """alpha='auto' keeps the two simulated sources, and gives nothing on pure noise."""
    forward, cov = sphere_problem["forward"], sphere_problem["cov"]
    sol = sparse_inverse(_simulated_evoked(sphere_problem, seed=1), forward, cov,
                         estimator="sqrt", loose=0.0)
    amplitude = np.abs(sol.stc.data).max(axis=1)
    strongest = sol.stc.vertices[0][np.argsort(amplitude)[::-1][:2]]
    assert set(strongest) == set(TRUE_SOURCES)
    assert 0 < sol.alpha_fraction < 1
    for estimator in ("sqrt", "mtl"):
        noise_only = _simulated_evoked(sphere_problem, seed=2, signal=False)
        sol = sparse_inverse(noise_only, forward, cov, estimator=estimator, loose=0.0)
        assert len(sol.stc.vertices[0]) == 0, estimator
        assert sol.dipoles == []


def test_selection_relocation_finds_the_true_support(sphere_problem):
    """Free orientation, alpha='auto': the convex estimate keeps 6 sources, its second
    strongest on a neighbour; elimination keeps 2 (still the neighbour); relocation (the
    default) gives exactly the true pair, and each says so in ``selection``."""
    evoked = _simulated_evoked(sphere_problem, seed=1)
    kwargs = dict(estimator="mtl", loose=1.0)
    fits = {selection: sparse_inverse(evoked, sphere_problem["forward"], sphere_problem["cov"],
                                      **kwargs, **({} if selection is None else
                                                   {"selection": selection}))
            for selection in ("none", "prune", None)}
    fits["relocate"] = fits.pop(None)
    assert set(fits["none"].stc.vertices[0]) != set(TRUE_SOURCES)
    assert len(fits["none"].stc.vertices[0]) > 2 and fits["none"].selection == "none"
    assert len(fits["prune"].stc.vertices[0]) == 2
    assert set(fits["prune"].stc.vertices[0]) != set(TRUE_SOURCES)
    assert fits["prune"].selection.startswith("prune (elimination 0.05: ")
    relocated = fits["relocate"]
    assert set(relocated.stc.vertices[0]) == set(TRUE_SOURCES)
    assert relocated.selection.startswith("relocate (elimination 0.05: ")
    assert relocated.estimator.n_relocated_ >= 1
    assert relocated.alpha == fits["none"].alpha  # the selection does not change alpha


@pytest.mark.parametrize("estimator", ["sqrt", "sgcl"])
def test_noise_level_in_physical_terms(sphere_problem, estimator):
    """Noise twice (grads) and three times (mags) the covariance's: reported as such."""
    evoked = sphere_problem["evoked"]
    ch_types = np.array(evoked.get_channel_types())
    scale = np.where(ch_types == "grad", 2.0, 3.0)
    sol = sparse_inverse(_simulated_evoked(sphere_problem, seed=3, scale=scale),
                         sphere_problem["forward"], sphere_problem["cov"], estimator=estimator,
                         loose=1.0, alpha=0.3)
    table = sol.noise_levels.set_index("ch_type")
    assert set(table.index) == {"grad", "mag"}
    assert (table["kind"] == "estimated").all()
    assert table["sigma_expected"].iloc[0] == pytest.approx(1 / np.sqrt(NAVE))
    cov_var = dict(zip(sphere_problem["cov"].ch_names, np.diag(sphere_problem["cov"].data)))
    for ch_type, factor in (("grad", 2.0), ("mag", 3.0)):
        if estimator == "sqrt":  # one pooled level: the RMS of the whitened groups
            factor = np.sqrt((2 * 2.0**2 + 3.0**2) / 3)
        assert table.loc[ch_type, "noise_to_cov_ratio"] == pytest.approx(factor, rel=0.1)
        physical = factor * np.sqrt(np.mean([cov_var[n] for n in
                                             np.array(evoked.ch_names)[ch_types == ch_type]]))
        assert table.loc[ch_type, "noise_std"] == pytest.approx(physical / np.sqrt(NAVE),
                                                                rel=0.1)
    assert table.loc["grad", "unit"] == "T/m" and table.loc["mag", "unit"] == "T"


def test_clar_on_epochs(sphere_problem):
    """CLaR takes single trials, finds the sources and reports the single-trial noise level."""
    evoked = sphere_problem["evoked"]
    rng = np.random.default_rng(4)
    ones = np.ones(len(evoked.ch_names))
    trials = np.stack([sphere_problem["signal"] + _noise(rng, sphere_problem["cov_sqrt"],
                                                         len(evoked.times), 1.5 * ones)
                       for _ in range(12)])
    epochs = mne.EpochsArray(trials, evoked.info, tmin=evoked.times[0], verbose=False)
    sol = sparse_inverse(epochs, sphere_problem["forward"], sphere_problem["cov"],
                         estimator="clar", loose=0.0, alpha=0.5)
    amplitude = np.abs(sol.stc.data).max(axis=1)
    assert set(sol.stc.vertices[0][np.argsort(amplitude)[::-1][:2]]) == set(TRUE_SOURCES)
    table = sol.noise_levels
    assert (table["sigma_expected"] == 1.0).all()  # single trials: nave = 1
    assert sol.selection == "none"  # CLaR has no post-selection
    np.testing.assert_allclose(table["noise_to_cov_ratio"], 1.5, rtol=0.15)


def test_sparse_inverse_errors(sphere_problem):
    evoked, forward, cov = (sphere_problem[k] for k in ("evoked", "forward", "cov"))
    with pytest.raises(ValueError, match="fraction of alpha_max"):
        sparse_inverse(evoked, forward, cov, alpha=50)
    with pytest.raises(ValueError, match="pass an mne.Epochs"):
        sparse_inverse(evoked, forward, cov, estimator="clar")
    with pytest.raises(ValueError, match="'estimator'"):
        sparse_inverse(evoked, forward, cov, estimator="mxne")
    with pytest.raises(ValueError, match="pick_ori='vector'"):
        sparse_inverse(evoked, forward, cov, loose=0.0, pick_ori="vector", alpha=0.5)
    with pytest.raises(TypeError, match="noise_cov"):
        sparse_inverse(evoked, forward, cov.data)
    with pytest.raises(ValueError, match="'selection'"):
        sparse_inverse(evoked, forward, cov, selection="merge")


def test_write_sparse_solution(sphere_problem, tmp_path):
    from neuroopt.meeg.inverse import write_sparse_solution

    sol = sparse_inverse(_simulated_evoked(sphere_problem), sphere_problem["forward"],
                         sphere_problem["cov"], estimator="sqrt", alpha=0.4, loose=1.0)
    stc_fname = tmp_path / "sub-01_task-demo_desc-sqrt-vl.stc"
    noise_fname = tmp_path / "sub-01_task-demo_desc-sqrt_noise.tsv"
    write_sparse_solution(sol, stc_fname, noise_fname=noise_fname)
    stc = mne.read_source_estimate(stc_fname)
    np.testing.assert_array_equal(stc.vertices[0], sol.stc.vertices[0])
    np.testing.assert_allclose(stc.data, sol.stc.data, rtol=1e-6)  # float32 on disk
    table = pd.read_csv(noise_fname, sep="\t")
    assert list(table["ch_type"]) == list(sol.noise_levels["ch_type"])
    assert table["alpha"].iloc[0] == pytest.approx(sol.alpha)
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([stc_fname.name,
                                                                 noise_fname.name])
    with pytest.raises(FileExistsError, match="overwrite=True"):
        write_sparse_solution(sol, stc_fname)
    with pytest.raises(ValueError, match="-vl.stc"):
        write_sparse_solution(sol, tmp_path / "x.stc")
