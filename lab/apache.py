"""Apache httpd for the examples suite: provisioning, scaffolding and launcher.

What lives here, and what does not:

* The files an operator installs are in ``examples/apache-*/``. They are
  used exactly as shipped, except for the ports and filesystem paths that the
  harness's rewrite mechanism (``lab/rewrite.py``) changes.
* What an operator already has on a Debian host is **not** in examples/:
  ``/etc/apache2/apache2.conf`` with ``ServerRoot``, ``PidFile``, logs,
  ``User``/``Group``, the MPM and the modules ``a2enmod`` turned on. The test
  does not use Debian's apache2.conf (it would start the system's site
  and need ``APACHE_*`` variables); :func:`scaffold_config` writes a small
  stand-in for it into the run directory. That file is the harness's
  scaffolding, not operator config, and the docs never show it.
* Which modules to load is not guessed: every examples/ Apache file names them
  on a comment line ``# a2enmod: proxy proxy_http ...``, which is the command
  the docs tell a Debian operator to run. The scaffolding loads exactly those
  (plus the two modules every Debian install has on), so a module missing
  from that line makes the test fail on the directive that needs it.

Provisioning (:func:`provision`) is called by the harness's provision step
(``python -m lab.provision``) before pytest runs. It checks the
apt packages, builds the mod_wsgi virtualenv and installs glancelet into it.

mod_wsgi daemon processes run as ``www-data`` (mod_wsgi refuses root), so the
Python they run must be readable by www-data: pyenv's Python under /root
(mode 0700) is not. The venv is made from Debian's ``/usr/bin/python3`` in
:data:`MOD_WSGI_VENV`, mod_wsgi is built with ``--no-cache-dir`` (a cached
wheel would have been built against another libpython), and glancelet is
installed into it non-editable from a copy of the checkout.
"""

import grp
import os
import pathlib
import pwd
import re
import shlex
import shutil
import subprocess
import sys
import tempfile
import time

from lab.harness import CLIENT_CA, free_port

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"

APACHE2 = "/usr/sbin/apache2"
MODULE_DIR = "/usr/lib/apache2/modules"
# Debian's python3 and the headers mod_wsgi is built with.
SYSTEM_PYTHON = "/usr/bin/python3"
# The apache2 server kind's Debian packages (lab.servers): apache2-dev builds
# mod_wsgi; the mod_wsgi venv is made from Debian's python3; ssl-cert and
# openssl for mod_ssl.
APT_PACKAGES = ("apache2", "apache2-dev", "ssl-cert", "openssl", "python3", "python3-venv",
                "python3-dev", "build-essential")

# The mod_wsgi example's LoadModule/WSGIPythonHome lines name this venv.
MOD_WSGI_VENV = pathlib.Path("/opt/glancelet-mod-wsgi-venv")
WWW_USER = "www-data"
WWW_GROUP = "www-data"

# On in every Debian apache2 install (apache2.conf + mods-enabled defaults).
SCAFFOLD_MODULES = ("mpm_event", "authz_core")

# Exactly the two lines `mod_wsgi-express module-config` prints.
_MODULE_CONFIG_RE = re.compile(
    r'^LoadModule wsgi_module "(?P<so>[^"]+)"\s*\nWSGIPythonHome "(?P<home>[^"]+)"\s*$')


class ProvisionError(RuntimeError):
    """Provisioning cannot continue; the message says what to run."""


def _run(cmd, **kwargs):
    kwargs.setdefault("check", True)
    kwargs.setdefault("text", True)
    kwargs.setdefault("stdout", subprocess.PIPE)
    kwargs.setdefault("stderr", subprocess.STDOUT)
    try:
        return subprocess.run(cmd, **kwargs)
    except subprocess.CalledProcessError as exc:
        raise ProvisionError("command failed (exit %d): %s\n%s"
                             % (exc.returncode, shlex.join(cmd), exc.stdout)) from None


def is_root():
    return os.geteuid() == 0


# --------------------------------------------------------------------------
# System packages
# --------------------------------------------------------------------------

def _dpkg_installed(package):
    proc = subprocess.run(["dpkg-query", "-W", "-f=${Status}", package],
                          stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True)
    return proc.returncode == 0 and proc.stdout.strip().endswith("install ok installed")


