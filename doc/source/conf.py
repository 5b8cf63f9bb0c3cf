"""Sphinx configuration for the glancelet documentation site."""

import os
import sys

HERE = os.path.dirname(os.path.abspath(__file__))
REPO_ROOT = os.path.abspath(os.path.join(HERE, os.pardir, os.pardir))
sys.path.insert(0, os.path.join(HERE, "_ext"))

project = "glancelet"
copyright = "2026, the glancelet authors"
author = "the glancelet authors"

try:
    import glancelet
    release = glancelet.__version__
except ImportError:  # the build still says which version it documents
    release = "unknown"
version = release

extensions = [
    "sphinx_tabs.tabs",
    "sphinxcontrib.programoutput",
    "sphinx_copybutton",
    "reno.sphinxext",
    "examples_results",
    "tempest_results",
    "glancelet_routes",
    "glancelet_snippets",
    "bench_results",
]

root_doc = "index"
exclude_patterns = ["_build", "_data"]
templates_path = []
nitpicky = True
# The pages literalinclude files from the repository's examples/ folder.
# Sphinx follows them for rebuilds; nothing is copied by hand.

html_theme = "furo"
html_title = "glancelet %s" % release
html_static_path = ["_static"]
html_css_files = ["glancelet.css"]
html_favicon = "_static/favicon.svg"
html_show_sourcelink = True
html_copy_source = True

# Tabs: the reader's choice (server, client) sticks across pages.
sphinx_tabs_disable_tab_closing = True
sphinx_tabs_valid_builders = ["linkcheck"]

# Copy buttons leave out shell prompts and output lines.
copybutton_prompt_text = r"\$ "
copybutton_prompt_is_regexp = True
copybutton_only_copy_prompt_lines = True
copybutton_line_continuation_character = "\\"

# programoutput: commands run from the repository root.
programoutput_use_ansi = False

# linkcheck is used for internal links only (tests/docs/test_links.py checks
# anchors in the built HTML); never reach out to the network.
linkcheck_ignore = [r"https?://"]

# The how-to page of each pattern of the examples suite (support matrix links).
examples_pattern_docs = {
    "uwsgi-http": "howto/uwsgi-http",
    "apache-proxy-http": "howto/apache-proxy-http",
    "apache-proxy-uwsgi": "howto/apache-proxy-uwsgi",
    "apache-mod-wsgi": "howto/apache-mod-wsgi",
    "apache-tls": "howto/apache-tls",
    "nginx-proxy-http": "howto/nginx-uwsgi",
    "nginx-uwsgi-pass": "howto/nginx-uwsgi",
    "gunicorn": "howto/gunicorn",
    "nginx-gunicorn": "howto/gunicorn",
    "haproxy-uwsgi": "howto/haproxy-uwsgi",
}
