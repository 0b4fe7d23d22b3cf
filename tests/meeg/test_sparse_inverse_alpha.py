"""``sparse_inverse(alpha="sure" | "cv")`` on a small simulated EEG problem, its errors and the
criterion curve of the report."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import mne  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402

from neuroopt.meeg.forward import make_sphere_forward  # noqa: E402
from neuroopt.meeg.inverse import sparse_inverse  # noqa: E402
from neuroopt.report.sources import plot_criterion_curve  # noqa: E402

SFREQ = 200.0
N_EPOCHS = 16


@pytest.fixture(scope="module")
def problem():
    montage = mne.channels.make_standard_montage("easycap-M1")
    names = [n for n in montage.ch_names if n not in ("Iz", "O9", "O10", "FCz", "AFz")]
    info = mne.create_info(names, SFREQ, "eeg")
    info.set_montage(montage)
    forward, _, _ = make_sphere_forward(info, pos=20.0)
    rng = np.random.default_rng(0)
    rr = forward["source_rr"]
    left = int(np.argmin(np.linalg.norm(rr - [-0.05, 0.0, 0.045], axis=1)))
    gain = forward["sol"]["data"].reshape(len(names), -1, 3)
    times = np.arange(30) / SFREQ
    signal = (gain[:, left] @ [0.0, 0.0, 1.0])[:, None] * 80e-9 * np.sin(2 * np.pi * 5 * times)
    noise_sd = 2e-6
    data = signal[None] + noise_sd * rng.standard_normal((N_EPOCHS,) + signal.shape)
    epochs = mne.EpochsArray(data, info, tmin=0.0, verbose=False)
    epochs.set_eeg_reference("average", projection=True, verbose=False)
    cov = mne.make_ad_hoc_cov(info, std=dict(eeg=noise_sd), verbose=False)
    return epochs, forward, cov, rr[left]


@pytest.mark.parametrize("alpha", ["sure", "cv"])
def test_sparse_inverse_searches_alpha(problem, alpha):
    epochs, forward, cov, true_pos = problem
    inst = epochs if alpha == "cv" else epochs.average()
    sol = sparse_inverse(inst, forward, cov, estimator="mtl", alpha=alpha)
    path = sol.criterion_path
    assert path is not None and path["chosen"].sum() == 1
    assert np.all(np.diff(path["alpha"]) < 0)
    chosen = path[path["chosen"]].iloc[0]
    assert chosen["alpha"] == pytest.approx(sol.alpha)
    assert chosen["criterion"] == path["criterion"].min()
    assert alpha_label(alpha) in sol.alpha_method
    # the strongest source lies near the simulated dipole
    peak = np.abs(sol.stc.data).max(axis=1).argmax()
    vertno = forward["src"][0]["vertno"]
    pos = forward["source_rr"][np.searchsorted(vertno, sol.stc.vertices[0][peak])]
    assert np.linalg.norm(pos - true_pos) < 0.03
    # "sure" warm-starts the final fit from the search's solution: the same as a cold fit
    assert sol.estimator.warm_start is False
    if alpha == "sure":
        cold = sparse_inverse(inst, forward, cov, estimator="mtl", alpha=sol.alpha_fraction)
        np.testing.assert_array_equal(cold.stc.vertices[0], sol.stc.vertices[0])
        np.testing.assert_allclose(cold.stc.data, sol.stc.data, atol=1e-3 * sol.stc.data.max())
    fig = plot_criterion_curve(path.to_dict("list"))
    assert len(fig.axes[0].lines) == 2  # the curve and the chosen alpha


def alpha_label(alpha):
    return {"sure": "SURE", "cv": "held-out"}[alpha]


def test_sparse_inverse_alpha_errors(problem):
    epochs, forward, cov, _ = problem
    with pytest.raises(ValueError, match="alpha='cv'.*mne.Epochs.*Evoked"):
        sparse_inverse(epochs.average(), forward, cov, alpha="cv")
    with pytest.raises(ValueError, match="alpha"):
        sparse_inverse(epochs.average(), forward, cov, alpha="best")
    with pytest.raises(ValueError, match="at least 2 are needed"):
        sparse_inverse(epochs[:1], forward, cov, alpha="cv")
    with pytest.raises(ValueError, match="CLaR has no SURE"):
        sparse_inverse(epochs, forward, cov, estimator="clar", alpha="sure")


def test_pivotal_auto_keeps_pure_noise_out(problem):
    """On noise alone, the pivotal ``alpha="auto"`` of sqrt is the quantile universal threshold.

    Its correction for the sigma the fit sees compares that sigma with ``noise_rms``, which
    reads pure noise low (0.89 of its RMS here, 59 x 30); not scaled for that, the alpha fell
    below the threshold and noise alone gave sources in 7 of these 20 draws (4 now; about 1
    from the threshold alone, the rest from the spread of ``noise_rms`` on so small a matrix,
    as the correction only lowers alpha).
    """
    from neuroopt.sparse.alpha_search import null_noise_rms_ratio

    epochs, forward, cov, _ = problem
    info = epochs.info
    rng = np.random.default_rng(1)
    noise_sd = 2e-6 / np.sqrt(N_EPOCHS)
    n_with_sources = 0
    for _ in range(20):
        data = noise_sd * rng.standard_normal((len(info["ch_names"]), 30))
        evoked = mne.EvokedArray(data, info, tmin=0.0, nave=N_EPOCHS, verbose=False)
        evoked.set_eeg_reference("average", projection=True, verbose=False)
        sol = sparse_inverse(evoked, forward, cov, estimator="sqrt", alpha="auto",
                             selection="none")
        n_with_sources += len(sol.stc.data) > 0
    assert n_with_sources <= 5
    # the ratio itself: below 1 on white noise, and stable
    ratio = null_noise_rms_ratio((59, 30), n_draws=10)
    assert 0.7 < ratio < 0.95
    assert ratio == pytest.approx(null_noise_rms_ratio((59, 30), n_draws=10, random_state=5),
                                  rel=0.02)
