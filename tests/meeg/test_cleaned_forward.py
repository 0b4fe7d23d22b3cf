"""The gain cleaned as the data were: each run's ICA removal and interpolation as one linear map."""

from __future__ import annotations

import mne
import numpy as np
import pytest

from neuroopt.meeg.cleaned_forward import clean_forward, cleaning_operator
from neuroopt.meeg.forward import make_sphere_forward

SFREQ = 200.0


@pytest.fixture(scope="module")
def cleaned_run():
    """An EEG run with a blink-like component, its ICA (blink excluded) and one bad channel."""
    montage = mne.channels.make_standard_montage("easycap-M1")
    names = [n for n in montage.ch_names if n not in ("Iz", "O9", "O10", "FCz", "AFz")][:40]
    info = mne.create_info(names, SFREQ, "eeg")
    info.set_montage(montage)
    rng = np.random.default_rng(0)
    n_times = 4000
    sources = rng.laplace(size=(6, n_times))
    sources[0] = np.maximum(0, np.sin(np.arange(n_times) / 40)) ** 8 * 20  # sparse "blinks"
    data = 1e-6 * (rng.standard_normal((len(names), 6)) @ sources
                   + 0.05 * rng.standard_normal((len(names), n_times)) + 3.0)
    raw = mne.io.RawArray(data, info, verbose="error")
    ica = mne.preprocessing.ICA(n_components=6, random_state=0, max_iter=500)
    ica.fit(raw, verbose="error")
    ica.exclude = [int(np.argmax(np.abs(ica.get_sources(raw).get_data()).max(axis=1)))]
    return raw, ica


def test_cleaning_operator_is_the_map_mne_applied(cleaned_run):
    raw, ica = cleaned_run
    cleaned = ica.apply(raw.copy(), verbose="error")
    cleaned.info["bads"] = ["C3"]
    cleaned.interpolate_bads(reset_bads=True, verbose="error")
    operator = cleaning_operator(raw.info, ica=ica, interpolated=["C3"])
    # ICA.apply is affine (it centres with the PCA mean): equal up to a constant per channel,
    # which the baseline correction of the epochs removes
    expected = cleaned.get_data()
    got = operator @ raw.get_data()
    np.testing.assert_allclose(got - got.mean(axis=1, keepdims=True),
                               expected - expected.mean(axis=1, keepdims=True), atol=1e-12)
    assert np.abs(operator - np.eye(len(operator))).max() > 0.1  # not a trivial map
    np.testing.assert_allclose(cleaning_operator(raw.info), np.eye(len(operator)), atol=1e-12)
    with pytest.raises(ValueError, match="not data channels of info"):
        cleaning_operator(raw.info, interpolated=["Cz9"])


def test_clean_forward_applies_the_weighted_operator(cleaned_run):
    raw, ica = cleaned_run
    forward, _, _ = make_sphere_forward(raw.info, pos=25.0, verbose="error")
    ops = [cleaning_operator(raw.info, ica=ica), cleaning_operator(raw.info, interpolated=["C3"])]
    cleaned = clean_forward(forward, raw.info, ops, weights=[3, 1])
    expected = (0.75 * ops[0] + 0.25 * ops[1]) @ forward["sol"]["data"]
    np.testing.assert_allclose(cleaned["sol"]["data"], expected, rtol=1e-10, atol=1e-20)
    if forward.get("_orig_sol") is not None:  # what MNE converts orientations from
        np.testing.assert_allclose(cleaned["_orig_sol"], expected, rtol=1e-10, atol=1e-20)
    assert not np.allclose(forward["sol"]["data"], expected)  # the input is left as it was
    with pytest.raises(ValueError, match="one per operator"):
        clean_forward(forward, raw.info, ops, weights=[1])
    with pytest.raises(ValueError, match="array per run"):
        clean_forward(forward, raw.info, [np.eye(3)])
