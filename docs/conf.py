"""Sphinx configuration of the minimix_core documentation.

Build: ``sphinx-build -W --keep-going -b html docs docs/_build/html`` (warnings are errors).
Test the examples: ``sphinx-build -W --keep-going -b doctest docs docs/_build/doctest``.
Parts of the pages are generated from the code at build time by ``_ext/minimix_docs.py``.
"""

from __future__ import annotations

import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path[:0] = [str(HERE.parent / "src"), str(HERE / "_ext")]

import minimix_core  # noqa: E402  (found through the path set just above)

project = "minimix_core"
author = "the minimix_core developers"
copyright = "the minimix_core developers, MIT licence"
release = minimix_core.__version__
version = release

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.doctest",
    "myst_parser",
    "minimix_docs",
]

source_suffix = {".rst": "restructuredtext", ".md": "markdown"}
root_doc = "index"
exclude_patterns = ["_build", "_ext", "Thumbs.db", ".DS_Store"]
templates_path: list[str] = []

# Markdown pages (replay.md, performance.md, the changelog) use plain CommonMark and tables.
myst_enable_extensions = ["colon_fence"]
myst_heading_anchors = 3

# The public names are documented where the package exports them, not in private modules.
autodoc_member_order = "bysource"
autodoc_typehints = "signature"
autodoc_class_signature = "mixed"
autodoc_preserve_defaults = True
add_module_names = False
python_use_unqualified_type_names = True

# `sphinx-build -b doctest`: every ``>>>`` example on every page. The tutorial imports what it
# uses itself; tests/test_tutorial.py runs it without this setup, as a reader would.
doctest_global_setup = """
import minimix_core
from minimix_core import *
"""
doctest_test_doctest_blocks = "default"

html_theme = "furo"
html_title = f"minimix_core {release}"
html_static_path = ["_static"]
html_css_files = ["custom.css"]
html_theme_options = {
    "navigation_with_keys": True,
}
