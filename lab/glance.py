"""OpenStack Glance itself as the service behind a pattern's server files.

``python -m lab.glance`` installs the pinned Glance
(``tests/glance-requirements.txt``) into the Python environment running it
(the one the tests run: every Python-environment token of
:data:`lab.harness.PYTHON_ENVS`, ``/opt/glance`` included, stands for it).
As root it runs pip; otherwise it exits non-zero with the exact command.

In a :class:`~lab.harness.Workspace`, :func:`install` puts Glance's files
where an operator does (``/etc/glance/...``, through the lab's one rewrite:
the Glance path tokens are in :data:`lab.rewrite.TOKENS`) and runs
``glance-manage db_sync``. A pattern that can run Glance says how in its
declaration (``Pattern.glance``; ``Pattern.serving("glance")``). The
scenarios run Glance as shipped: glance-api-paste.ini's ``keystone``
pipeline, keystonemiddleware's auth_token configured by glance-api.conf's
``[keystone_authtoken]`` against the run's Keystone and memcached
(lab/identity.py). Only a Glance run without Keystone edits
glance-api-paste.ini, with one line: :data:`FAKE_AUTHTOKEN` (a pattern's
``without_keystone()`` copy: the benchmarks) or :data:`TRUSTED_HEADERS`
(test_glance_service.py, test_glance_upstream_ini.py).

:func:`upstream_sample_ini` reads Glance's own uWSGI sample from its sdist
at test time: this repository does not copy Glance's files.
"""

import hashlib
import importlib.metadata
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

from lab.glance_identity import IDENTITY_HEADERS  # noqa: F401 (the tests' headers)
from lab import apache
from lab.harness import REPO_ROOT, ExpectedFailure, LineEdit
from lab.patterns import GLANCE_IMPORT_NOT_QUEUED

REQUIREMENTS = REPO_ROOT / "tests" / "glance-requirements.txt"
VERSION = "33.0.0"
# keystonemiddleware's memcached client, for glance-api.conf's
# [keystone_authtoken] memcached_servers; Glance does not depend on it.
TOKEN_CACHE = "python-memcached"
# The database drivers of haproxy-multinode's [database] connection:
# PostgreSQL's (postgresql+psycopg2://, oslo.db's), MariaDB's
# (mysql+pymysql://); Glance depends on neither.
DB_DRIVERS = ("psycopg2-binary", "PyMySQL")

# glance-api.conf is the same for every pattern (example, operator path);
# each pattern's own Glance files are in its declaration (Pattern.glance).
API_CONF = ("examples/glance/glance-api.conf", "/etc/glance/glance-api.conf")


def _pattern_examples():
    """The files of every pattern's Glance declaration: its ``files`` and
    those its servers install on their nodes (a multi-node pattern's)."""
    from lab.patterns import all_patterns
    return tuple(f for p in all_patterns() if p.glance
                 for f in tuple(p.glance.get("files", ())) + tuple(
                     pair for run in p.glance.get("servers", ()) for pair in run.files))


# Every examples/ file of Glance's (tests/examples/test_examples_used.py).
EXAMPLES = (API_CONF,) + _pattern_examples()

# glance-api-paste.ini is Glance's own file: pip installs it under the
# environment's etc/glance/; operators copy it next to glance-api.conf.
PASTE_INI = "/etc/glance/glance-api-paste.ini"

# Tests only, never shown as an example: keystonemiddleware's auth_token in
# the flavor=keystone pipeline replaced by lab.glance_identity, which gives
# every request an admin's identity headers, so that clients without a token
# run against Glance (default policy, glance-api.conf as shipped) without a
# Keystone: the Glance copy of a pattern's without_keystone() (benchmarks/,
# which measure glancelet without Keystone too). The scenarios do not use it.
FAKE_AUTHTOKEN = LineEdit(
    r"^paste.filter_factory = keystonemiddleware.auth_token:filter_factory$",
    replace="paste.filter_factory = lab.glance_identity:filter_factory")
# test_glance_service.py's variant: the keystone pipeline without authtoken;
# Glance's context middleware then trusts the identity headers a client
# sends (IDENTITY_HEADERS), and refuses a request without them.
TRUSTED_HEADERS = LineEdit(
    r"^keystone = .* authtoken context rootapp$",
    replace="keystone = cors http_proxy_to_wsgi versionnegotiation osprofiler context rootapp")

# Scenarios a Glance run (pytest --service glance) does not cover, and why;
# the support matrix shows them as not run for Glance.
NOT_RUN = {}