def ensure_packages(packages=APT_PACKAGES, log=print):
    """Install the missing apt packages as root; otherwise fail naming them."""
    if not shutil.which("dpkg-query"):
        if os.path.exists(APACHE2) and shutil.which("openssl"):
            return
        raise ProvisionError("no dpkg on this host: install Apache httpd 2.4 (with apxs), "
                             "openssl and a python3 with venv and headers")
    missing = [p for p in packages if not _dpkg_installed(p)]
    if not missing:
        return
    cmd = ["apt-get", "install", "-y", "-q", "--no-install-recommends"] + missing
    if not is_root():
        raise ProvisionError("missing packages; run as root: %s" % shlex.join(cmd))
    log("apache: installing %s" % " ".join(missing))
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    _run(["apt-get", "update", "-q"], env=env)
    _run(cmd, env=env)


def apache_version():
    out = _run([APACHE2, "-v"]).stdout
    match = re.search(r"Apache/(\S+)", out)
    return match.group(1) if match else out.strip()


# --------------------------------------------------------------------------
# The mod_wsgi virtualenv
# --------------------------------------------------------------------------

def _venv_bin(name, venv=MOD_WSGI_VENV):
    return pathlib.Path(venv) / "bin" / name


def _venv_is_from_system_python():
    cfg = MOD_WSGI_VENV / "pyvenv.cfg"
    if not cfg.is_file() or not _venv_bin("python").exists():
        return False
    values = {}
    for line in cfg.read_text().splitlines():
        key, _, value = line.partition("=")
        values[key.strip()] = value.strip()
    return values.get("home") == os.path.dirname(SYSTEM_PYTHON)


def module_config(venv=MOD_WSGI_VENV):
    """The (LoadModule .so path, WSGIPythonHome) that ``venv``'s mod_wsgi-express prints."""
    out = _run([str(_venv_bin("mod_wsgi-express", venv)), "module-config"]).stdout.strip()
    match = _MODULE_CONFIG_RE.match(out)
    if not match:
        raise ProvisionError("unexpected `mod_wsgi-express module-config` output:\n" + out)
    return match.group("so"), match.group("home")


def check_mod_wsgi_links_outside_root(venv=MOD_WSGI_VENV):
    so, _ = module_config(venv)
    ldd = _run(["ldd", so]).stdout
    libpython = [line.strip() for line in ldd.splitlines() if "libpython" in line]
    bad = [line for line in libpython if "/root/" in line or "not found" in line]
    if bad:
        raise ProvisionError("%s links a libpython www-data cannot load: %s" % (so, bad))


