"""Sphinx configuration of the neuroopt documentation (built offline: no intersphinx downloads).

Two pages are generated at build time so that they cannot drift from the code:
``configuration.rst`` from ``config/schema.yaml`` + ``config/config.yaml`` and ``api.rst`` from the
``__all__`` of each public sub-package. Build: ``make -C docs html`` (runs the gallery) or
``make -C docs html-noplot`` (the quick build CI runs).
"""

from __future__ import annotations

import os
import sys
from pathlib import Path

DOCS = Path(__file__).resolve().parent
ROOT = DOCS.parent
sys.path.insert(0, str(DOCS))
sys.path.insert(0, str(ROOT))

from _generate import write_api_reference, write_config_reference  # noqa: E402

import neuroopt  # noqa: E402

project = "neuroopt"
author = "the neuroopt developers"
copyright = "2026, the neuroopt developers"
release = getattr(neuroopt, "__version__", "0.1.0")
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.autosummary",
    "sphinx.ext.mathjax",
    "sphinx.ext.viewcode",
    "numpydoc",
    "sphinx_gallery.gen_gallery",
    "myst_parser",
    "sphinx-mathjax-offline",  # MathJax shipped with the site: the equations render offline
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
templates_path = ["_templates"]
exclude_patterns = ["_build", "generated/gallery/*.ipynb", "**.ipynb_checkpoints"]
root_doc = "index"

# generated pages (written before Sphinx reads the sources)
write_config_reference(ROOT / "config", DOCS / "generated" / "configuration_reference.rst")
write_api_reference(DOCS / "generated" / "api_reference.rst")

autosummary_generate = True
autodoc_default_options = {"inherited-members": False}
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_attributes_as_param_list = True
numpydoc_xref_param_type = False
# cross-links to numpy / scikit-learn / MNE / nilearn need their intersphinx inventories, which
# cannot be downloaded here: set NEUROOPT_DOCS_INTERSPHINX=1 on a machine with network access
intersphinx_mapping = {}
if os.environ.get("NEUROOPT_DOCS_INTERSPHINX") == "1":
    extensions.append("sphinx.ext.intersphinx")
    intersphinx_mapping = {
        "python": ("https://docs.python.org/3", None),
        "numpy": ("https://numpy.org/doc/stable", None),
        "scipy": ("https://docs.scipy.org/doc/scipy", None),
        "sklearn": ("https://scikit-learn.org/stable", None),
        "mne": ("https://mne.tools/stable", None),
        "nilearn": ("https://nilearn.github.io/stable", None),
        "nibabel": ("https://nipy.org/nibabel", None),
        "pandas": ("https://pandas.pydata.org/docs", None),
    }

myst_heading_anchors = 3
suppress_warnings = ["myst.header"]  # README sections included in the guide start at level 2

html_theme = "pydata_sphinx_theme"
html_title = "neuroopt"
html_theme_options = {
    "navigation_with_keys": False,
    "show_toc_level": 2,
    "secondary_sidebar_items": ["page-toc"],
}
html_sidebars = {"index": []}



def _skip_member(app, what, name, obj, skip, options):
    # members inherited from scikit-learn (get_params, set_params, the metadata-routing methods
    # generated on every estimator...) document scikit-learn, not neuroopt
    module = getattr(obj, "__module__", None) or ""
    if module.split(".")[0] in ("sklearn", "builtins"):
        return True
    if name == "get_metadata_routing" or (name.startswith("set_") and name.endswith("_request")):
        return True
    return skip


def setup(app):
    app.connect("autodoc-skip-member", _skip_member)


sphinx_gallery_conf = {
    "examples_dirs": [str(ROOT / "examples")],
    "gallery_dirs": ["generated/gallery"],
    "filename_pattern": r".*\.py$",  # every example is executed (each under a minute)
    "ignore_pattern": r"__init__\.py",
    "within_subsection_order": "FileNameSortKey",
    "download_all_examples": False,
    "remove_config_comments": True,
    "abort_on_example_error": True,
    "reset_modules": ("matplotlib",),
    "capture_repr": (),
    "min_reported_time": 5,
}
