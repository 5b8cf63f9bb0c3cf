"""Sphinx configuration for glancelet's release notes (reno)."""

project = "glancelet release notes"
copyright = "2026, the glancelet authors"
author = "the glancelet authors"

extensions = ["reno.sphinxext"]

root_doc = "index"
exclude_patterns = ["_build"]
templates_path = []
html_static_path = []
html_theme = "furo"
html_title = "glancelet release notes"
