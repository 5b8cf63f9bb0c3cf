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

from lab.patterns import all_patterns  # noqa: E402 (the lab: labdist/)

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

# The rows of the support matrix, grouped and in this order (every scenario
# of lab/scenarios.py is in one group: tests/docs/test_results_refs.py).
examples_scenario_groups = [
    ("Basics", ["version-discovery", "image-crud", "image-members", "request-id"]),
    ("Uploads", ["upload-content-length", "upload-chunked-1mib", "upload-chunked-16mib",
                 "upload-chunked-malformed", "upload-2gib", "client-abort"]),
    ("Clients", ["glanceclient-library", "glanceclient-cli", "openstacksdk",
                 "openstackclient-cli"]),
    ("Authentication", ["auth-401", "auth-public-paths", "auth-forged-headers",
                        "auth-private-image", "auth-publicize", "auth-keystone-down"]),
    ("Stop and reload", ["sigterm-during-upload", "graceful-reload"]),
    ("Image import", ["import-glance-direct", "import-web-download",
                      "import-cli-glance-direct", "import-cli-web-download",
                      "import-sigterm", "import-kill-9"]),
]

# The performance page's targets table (doc/source/_ext/bench_results.py).
# A missed target's reason is the one the run measured (benchmarks/reasons.py);
# these ("target:pattern") are the page's, for misses a run does not explain.
bench_miss_reasons = {
    "idle_rss:haproxy-multinode": "a worker on a database server also holds "
                                  "SQLAlchemy and its driver, about 26 MiB",
    "list_p50_100k:haproxy-multinode": "PostgreSQL had no statistics of the table: the "
                                       "growth figures are taken seconds after 100k rows "
                                       "are written, before autovacuum analyzes them, and "
                                       "the planner scans and sorts; after ANALYZE the "
                                       "same lists took 1.2-2.0 ms in-process (measured by "
                                       "hand, see How cost grows)",
}
# The how-to page of each pattern of the examples suite (support matrix
# links), from the patterns' declarations (lab/patterns/).
examples_pattern_docs = {p.name: p.doc for p in all_patterns()}
