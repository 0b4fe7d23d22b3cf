"""The installed environment matches the version ranges declared in pyproject.toml.

The ranges of snakemake and its plugins are chosen so that pip resolves them without
backtracking (see the comment in pyproject.toml); this test keeps the environment the tests run
in (CI installs it with the README's test command) inside those ranges, so a range that no longer
holds what is tested shows up here.
"""

import sys
from importlib import metadata

import pytest
from packaging.requirements import Requirement

from conftest import REPO_ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover
    tomllib = pytest.importorskip("tomli")


def _declared(extras=("test", "slurm")):
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    requirements = [Requirement(r) for r in project["dependencies"]]
    for extra in extras:
        requirements += [Requirement(r) for r in project["optional-dependencies"][extra]]
    return [r for r in requirements if r.marker is None or r.marker.evaluate()]


@pytest.mark.parametrize(
    "name",
    ["snakemake", "snakemake-executor-plugin-slurm", "snakemake-interface-common", "snakemake-interface-executor-plugins"],
)
def test_snakemake_packages_have_bounded_ranges(name):
    """An open range lets pip try every newer release first (it backtracked through ~20)."""
    requirement = {r.name: r for r in _declared()}[name]
    operators = {spec.operator for spec in requirement.specifier}
    assert operators & {">=", "~=", "=="} and operators & {"<", "~=", "=="}, f"{requirement} needs a lower and an upper bound"


def test_installed_versions_are_in_the_declared_ranges():
    wrong = []
    for requirement in _declared():
        try:
            version = metadata.version(requirement.name)
        except metadata.PackageNotFoundError:
            wrong.append(f"{requirement}: not installed")
            continue
        if not requirement.specifier.contains(version, prereleases=True):
            wrong.append(f"{requirement}: {version} installed")
    assert not wrong, "installed versions outside pyproject.toml's ranges (pip install -e '.[test]'):\n" + "\n".join(wrong)
