"""The documentation builds offline with warnings as errors (the quick build: examples not run).

A broken docstring, a dangling reference or a README section the user guide includes that was
renamed fails here. The examples themselves run in tests/test_examples.py.
"""

import subprocess
import sys

import pytest

from conftest import REPO_ROOT

pytest.importorskip("sphinx", reason="the docs extra (sphinx...) is installed with the test extra")


@pytest.mark.slow
def test_docs_build_without_warnings(tmp_path):
    cmd = [sys.executable, "-m", "sphinx", "-b", "html", "-W", "--keep-going", "-q",
           "-D", "plot_gallery=0", "-d", str(tmp_path / "doctrees"), str(REPO_ROOT / "docs"),
           str(tmp_path / "html")]
    proc = subprocess.run(cmd, capture_output=True, text=True, timeout=900)
    assert proc.returncode == 0, (proc.stdout + proc.stderr)[-5000:]
    html = tmp_path / "html"
    for page in ("index.html", "generated/configuration_reference.html",
                 "generated/api_reference.html", "generated/api/neuroopt.sparse.MultiTaskLasso.html",
                 "stages/sparse.html", "user_guide/running.html", "benchmarks.html"):
        assert (html / page).is_file(), f"{page} was not built"
    # MathJax ships with the site, so the stage pages' equations render without network
    assert (html / "_static/mathjax/tex-chtml.js").is_file(), "MathJax was not copied into the site"
    config_page = (html / "generated/configuration_reference.html").read_text()
    # every top-level section of the schema is documented
    for key in ("meeg.epochs.tmax", "r1glm.noise_model", "sparse.alpha", "rsa.n_bootstrap"):
        assert key in config_page, f"{key} missing from the configuration reference"
