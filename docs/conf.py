"""Sphinx configuration for django-pusherable's documentation."""

import os
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "tests.settings")

import django  # noqa: E402

django.setup()

import pusherable  # noqa: E402

project = "django-pusherable"
author = "the django-pusherable contributors"
copyright = "2014-2026, the django-pusherable contributors"
release = pusherable.__version__
version = ".".join(release.split(".")[:2])

extensions = [
    "sphinx.ext.autodoc",
    "sphinx.ext.napoleon",
    "sphinx.ext.viewcode",
]

# The docs build offline (CI has no network), so no intersphinx inventories.
autodoc_member_order = "bysource"
autodoc_typehints = "description"
nitpicky = False

templates_path: list[str] = []
exclude_patterns = ["_build"]

html_theme = "furo"
html_title = "django-pusherable"
html_static_path: list[str] = []
