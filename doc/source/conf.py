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
_GLIBC_KEEPS = (
    "glibc keeps the freed upload buffers of gunicorn's threads: once a block-sized "
    "buffer is freed, it raises its mmap threshold and serves the next ones from "
    "heaps it does not give back. By hand, twice, with the 256 KiB blocks of the "
    "run before: the same load on gunicorn left 41.3 and 42.8 MiB after 32 clients "
    "with glibc's defaults, 28.6 and 28.5 MiB with MALLOC_MMAP_THRESHOLD_=131072 "
    "in the workers' environment (aggregate uploads with 8 and 32 clients then "
    "171-235 MiB/s, against 281-318)")
_SLOWER_MACHINE = (
    "not the number of images: the same list (%s) took %s ms at 1,000 images. "
    "Every list ran slower in this run than in the one before, on SQLite too "
    "(uwsgi-http, first page at 1,000 images: 1.30 ms against 0.83), and so did "
    "glancelet's GET called in-process (56-80 us against 40-61; the null "
    "service's 19-28 against 14-27): the machine was slower during this run")
bench_miss_reasons = {
    "idle_rss:haproxy-multinode": "a worker on a database server also holds "
                                  "SQLAlchemy and its driver, about 26 MiB",
    "rss_after_clients:gunicorn": _GLIBC_KEEPS,
    "rss_after_clients:nginx-gunicorn": _GLIBC_KEEPS,
    "list_p50_100k:haproxy-multinode": _SLOWER_MACHINE % (
        "PostgreSQL, deep page with a tag filter, 5.39 ms at 100,000", "4.41"),
    "list_p50_100k:haproxy-multinode-mariadb": _SLOWER_MACHINE % (
        "MariaDB, deep page with a tag filter, 5.59 ms at 100,000", "5.74"),
}
# The how-to page of each pattern of the examples suite (support matrix
# links), from the patterns' declarations (lab/patterns/).
examples_pattern_docs = {p.name: p.doc for p in all_patterns()}
