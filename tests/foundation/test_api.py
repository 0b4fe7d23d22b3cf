"""The notebook API: sub-packages reachable from the top, imported lazily."""

import subprocess
import sys
from pathlib import Path

import pytest

import neuroopt


def test_subpackages_reachable_from_the_top_without_heavy_imports():
    code = (
        "import sys, neuroopt; heavy = [m for m in ('mne', 'nilearn', 'sklearn', 'numba', 'neuroopt.meeg') if m in sys.modules]; "
        "assert not heavy, heavy; import types; assert isinstance(neuroopt.meeg, types.ModuleType); "
        "assert 'mne' in sys.modules; print(neuroopt.rsa.__name__)"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "neuroopt.rsa"


def test_subpackage_list_matches_the_folders():
    folders = {p.name for p in Path(neuroopt.__file__).parent.iterdir() if (p / "__init__.py").is_file()}
    assert set(neuroopt._SUBPACKAGES) == folders
    assert set(neuroopt._SUBPACKAGES) <= set(dir(neuroopt))


def test_unknown_attribute_names_the_subpackages():
    with pytest.raises(AttributeError, match="sub-packages are datasets"):
        neuroopt.not_a_module
