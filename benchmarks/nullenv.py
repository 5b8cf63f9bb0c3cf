"""Run the null image service (:mod:`benchmarks.nullservice`) under a pattern's
own server files, unchanged but for the examples' path rewrite.

Every example names the application in one of two ways, and the null run
changes only what that name resolves to, never the file's text:

* a module, ``glancelet.wsgi.api:application`` (uWSGI's ``module =``,
  gunicorn's ``wsgi_app``), imported from the Python environment
  ``/opt/glancelet``. ``/opt/glancelet`` is a path token of
  ``lab/rewrite.py``: a test run points it at the environment running the
  tests; the null run points it at a *null environment*, a venv whose
  ``glancelet.wsgi.api`` is the null service (and whose ``bin/uwsgi`` and
  ``bin/gunicorn`` are the same servers);
* a script, ``WSGIScriptAlias /image /etc/glancelet/glancelet.wsgi``
  (mod_wsgi): the null run installs ``nullservice.py`` at that operator path
  instead of ``examples/apache-mod-wsgi/glancelet.wsgi``, rewritten like any
  example; ``glancelet-apache.conf`` is installed as shipped.

The benchmark then links the image file into the store directory as the
null service's one download (:func:`provide_download`).

A pattern whose nodes share a database server (``Pattern.database``,
haproxy-multinode) runs without it: the null service keeps its records in
a SQLite file in the store directory the nodes share, and there is no
schema to create.
"""

import copy
import os
import site
import subprocess
import sys
import sysconfig
from pathlib import Path

from lab.harness import PYTHON_ENVS, Pattern

HERE = Path(__file__).resolve().parent
NULL_SCRIPT = "benchmarks/nullservice.py"
WSGI_SCRIPT = "/etc/glancelet/glancelet.wsgi"
SHIM = '"""The null image service in glancelet\'s place (benchmarks/nullenv.py)."""\n'


def build(root):
    """Create the null environment under ``root``; return its path."""
    env = Path(root) / "null-env"
    if env.exists():
        return env
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(env)], check=True)
    purelib = Path(sysconfig.get_path("purelib", vars={"base": str(env),
                                                       "platbase": str(env)}))
    pkg = purelib / "glancelet" / "wsgi"
    pkg.mkdir(parents=True)
    (purelib / "glancelet" / "__init__.py").write_text(SHIM)
    (pkg / "__init__.py").write_text(SHIM)
    (pkg / "api.py").write_text(SHIM + "from nullservice import application  # noqa: F401\n")
    (purelib / "nullservice.py").write_text((HERE / "nullservice.py").read_text())
    # The servers' own packages (gunicorn), after the null glancelet on sys.path.
    (purelib / "zz_bench_servers.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    bin_dir = Path(sys.prefix) / "bin"
    (env / "bin" / "uwsgi").symlink_to(bin_dir / "uwsgi")
    gunicorn = env / "bin" / "gunicorn"
    gunicorn.write_text("#!%s\nimport sys\nfrom gunicorn.app.wsgiapp import run\n"
                        "sys.exit(run())\n" % (env / "bin" / "python"))
    gunicorn.chmod(0o755)
    os.chmod(root, 0o755)
    return env


class NullPattern(Pattern):
    """A pattern's declaration, with the null service as the application."""

    python_env = None

    def launch(self, ws):
        """Start the servers from the workspace, without PYTHONPATH: uWSGI and
        gunicorn put their working directory first on sys.path, and from a
        checkout of this repository (or with it on PYTHONPATH) they would
        import the real glancelet package first."""
        for token in PYTHON_ENVS:
            ws.values[token] = str(self.python_env)
        here, pythonpath = os.getcwd(), os.environ.pop("PYTHONPATH", None)
        os.chdir(ws.root)
        try:
            return super().launch(ws)
        finally:
            os.chdir(here)
            if pythonpath is not None:
                os.environ["PYTHONPATH"] = pythonpath


def null_pattern(pattern, env):
    """``pattern`` running the null service from ``env`` (see the module doc)."""
    clone = copy.copy(pattern)
    clone.__class__ = NullPattern
    clone.python_env = env
    clone.name = pattern.name
    # No database server: the null service keeps its records in SQLite,
    # in the store that a multi-node pattern's nodes share (nullservice.py).
    clone.database = None
    clone.files = tuple((NULL_SCRIPT if operator == WSGI_SCRIPT else example, operator)
                        for example, operator in pattern.files)
    return clone


def provide_download(dep, image):
    """Link ``image`` into the deployment's store as the null download."""
    target = Path(dep.store_dir) / "null-download.bin"
    target.parent.mkdir(parents=True, exist_ok=True)
    if not target.exists():
        target.symlink_to(image)