def _copy_checkout(dest):
    """Copy what a pip build of glancelet needs (not .git, .tox, doc builds)."""
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.rst", "LICENSE",
                 "MANIFEST.in"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(REPO_ROOT / "glancelet", dest / "glancelet",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build_mod_wsgi_venv(log=print):
    """Create/refresh MOD_WSGI_VENV: mod_wsgi + glancelet (non-editable)."""
    if not os.path.exists(SYSTEM_PYTHON):
        raise ProvisionError("%s is missing: apt-get install python3 python3-venv python3-dev"
                             % SYSTEM_PYTHON)
    try:
        MOD_WSGI_VENV.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ProvisionError("cannot create %s; run as root: python -m lab.provision"
                             % MOD_WSGI_VENV) from None
    if not _venv_is_from_system_python():
        if MOD_WSGI_VENV.exists():
            shutil.rmtree(MOD_WSGI_VENV)
        log("apache: creating %s from %s" % (MOD_WSGI_VENV, SYSTEM_PYTHON))
        _run([SYSTEM_PYTHON, "-m", "venv", str(MOD_WSGI_VENV)])
    pip = [str(_venv_bin("python")), "-m", "pip", "install", "-q", "--no-cache-dir",
           "--disable-pip-version-check"]
    if not _venv_bin("mod_wsgi-express").exists():
        log("apache: building mod_wsgi in %s" % MOD_WSGI_VENV)
        _run(pip + ["mod_wsgi"])
    check_mod_wsgi_links_outside_root()
    # Always reinstall glancelet: the checkout may have changed since last time.
    with tempfile.TemporaryDirectory(prefix="glancelet-src-") as tmp:
        src = pathlib.Path(tmp)
        _copy_checkout(src)
        log("apache: installing glancelet into %s" % MOD_WSGI_VENV)
        _run(pip + ["--force-reinstall", "--no-deps", str(src)])
    # Readable and traversable by www-data all the way down.
    for parent in [MOD_WSGI_VENV] + list(MOD_WSGI_VENV.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise ProvisionError("%s is not traversable by www-data (mode %o): chmod o+x %s"
                                 % (parent, mode, parent))
    _run(["chmod", "-R", "a+rX", str(MOD_WSGI_VENV)])


def mod_wsgi_version():
    out = _run([str(_venv_bin("python")), "-c",
                "import importlib.metadata as m; print(m.version('mod_wsgi'))"]).stdout
    return out.strip()


# --------------------------------------------------------------------------
# TLS material
# --------------------------------------------------------------------------

def make_ca_and_server_cert(directory, names=("localhost",), ips=("127.0.0.1",),
                            cert_path=None, key_path=None):
    """A throwaway CA and a server certificate it signed, with the openssl CLI.

    Returns a dict of paths: ca_cert, ca_key, cert, key (``cert_path`` and
    ``key_path`` put the server's pair elsewhere). The server certificate
    carries subjectAltName entries for ``names`` and ``ips`` so that clients
    verify it against the CA with hostname checking on.
    """
    d = pathlib.Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    paths = {"ca_cert": d / "ca.pem", "ca_key": d / "ca.key",
             "cert": pathlib.Path(cert_path or d / "server.pem"),
             "key": pathlib.Path(key_path or d / "server.key")}
    for path in paths.values():
        path.parent.mkdir(parents=True, exist_ok=True)
    openssl = shutil.which("openssl")
    if openssl is None:
        raise ProvisionError("openssl is missing: apt-get install openssl")
    _run([openssl, "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-sha256",
          "-days", "2", "-subj", "/CN=glancelet examples test CA",
          "-addext", "basicConstraints=critical,CA:TRUE",
          "-addext", "keyUsage=critical,keyCertSign,cRLSign",
          "-keyout", str(paths["ca_key"]), "-out", str(paths["ca_cert"])])
    csr = d / "server.csr"
    _run([openssl, "req", "-new", "-newkey", "rsa:2048", "-nodes", "-sha256",
          "-subj", "/CN=%s" % names[0],
          "-keyout", str(paths["key"]), "-out", str(csr)])
    san = ",".join(["DNS:%s" % n for n in names] + ["IP:%s" % ip for ip in ips])
    ext = d / "server.ext"
    ext.write_text("basicConstraints=critical,CA:FALSE\n"
                   "keyUsage=critical,digitalSignature,keyEncipherment\n"
                   "extendedKeyUsage=serverAuth\n"
                   "subjectAltName=%s\n" % san)
    _run([openssl, "x509", "-req", "-in", str(csr), "-sha256", "-days", "2",
          "-CA", str(paths["ca_cert"]), "-CAkey", str(paths["ca_key"]),
          "-CAcreateserial", "-extfile", str(ext), "-out", str(paths["cert"])])
    os.chmod(paths["key"], 0o600)
    os.chmod(paths["ca_key"], 0o600)
    return paths


# --------------------------------------------------------------------------
# Directories www-data writes to
# --------------------------------------------------------------------------

def make_www_data_writable(*paths):
    """chown paths to www-data (root only) and make their parents traversable."""
    if not is_root():
        return
    uid = pwd.getpwnam(WWW_USER).pw_uid
    gid = grp.getgrnam(WWW_GROUP).gr_gid
    for path in map(pathlib.Path, paths):
        path.mkdir(parents=True, exist_ok=True)
        for root, dirs, files in os.walk(path):
            os.chown(root, uid, gid)
            for name in files:
                os.chown(os.path.join(root, name), uid, gid)
        for parent in path.parents:
            if parent == pathlib.Path("/"):
                break
            mode = parent.stat().st_mode & 0o7777
            if not mode & 0o001:
                os.chmod(parent, mode | 0o011)


# --------------------------------------------------------------------------
# Scaffolding: the stand-in for Debian's apache2.conf
# --------------------------------------------------------------------------

_A2ENMOD_RE = re.compile(r"^#\s*a2enmod:\s*(.+)$", re.MULTILINE)


def declared_modules(conf_text):
    """Modules named on the ``# a2enmod: ...`` lines of an examples/ file."""
    modules = []
    for match in _A2ENMOD_RE.finditer(conf_text):
        for name in match.group(1).split():
            if name not in modules:
                modules.append(name)
    return modules


def scaffold_config(run_dir, includes, modules, listen=None):
    """Write ``run_dir/httpd.conf``: what apache2.conf would give on Debian.

    ``includes`` are the (rewritten) examples/ files, ``modules`` the names
    from their a2enmod lines, ``listen`` an optional "host:port" for the main
    server (patterns that bring their own Listen/VirtualHost pass None).
    """
    run_dir = pathlib.Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    lines = [
        "# Test scaffolding written by lab/apache.py: a stand-in for",
        "# Debian's /etc/apache2/apache2.conf. Not operator configuration.",
        'ServerRoot "%s"' % run_dir,
        'DefaultRuntimeDir "%s"' % run_dir,
        'PidFile "%s"' % (run_dir / "httpd.pid"),
        # The harness captures stderr into the server's log file.
        'ErrorLog "/dev/stderr"',
        "LogLevel warn",
        "ServerName 127.0.0.1",
        'LogFormat "%h \\"%r\\" %>s %b %D" short',
        'CustomLog "%s" short' % (run_dir / "access.log"),
        # Debian's apache2.conf runs its children as www-data ...
        "User %s" % WWW_USER,
        "Group %s" % WWW_GROUP,
        # ... with these defaults, and denies the whole filesystem unless a
        # <Directory> block grants a part of it (mod_wsgi's .wsgi needs one).
        "Timeout 300",
        "KeepAlive On",
        "MaxKeepAliveRequests 100",
        "KeepAliveTimeout 5",
        "AccessFileName .htaccess",
        "<Directory />",
        "    Options FollowSymLinks",
        "    AllowOverride None",
        "    Require all denied",
        "</Directory>",
        '<FilesMatch "^\\.ht">',
        "    Require all denied",
        "</FilesMatch>",
        # Debian's mods-available/mpm_event.conf.
        "StartServers 2",
        "MinSpareThreads 25",
        "MaxSpareThreads 75",
        "ThreadLimit 64",
        "ThreadsPerChild 25",
        "MaxRequestWorkers 150",
        "MaxConnectionsPerChild 0",
    ]
    wanted = list(SCAFFOLD_MODULES) + [m for m in modules if m not in SCAFFOLD_MODULES]
    if "ssl" in wanted and "socache_shmcb" not in wanted:
        # a2enmod ssl enables socache_shmcb too (its dependency).
        wanted.insert(wanted.index("ssl"), "socache_shmcb")
    for name in wanted:
        lines.append("LoadModule %s_module %s/mod_%s.so" % (name, MODULE_DIR, name))
    if "ssl" in wanted:
        # What Debian's mods-available/ssl.conf sets for every site.
        lines.append('SSLSessionCache "shmcb:%s(512000)"' % (run_dir / "ssl_scache"))
        lines.append("SSLSessionCacheTimeout 300")
    if listen:
        lines.append("Listen %s" % listen)
    for include in includes:
        lines.append('Include "%s"' % include)
    path = run_dir / "httpd.conf"
    path.write_text("\n".join(lines) + "\n")
    if is_root():
        # Children (www-data) write nothing here, but mod_wsgi's daemon sockets
        # (WSGISocketPrefix) may be put here and must be reachable.
        os.chmod(run_dir, 0o755)
    return path


# --------------------------------------------------------------------------
# Launcher (on the harness's Workspace/Server)
# --------------------------------------------------------------------------

# Apache's parent waits for its children to finish on SIGTERM only briefly;
# mod_wsgi daemons get their shutdown-timeout (5 s) on top.
APACHE_STOP_TIMEOUT = 30
APACHE_SERVER_NAME = "apache"
# What the parent logs (at notice level, shown whatever the LogLevel) when it
# gets `apache2 -k graceful` (SIGUSR1).
GRACEFUL_LOG_TEXT = "SIGUSR1 received.  Doing graceful restart"


def scaffold_dir(ws):
    return ws.root / "apache"


def start(ws, confs, listen_port=None, listen_protocol=None, name=APACHE_SERVER_NAME):
    """Start ``apache2 -f <scaffold> -DFOREGROUND`` including ``confs``.

    ``confs`` are installed (rewritten) examples/ files; their a2enmod lines
    say which modules to load. The scaffold's ``Listen 127.0.0.1:<port>``
    stands in for Debian's ports.conf: on ``listen_port`` (a free port if
    None) with the optional ``listen_protocol`` ("https"). Returns the port.
    """
    modules = []
    for conf in confs:
        for mod in declared_modules(pathlib.Path(conf).read_text()):
            if mod not in modules:
                modules.append(mod)
    port = free_port() if listen_port is None else listen_port
    listen = "127.0.0.1:%d" % port
    if listen_protocol:
        listen += " " + listen_protocol
    run_dir = scaffold_dir(ws)
    conf_path = scaffold_config(run_dir, confs, modules, listen=listen)
    check = subprocess.run([APACHE2, "-f", str(conf_path), "-t"], stdout=subprocess.PIPE,
                           stderr=subprocess.STDOUT, text=True)
    if check.returncode != 0:
        raise AssertionError("apache2 -t rejects the configuration:\n%s\n--- %s\n%s"
                             % (check.stdout, conf_path, conf_path.read_text()))
    ws.spawn(name, [APACHE2, "-f", conf_path, "-DFOREGROUND"],
             stop_timeout=APACHE_STOP_TIMEOUT)
    return port


def check_module_config(conf_text):
    """The example's LoadModule/WSGIPythonHome are what module-config of the
    venv it names (WSGIPythonHome) prints."""
    venv = re.search(r'^WSGIPythonHome "([^"]+)"', conf_text, re.MULTILINE).group(1)
    so, home = module_config(venv)
    expected = ['LoadModule wsgi_module "%s"' % so, 'WSGIPythonHome "%s"' % home]
    found = [line for line in conf_text.splitlines()
             if re.match(r"(LoadModule wsgi_module|WSGIPythonHome) ", line)]
    if found != expected:
        raise AssertionError(
            "an examples/apache-mod-wsgi/ file does not match "
            "`%s/bin/mod_wsgi-express module-config` on this machine:\n  example: %r\n"
            "  module-config: %r\nUpdate the example (and the docs) if the Python version "
            "changed."
            % (venv, found, expected))


def start_pattern(ws, conf, listen_token=None, tls=None):
    """Start Apache for a pattern on its installed example file ``conf``.

    With mod_wsgi (the file loads ``wsgi_module``), first what the operator
    does for it: its LoadModule lines checked against this machine, and
    ``install -d -o www-data -g www-data /var/lib/glancelet`` (and
    ``/var/lib/glance``, for Glance: its database too). With ``tls``
    (certificate and key operator paths), a CA signs a server pair there and
    Apache listens with ``https``. Listens on the port of ``listen_token``
    (the example's ``Listen 9292 https``), or a free one; returns it.
    """
    path = ws.path(conf)
    text = path.read_text()
    if re.search(r"^LoadModule wsgi_module ", text, re.MULTILINE):
        if "GLANCELET_CONFIG_FILE" in os.environ:
            # The daemon would inherit it and ignore the .wsgi file's default.
            raise AssertionError("unset GLANCELET_CONFIG_FILE before running the examples suite")
        check_module_config(text)
        make_www_data_writable(ws.path("/var/lib/glancelet"), ws.path("/var/lib/glance"))
    if tls:
        make_ca_and_server_cert((ws.root / CLIENT_CA).parent, cert_path=ws.path(tls[0]),
                                key_path=ws.path(tls[1]))
    return start(ws, [path], listen_port=ws.port(listen_token) if listen_token else None,
                 listen_protocol="https" if tls else None)


def settle_uwsgi(server, workers=4, deadline=30.0):
    """Wait until uWSGI has spawned all its workers, plus a second.

    A SIGTERM that reaches uWSGI 2.0.31 while it is still spawning workers
    can leave the master hanging (seen here: no exit within 75 s). Tests that
    stop or signal uWSGI right after the deployment answered call this first.
    """
    if server is None:
        return
    end = time.monotonic() + deadline
    while "spawned uWSGI worker %d " % workers not in server.log_text():
        if time.monotonic() > end:
            raise AssertionError("uWSGI did not spawn %d workers within %.0f s:\n%s"
                                 % (workers, deadline, server.log_text()[-3000:]))
        time.sleep(0.1)
    time.sleep(1.0)


def generation_count(server):
    """How many times the Apache parent has (re)started its children."""
    return server.log_text().count("resuming normal operations")


def graceful(ws, name=APACHE_SERVER_NAME, deadline=30.0):
    """``apache2 -f <conf> -k graceful``; return once the new generation runs."""
    server = ws.servers[name]
    before = generation_count(server)
    conf = scaffold_dir(ws) / "httpd.conf"
    subprocess.run([APACHE2, "-f", str(conf), "-k", "graceful"], check=True, timeout=10,
                   stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    end = time.monotonic() + deadline
    while time.monotonic() < end:
        if generation_count(server) > before:
            return
        if not server.alive():
            raise AssertionError("apache2 exited during a graceful restart:\n"
                                 + server.log_text()[-5000:])
        time.sleep(0.05)
    raise AssertionError("apache2 did not log its graceful restart within %.0f s" % deadline)


def provision(log=print):
    """Called by lab/provision.py before the suite runs; 0 = ok."""
    try:
        if not sys.platform.startswith("linux"):
            raise ProvisionError("the Apache examples run on Linux (Debian layout) only")
        ensure_packages(log=log)
        build_mod_wsgi_venv(log=log)
        log("apache: Apache %s, mod_wsgi %s in %s" % (apache_version(), mod_wsgi_version(),
                                                      MOD_WSGI_VENV))
    except ProvisionError as exc:
        print("provision (apache): %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(provision())
