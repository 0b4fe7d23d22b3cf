"""Code that checks itself: ruff over the repository and numpydoc validation of the public API.

The rules live in pyproject.toml (``[tool.ruff]``, ``[tool.numpydoc_validation]``), as in MNE;
the docstring check walks the API reference's sub-packages as celer's
``test_docstring_parameters.py`` does.
"""

import importlib
import importlib.util
import inspect
import shutil
import subprocess
import sys

import pytest

from conftest import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")

CHECKED = ["neuroopt", "tests", "benchmarks", "examples", "workflows/scripts", "docs"]


def _ruff():
    found = shutil.which("ruff", path=str(REPO_ROOT / ".venv" / "bin")) or shutil.which("ruff")
    if found:
        return [found]
    if importlib.util.find_spec("ruff") is not None:
        return [sys.executable, "-m", "ruff"]
    pytest.skip("ruff is not installed (it is in the test extra: pip install -e '.[test]')")


def test_ruff():
    result = subprocess.run([*_ruff(), "check", "--no-cache", *CHECKED], cwd=REPO_ROOT, capture_output=True, text=True)
    assert result.returncode == 0, result.stdout[-5000:] + result.stderr[-2000:]


def _public_packages():
    spec = importlib.util.spec_from_file_location("_docs_generate", REPO_ROOT / "docs" / "_generate.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return list(module.PUBLIC_PACKAGES)


def _public_objects():
    seen = set()
    for package in _public_packages():
        module = importlib.import_module(package)
        for name in getattr(module, "__all__", []):
            obj = getattr(module, name)
            if not (inspect.isfunction(obj) or inspect.isclass(obj)):
                continue
            qualname = f"{obj.__module__}.{obj.__qualname__}"
            if qualname not in seen:
                seen.add(qualname)
                yield qualname


def _undocumented_fields(qualname):
    """Fields of a dataclass missing from its Attributes section (numpydoc's PR01 looks for a
    Parameters section, which a result dataclass documents as Attributes)."""
    import dataclasses

    from numpydoc.docscrape import ClassDoc

    module, name = qualname.rsplit(".", 1)
    cls = getattr(importlib.import_module(module), name)
    documented = {n.strip() for item in ClassDoc(cls, config={"show_class_members": False})["Attributes"]
                  for n in item.name.split(",")}
    return [f.name for f in dataclasses.fields(cls) if f.name not in documented and not f.name.startswith("_")]


def test_public_api_docstrings():
    import dataclasses

    validate = pytest.importorskip("numpydoc.validate", reason="numpydoc is in the docs extra (installed with the test extra)")
    with open(REPO_ROOT / "pyproject.toml", "rb") as fid:
        checks = set(tomllib.load(fid)["tool"]["numpydoc_validation"]["checks"])
    problems = []
    for qualname in _public_objects():
        module, name = qualname.rsplit(".", 1)
        is_dataclass = dataclasses.is_dataclass(getattr(importlib.import_module(module), name))
        for code, message in validate.validate(qualname)["errors"]:
            if code in checks and not (is_dataclass and code in ("PR01", "PR02")):
                problems.append(f"{qualname}: {code} {message}")
        if is_dataclass and _undocumented_fields(qualname):
            problems.append(f"{qualname}: fields {_undocumented_fields(qualname)} not in its Attributes section")
    assert len(list(_public_objects())) > 50
    assert not problems, f"{len(problems)} docstring problem(s):\n" + "\n".join(problems)