# What Glance does differently from glancelet in every pattern that runs it,
# as asserted (the scenario declares it; a pattern's own declaration wins):
# {scenario id: ExpectedFailure}.
EXPECTED_FAILURES = {
    # POST /v2/images with a JSON list: the create deserializer pops "tags"
    # from the body as from a dict (glance/api/v2/images.py). The version
    # documents come from the versionnegotiation filter, which is ahead of
    # the context middleware that adds the request id.
    "request-id": ExpectedFailure(
        500, "The server has either erred or is incapable of performing the requested "
        "operation.", "Glance 33 answers a JSON list as an image's body with 500, not 400 "
        "(a TypeError in its create deserializer), and its version documents (GET / and "
        "GET /versions) carry no x-openstack-request-id",
        log=(None, "TypeError: pop expected at most 1 argument, got 2"),
        without_request_id=("GET /", "GET /versions")),
    # The import flow sets the image to importing before it runs
    # (glance/async_/flows/api_image_import.py), and nothing sets it back
    # when the process running it dies. import_image checks the status first
    # (web-download needs queued, glance-direct uploading), so the 60-minute
    # expiry of the import lock (_enforce_import_lock) is never reached.
    "import-kill-9": ExpectedFailure(
        409, GLANCE_IMPORT_NOT_QUEUED,
        "Glance 33 does not recover an import whose process is killed: the image stays "
        "importing and its task processing, and a new import of it is refused with 409; "
        "deleting the image removes the staged part",
        image_status="importing", task_status="processing"),
    # glance-api-paste.ini (Glance's own) sets delay_auth_decision = true on
    # authtoken: a token auth_token cannot validate is marked invalid and
    # Glance's context middleware refuses it.
    "auth-keystone-down": ExpectedFailure(
        401, "This server could not verify that you are authorized to access the document "
        "you requested.", "with Keystone unreachable, Glance answers a token it has not "
        "validated yet with 401, not 503: glance-api-paste.ini sets delay_auth_decision = "
        "true, so auth_token passes the token on as invalid",
        log=(None, "Unable to validate token")),
}

# examples/apache-mod-wsgi/glance-apache.conf's venv: Glance and mod_wsgi
# for Debian's python3 (mod_wsgi's daemons run as www-data), apart from
# glancelet's (lab.apache.MOD_WSGI_VENV).
MOD_WSGI_VENV = Path("/opt/glance-mod-wsgi-venv")

MANAGE_TIMEOUT = 300
# The schema step, as glance-api.conf's header gives it.
DB_SYNC = "/opt/glance/bin/glance-manage --config-file /etc/glance/glance-api.conf db_sync"
# With [database] connection in a drop-in (haproxy-multinode's): oslo.config
# reads its default config dirs (glance-api.conf.d) before the files named
# by --config-file, so glance-api.conf's own connection would win over the
# drop-in's; --config-dir after --config-file is read after it.
DB_SYNC_CONF_D = DB_SYNC.replace(" db_sync", " --config-dir /etc/glance/glance-api.conf.d db_sync")

# Glance's sample uWSGI ini, as its sdist on PyPI ships it (path in the
# tarball), and the sdist's digest (PyPI's sha256 of glance-33.0.0.tar.gz).
SAMPLE_INI = "glance-%s/httpd/glance-api-uwsgi.ini" % VERSION
SDIST_SHA256 = "f6483b580565836e412747ed247703e52a96b0cf168c732986ac595377c92678"
DOWNLOAD_TIMEOUT = 300
# Seconds Glance may take to answer after its server starts: each uWSGI
# worker imports Glance (lazy-apps), 3-8 s on 2 idle cores, far more on busy ones.
START_DEADLINE = 240.0


def installed_version(name="glance"):
    """The version of distribution ``name`` (Glance) in this Python
    environment, or None."""
    try:
        return importlib.metadata.version(name)
    except importlib.metadata.PackageNotFoundError:
        return None


def install_command():
    return [sys.executable, "-m", "pip", "install", "-r", str(REQUIREMENTS)]


def provision(is_root=None, run=subprocess.run, err=sys.stderr):
    """Install the pinned Glance here (as root), else print the command; 0 when done."""
    if installed_version() == VERSION and all(
            installed_version(name) for name in (TOKEN_CACHE,) + DB_DRIVERS):
        return 0
    cmd = install_command()
    root = os.geteuid() == 0 if is_root is None else is_root
    if not root:
        print("glance: Glance %s is not installed in %s (found: %s)\nRun as root:\n  %s"
              % (VERSION, sys.prefix, installed_version(), " ".join(cmd)), file=err)
        return 1
    started = time.monotonic()
    run(cmd, check=True)
    print("glance: installed Glance %s in %.0f s" % (VERSION, time.monotonic() - started),
          file=err)
    return 0


