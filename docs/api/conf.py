"""Sphinx configuration of the API reference: ``sphinx-build -W -b html docs/api <out>``.

Built from the numpydoc docstrings of the public API (numpydoc renders the
sections); ``-W`` turns every warning into an error.  Needs the ``docs``
extra: ``pip install -e ".[docs]"``.
"""

import os
import sys

sys.path.insert(0, os.path.abspath(os.path.join(os.path.dirname(__file__), "..", "..")))

project = "hamsearch"
author = "hamsearch contributors"
copyright = "hamsearch contributors"  # noqa: A001 - Sphinx's name

extensions = ["sphinx.ext.autodoc", "numpydoc"]

# numpydoc: no per-member stub pages (autodoc's :members: lists them);
# cross-references are resolved against the documented objects only.
numpydoc_show_class_members = False
numpydoc_class_members_toctree = False
numpydoc_xref_param_type = False
numpydoc_attributes_as_param_list = False

autodoc_member_order = "bysource"
autodoc_typehints = "none"
autodoc_default_options = {"members": True, "undoc-members": False, "show-inheritance": False}
# torch, Ray and scikit-learn are optional: the pages of the deep models and
# the sharded index still build without them.
autodoc_mock_imports = []
for _mod in ("torch", "ray", "sklearn", "scipy"):
    try:
        __import__(_mod)
    except ImportError:
        autodoc_mock_imports.append(_mod)

html_theme = "alabaster"
html_static_path = []
exclude_patterns = ["_build"]
# the build must not depend on the date or the machine
today_fmt = "hamsearch API reference"
