"""CI's tier of the examples suite: what ``tox -e examples-ci`` runs.

The full suite (``tox -e examples``: every pattern x every scenario, and
every other test in tests/examples/) takes over an hour on 2 cores. A
developer runs it and commits the results file it writes
(doc/source/_data/examples-results.json); the file's digest per pattern
makes the site show a pattern's cells as stale once its examples/ files or
glancelet/ change, until the next full run or a run of that pattern merged
in (``--pattern``, ``python -m lab.results merge``).

CI (``.ci/run``, which runs ``tox``) runs this declared subset instead:

* every test that is not a pattern x scenario cell (the symptom, unit,
  Apache, TLS, relay-buffer, multi-node and rewrite tests): each proves one
  claim once, and most start their own servers; but not those marked
  ``full_only``, which wait out a real timeout of a minute or more (HAProxy's
  50 s sample timeouts);
* every pattern with every scenario but the :data:`SLOW` and :data:`CLI`
  ones, on the pattern's one shared deployment;
* the :data:`SLOW` and :data:`CLI` scenarios on the :data:`REPRESENTATIVE`
  patterns only: one per server family and the multi-node one.

With ``--service glance`` (``tox -e examples-glance-ci``, after Glance's
own install) the tier is :data:`GLANCE_PATTERNS` x :data:`GLANCE_SCENARIOS`
instead: every Glance deployment imports Glance in each of its processes,
40-90 s a start on 2 shared cores, so CI starts one per pattern and keeps
the scenarios that run on it.

A tier run deselects the rest, so it writes the partial results file
(doc/build/), never the committed one (see conftest.py).
"""

# Scenarios that start their own deployment, send GiBs or wait out a
# documented delay (a drain, a reload, a Keystone restart). Seconds per
# pattern in the full run of 1c51221 (pytest -o console_output_style=times,
# on 2 shared cores): 32-33, 16-24, 12-24, 3-8, 17-45, 7-17, 8-9.
SLOW = frozenset({
    "upload-2gib",
    "graceful-reload",
    "sigterm-during-upload",
    "client-abort",
    "import-sigterm",
    "import-kill-9",
    "auth-keystone-down",
})

# The command-line clients: their requests are those of the library
# scenarios (glanceclient-library, openstacksdk, import-glance-direct,
# import-web-download), which run on every pattern; each command adds
# seconds of interpreter start. 3-11 s per scenario and pattern in that run.
CLI = frozenset({
    "glanceclient-cli",
    "openstackclient-cli",
    "import-cli-glance-direct",
    "import-cli-web-download",
})

# One pattern per server family, and the multi-node pattern.
REPRESENTATIVE = frozenset({
    "uwsgi-http",          # uWSGI alone (the reference)
    "apache-proxy-http",   # Apache httpd in front
    "nginx-gunicorn",      # nginx in front, gunicorn behind
    "haproxy-multinode",   # HAProxy in front of two nodes
})

# OpenStack Glance (``--service glance``): the patterns CI runs it under,
# the three issue 13 asks for. The other patterns with Glance files
# (Pattern.glance) run it in the full run only.
GLANCE_PATTERNS = frozenset({
    "uwsgi-http",        # Glance's own uWSGI ini (glance-uwsgi.ini), no proxy
    "apache-mod-wsgi",   # Glance in mod_wsgi, from /opt/glance-mod-wsgi-venv
    "nginx-proxy-http",  # nginx in front, under /image: the behind-proxy.conf drop-in
})

# The Glance scenarios CI runs: those on the pattern's one shared deployment
# (test_scenarios.py) that pass, or fail as declared, on every pattern.
# Glance runs behind the run's Keystone, as in the full column; request-id
# fails as lab.glance.EXPECTED_FAILURES declares. Not here: the :data:`SLOW`
# ones (each starts Glance again, 40-90 s), the :data:`CLI` ones
# (test_glance_service.py runs python-glanceclient) and the auth-* ones
# (glancelet's CI tier and the full Glance column run them).
# upload-chunked-malformed is here since it waits for Glance's cleanup of
# each refused upload (send_in_two in test_scenarios.py); before, its next
# request could meet that cleanup, which Glance on SQLite answered with 500.
GLANCE_SCENARIOS = frozenset({
    "version-discovery",
    "image-crud",
    "upload-content-length",
    "upload-chunked-1mib",
    "upload-chunked-16mib",
    "upload-chunked-malformed",
    "request-id",
})

TIERS = ("full", "ci")


def selected(tier, service, pattern, scenario):
    """Whether the cell (``service``, ``pattern``, ``scenario``) runs in ``tier``."""
    if tier == "full":
        return True
    if service == "glance":
        return pattern in GLANCE_PATTERNS and scenario in GLANCE_SCENARIOS
    return scenario not in SLOW | CLI or pattern in REPRESENTATIVE