def mod_wsgi_venv_steps(venv=MOD_WSGI_VENV):
    """The commands that build ``venv`` (what examples/apache-mod-wsgi/
    glance-apache.conf shows) and install the tests' identity filter
    (lab.glance_identity) into it; the first three only when its Glance,
    mod_wsgi or :data:`TOKEN_CACHE` is missing."""
    python = venv / "bin" / "python"
    pip = [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    steps = [[str(apache.SYSTEM_PYTHON), "-m", "venv", str(venv)],
             pip + ["--no-cache-dir", "mod_wsgi"],
             pip + ["-r", str(REQUIREMENTS)]]
    found = subprocess.run([str(python), "-c", "import importlib.metadata as m; "
                            "print(m.version('glance'), m.version('mod_wsgi'), "
                            "m.version(%r))" % TOKEN_CACHE],
                           capture_output=True, text=True) if python.exists() else None
    if found is not None and found.returncode == 0 and found.stdout.split()[0] == VERSION:
        steps = []
    return steps + [pip + ["--no-deps", "--force-reinstall", str(REPO_ROOT / "labdist")],
                    ["chmod", "-R", "a+rX", str(venv)]]


def provision_mod_wsgi(is_root=None, run=subprocess.run, err=sys.stderr):
    """Build the Glance mod_wsgi venv (as root), else print the commands; 0 when done."""
    steps = mod_wsgi_venv_steps()
    if not (os.geteuid() == 0 if is_root is None else is_root):
        print("glance: run as root:\n%s" % "\n".join("  " + " ".join(s) for s in steps),
              file=err)
        return 1
    started = time.monotonic()
    for step in steps:
        run(step, check=True)
    apache.check_mod_wsgi_links_outside_root(MOD_WSGI_VENV)
    seconds = time.monotonic() - started
    print("glance: %s ready in %.0f s" % (MOD_WSGI_VENV, seconds), file=err)
    return 0


def upstream_sample_ini(cache_dir, run=subprocess.run):
    """The text of Glance's httpd/glance-api-uwsgi.ini, read from the
    glance sdist that ``pip download`` puts in ``cache_dir`` (once: a later
    call reuses the file there)."""
    cache_dir = Path(cache_dir)
    sdist = cache_dir / ("glance-%s.tar.gz" % VERSION)
    if not sdist.exists():
        run([sys.executable, "-m", "pip", "download", "-q", "--disable-pip-version-check",
             "--no-deps", "--no-binary", ":all:", "glance==" + VERSION, "-d", str(cache_dir)],
            check=True, timeout=DOWNLOAD_TIMEOUT)
    digest = hashlib.sha256(sdist.read_bytes()).hexdigest()
    if digest != SDIST_SHA256:
        raise ValueError("%s: sha256 %s, not PyPI's %s" % (sdist, digest, SDIST_SHA256))
    with tarfile.open(sdist) as tar:
        return tar.extractfile(SAMPLE_INI).read().decode("utf-8")


def install(ws, paste_edits=(), sync=True):
    """Install glance-api.conf and glance-api-paste.ini (with ``paste_edits``:
    none behind Keystone) in workspace ``ws`` (a host: one node of a
    multi-node pattern) and, with ``sync``, create the database; return
    {operator path: installed path} and the db_sync seconds (None without)."""
    paste = Path(sys.prefix) / "etc" / "glance" / "glance-api-paste.ini"
    installed = {PASTE_INI: ws.install(str(paste), PASTE_INI, edits=paste_edits),
                 API_CONF[1]: ws.install(*API_CONF)}
    # The directories the how-to pages have the operator create: the stores,
    # and /run/glance (no unit's RuntimeDirectory= makes it; Pattern.launch
    # has emptied /run as after a boot).
    for path in ("/var/lib/glance/images", "/var/lib/glance/staging", "/var/lib/glance/tasks",
                 "/run/glance"):
        ws.path(path).mkdir(parents=True, exist_ok=True)
    # A pattern's drop-ins (lab.patterns.GLANCE_CONF_D): oslo.config looks
    # for glance-api.conf.d in ~/.glance, ~, /etc/glance and /etc, and reads
    # the first found; HOME=<root>/etc/glance finds the workspace's first.
    ws.spawn_env = dict(ws.spawn_env, HOME=str(ws.path("/etc/glance")))
    return installed, db_sync(ws) if sync else None


def db_sync(ws, command=DB_SYNC):
    """``command`` (:data:`DB_SYNC`) in ``ws``, installed by :func:`install`
    (its environment: the servers'); its seconds."""
    started = time.monotonic()
    proc = subprocess.run(ws.rewrite(command).split(), capture_output=True, text=True,
                          timeout=MANAGE_TIMEOUT, env=dict(os.environ, **ws.spawn_env))
    assert proc.returncode == 0, "glance-manage db_sync:\n%s%s" % (proc.stdout, proc.stderr)
    return time.monotonic() - started


def db_sync_conf_d(ws):
    """:func:`db_sync` with :data:`DB_SYNC_CONF_D`: the schema step of a
    pattern whose [database] connection is a drop-in's (a database server)."""
    return db_sync(ws, DB_SYNC_CONF_D)


if __name__ == "__main__":
    sys.exit(provision() or provision_mod_wsgi())
