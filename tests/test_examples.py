"""Every script in examples/ runs from start to end and draws its figures."""

import os
import subprocess
import sys

import pytest

from conftest import REPO_ROOT, _shared_data_root

EXAMPLES = sorted((REPO_ROOT / "examples").glob("*.py"))


@pytest.mark.slow
@pytest.mark.parametrize("script", EXAMPLES, ids=[p.stem for p in EXAMPLES])
def test_example_runs(script, tmp_path):
    if "shared" in script.read_text() and not (_shared_data_root() / "meg_sample").is_dir():
        pytest.skip(f"{script.name} needs the real sample data in {_shared_data_root()}")
    env = {**os.environ, "NEUROOPT_EXAMPLE_OUTPUT": str(tmp_path), "MPLBACKEND": "Agg", "OPENBLAS_NUM_THREADS": "1"}
    result = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]
    assert list(tmp_path.rglob("*.png")) or list(tmp_path.rglob("*.html")), "the example drew no figure"
