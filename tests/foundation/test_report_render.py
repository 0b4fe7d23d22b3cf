"""The headless-Chromium check of the reports fails on what a reader would see as broken."""

import base64
import re

import mne
import numpy as np
import pytest

from report_render import check_report, find_chromium


@pytest.fixture(scope="module")
def chromium():
    path = find_chromium()
    if path is None:
        pytest.skip("headless Chromium not found (Debian package `chromium`): the report rendering is not checked")
    return path


def test_check_finds_broken_blank_and_empty_entries(chromium, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = mne.Report(title="check", verbose="error")
    fig, ax = plt.subplots()
    ax.plot(np.sin(np.linspace(0, 6, 50)))
    report.add_figure(fig, title="good")
    report.add_figure(plt.figure(), title="blank")  # a figure with nothing drawn
    fig2, ax2 = plt.subplots()
    ax2.plot(np.cos(np.linspace(0, 6, 50)))
    report.add_figure(fig2, title="broken")
    report.add_html("", title="empty")
    report.add_html("<p>text</p>", title="text")
    path = tmp_path / "report.html"
    report.save(path, open_browser=False, verbose="error")
    text = path.read_text()
    payloads = re.findall(r'src="data:image/\w+;base64,([^"]+)"', text)
    corrupt = base64.b64encode(b"not an image").decode()
    path.write_text(text.replace(payloads[-1], corrupt))  # the last figure ("broken")
    result = check_report(chromium, path, tmp_path)
    assert result["images"] == 3
    assert result["broken"] == ["broken / broken"]
    assert result["blank"] == ["blank / blank"]
    assert result["empty"] == ["empty"]
    assert result["entries"] == 5
