"""Apache httpd for the examples suite: provisioning, Debian's configuration
and launcher.

What lives here, and what does not:

* The files an operator installs are in ``examples/apache-*/``. They are
  used exactly as shipped, except for the ports and filesystem paths that the
  harness's rewrite mechanism (``lab/rewrite.py``) changes.
* What an operator already has on a Debian host is **not** in examples/:
  ``/etc/apache2`` with apache2.conf, envvars, the modules and confs Debian
  enables (mpm_event, reqtimeout, ``Timeout 300``, ``KeepAlive On``, ...).
  The tests run on a copy of this machine's ``/etc/apache2``
  (:func:`debian_config`), rewritten by the same tokens, with glancelet
  enabled the way the docs tell the operator: ``a2enmod`` the modules, the
  example linked into conf-available (or sites-available) and enabled with
  ``a2enconf`` (``a2ensite``). The one other edit is ports.conf, which gets
  the single ``Listen 127.0.0.1:<port>`` line of the pattern (the operator
  edits it too: Debian's listens on 80 and 443).
* Which modules to enable is not guessed: every examples/ Apache file names
  them on a comment line ``# a2enmod: proxy proxy_http ...``, which is the
  command the docs tell a Debian operator to run, so a module missing from
  that line makes the test fail on the directive that needs it.

Provisioning (:func:`provision`) is called by the harness's provision step
(``python -m lab.provision``) before pytest runs. It checks the
apt packages, builds the mod_wsgi virtualenv and installs glancelet into it.

mod_wsgi daemon processes run as ``www-data`` or, with ``user=`` (glancelet's
daemon), as ``glancelet`` (mod_wsgi refuses root), so the Python they run
must be readable by those users: pyenv's Python under /root
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

from lab import rewrite
from lab.harness import CLIENT_CA, free_port

REPO_ROOT = pathlib.Path(__file__).resolve().parents[1]
EXAMPLES = REPO_ROOT / "examples"

APACHE2 = "/usr/sbin/apache2"
MODULE_DIR = "/usr/lib/apache2/modules"
# Debian's python3 and the headers mod_wsgi is built with.
SYSTEM_PYTHON = "/usr/bin/python3"
# The apache2 server kind's Debian packages (lab.servers): apache2-dev builds
# mod_wsgi; the mod_wsgi venv is made from Debian's python3; ssl-cert and
# openssl for mod_ssl; mod_xsendfile for the download offload
# (examples/apache-proxy-http/glancelet-xsendfile.conf).
APT_PACKAGES = ("apache2", "apache2-dev", "ssl-cert", "openssl", "python3", "python3-venv",
                "python3-dev", "build-essential", "libapache2-mod-xsendfile")

# Keystone's own venv for examples/apache-controller/ (its daemon group's
# python-home), from the same Debian python3 as mod_wsgi's.
KEYSTONE_MOD_WSGI_VENV = pathlib.Path("/opt/keystone-mod-wsgi-venv")
KEYSTONE_REQUIREMENTS = REPO_ROOT / "tests" / "keystone-requirements.txt"
# The mod_wsgi example's LoadModule/WSGIPythonHome lines name this venv.
MOD_WSGI_VENV = pathlib.Path("/opt/glancelet-mod-wsgi-venv")
WWW_USER = "www-data"
WWW_GROUP = "www-data"

# Debian's configuration tree, which the tests copy (debian_config).
DEBIAN_CONFDIR = "/etc/apache2"

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


def _venv_is_from_system_python(venv):
    cfg = pathlib.Path(venv) / "pyvenv.cfg"
    if not cfg.is_file() or not _venv_bin("python", venv).exists():
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


def check_links_outside_root(binary, user=WWW_USER):
    """Fail unless ``binary`` links a libpython that ``user`` can load (none
    under /root, none missing): a cached wheel built by pyenv's Python would."""
    ldd = _run(["ldd", str(binary)]).stdout
    libpython = [line.strip() for line in ldd.splitlines() if "libpython" in line]
    bad = [line for line in libpython if "/root/" in line or "not found" in line]
    if bad:
        raise ProvisionError("%s links a libpython %s cannot load: %s" % (binary, user, bad))


def check_mod_wsgi_links_outside_root(venv=MOD_WSGI_VENV):
    check_links_outside_root(module_config(venv)[0])


def _copy_checkout(dest):
    """Copy what a pip build of glancelet needs (not .git, .tox, doc builds)."""
    for name in ("pyproject.toml", "setup.cfg", "setup.py", "README.rst", "LICENSE",
                 "MANIFEST.in"):
        if (REPO_ROOT / name).exists():
            shutil.copy2(REPO_ROOT / name, dest / name)
    shutil.copytree(REPO_ROOT / "glancelet", dest / "glancelet",
                    ignore=shutil.ignore_patterns("__pycache__", "*.pyc"))


def build_system_venv(venv, servers, user, log=print, extras=("keystone",)):
    """Create/refresh ``venv`` from Debian's python3 for processes running as
    ``user``: the pip requirements ``servers`` (built with ``--no-cache-dir``)
    and glancelet[``extras``] from the checkout, non-editable, reinstalled
    every time (the checkout may have changed since); readable by every
    user, writable by root only."""
    venv = pathlib.Path(venv)
    if not os.path.exists(SYSTEM_PYTHON):
        raise ProvisionError("%s is missing: apt-get install python3 python3-venv python3-dev"
                             % SYSTEM_PYTHON)
    try:
        venv.parent.mkdir(parents=True, exist_ok=True)
    except PermissionError:
        raise ProvisionError("cannot create %s; run as root: python -m lab.provision"
                             % venv) from None
    if not _venv_is_from_system_python(venv):
        if venv.exists():
            shutil.rmtree(venv)
        log("creating %s from %s" % (venv, SYSTEM_PYTHON))
        _run([SYSTEM_PYTHON, "-m", "venv", str(venv)])
    pip = [str(_venv_bin("python", venv)), "-m", "pip", "install", "-q", "--no-cache-dir",
           "--disable-pip-version-check"]
    log("installing %s into %s" % (" ".join(servers), venv))
    _run(pip + list(servers))
    with tempfile.TemporaryDirectory(prefix="glancelet-src-") as tmp:
        src = pathlib.Path(tmp)
        _copy_checkout(src)
        log("installing glancelet[%s] into %s" % (",".join(extras), venv))
        # The extras' dependencies (keystonemiddleware, python-memcached: every
        # pattern runs behind Keystone) once; glancelet itself every time.
        _run(pip + ["%s[%s]" % (src, ",".join(extras))])
        _run(pip + ["--force-reinstall", "--no-deps", str(src)])
    # Readable and traversable by ``user`` all the way down.
    for parent in [venv] + list(venv.parents):
        mode = parent.stat().st_mode
        if not mode & 0o001:
            raise ProvisionError("%s is not traversable by %s (mode %o): chmod o+x %s"
                                 % (parent, user, mode, parent))
    _run(["chmod", "-R", "a+rX,go-w", str(venv)])


def build_mod_wsgi_venv(log=print):
    """Create/refresh MOD_WSGI_VENV: mod_wsgi + glancelet[keystone] (non-editable)."""
    build_system_venv(MOD_WSGI_VENV, ["mod_wsgi"], WWW_USER,
                      log=lambda text: log("apache: " + text))
    check_mod_wsgi_links_outside_root()


def build_keystone_mod_wsgi_venv(log=print):
    """Create KEYSTONE_MOD_WSGI_VENV with Keystone (tests/keystone-requirements.txt)
    if it has no Keystone yet."""
    python = KEYSTONE_MOD_WSGI_VENV / "bin" / "python"
    if python.exists() and subprocess.run([str(python), "-c", "import keystone"],
                                          capture_output=True).returncode == 0:
        return
    if not is_root():
        raise ProvisionError("%s has no Keystone; as root: %s -m venv %s && %s/bin/pip install "
                             "-r %s" % (KEYSTONE_MOD_WSGI_VENV, SYSTEM_PYTHON,
                                        KEYSTONE_MOD_WSGI_VENV, KEYSTONE_MOD_WSGI_VENV,
                                        KEYSTONE_REQUIREMENTS))
    log("apache: installing Keystone into %s" % KEYSTONE_MOD_WSGI_VENV)
    _run([SYSTEM_PYTHON, "-m", "venv", str(KEYSTONE_MOD_WSGI_VENV)])
    _run([str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check",
          "-r", str(KEYSTONE_REQUIREMENTS)])
    _run(["chmod", "-R", "a+rX", str(KEYSTONE_MOD_WSGI_VENV)])


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

def install_directory(path, user, group, mode=0o750):
    """``install -d -o user -g group -m mode path`` (the owner as root only)."""
    path = pathlib.Path(path)
    path.mkdir(parents=True, exist_ok=True)
    if is_root():
        os.chown(path, pwd.getpwnam(user).pw_uid, grp.getgrnam(group).gr_gid)
    path.chmod(mode)


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
# Debian's own configuration, enabled as an operator does
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


def confdir(ws):
    """The workspace's copy of /etc/apache2."""
    return ws.path(DEBIAN_CONFDIR)


def listen_port(ws):
    """The port of the ``Listen`` line the harness wrote into ports.conf."""
    text = (confdir(ws) / "ports.conf").read_text()
    return int(re.search(r"^Listen 127\.0\.0\.1:(\d+)", text, re.MULTILINE).group(1))


def _debian_env(ws):
    """The environment apache2ctl gives apache2: Debian's envvars (rewritten)
    sourced with APACHE_CONFDIR set; APACHE_STATE_DIRECTORY for a2enmod."""
    base = dict(os.environ, APACHE_CONFDIR=str(confdir(ws)),
                APACHE_STATE_DIRECTORY=str(ws.path("/var/lib/apache2")))
    out = subprocess.run(["/bin/sh", "-c", '. "$APACHE_CONFDIR/envvars" && env -0'],
                         env=base, check=True, capture_output=True).stdout.decode()
    return dict(item.split("=", 1) for item in out.split("\0") if "=" in item)


def _a2(env, command, *names):
    """``a2enmod``/``a2enconf``/``a2ensite``/``a2dissite`` on the copy (they
    honour APACHE_CONFDIR and APACHE_STATE_DIRECTORY)."""
    _run(["/usr/sbin/" + command, "-q", *names], env=env)


def debian_config(ws, confs, modules, listen):
    """Copy Debian's /etc/apache2 into the workspace and enable glancelet on
    it as an operator does; return (apache2.conf path, environment).

    The copy is rewritten by the workspace's tokens (only envvars names
    paths). Then, as the operator: ports.conf gets the ``Listen`` line
    (``listen``, on 127.0.0.1) and one more for each other port a
    ``<VirtualHost *:port>`` of ``confs`` names, ``a2enmod`` the ``modules``, and each of
    ``confs`` (installed examples/ files) is linked into conf-available
    (sites-available for a file with a ``<VirtualHost>``) and enabled with
    ``a2enconf`` (``a2ensite``). The runtime, lock and log directories are
    made as apache2ctl makes them, and the ErrorLog (``error.log``) is the
    server's log file in the workspace.
    """
    target = confdir(ws)
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(DEBIAN_CONFDIR, target, symlinks=True)
    for path in target.rglob("*"):
        if path.is_file() and not path.is_symlink():
            text = path.read_text(errors="surrogateescape")
            if rewrite.tokens_in(text):
                path.write_text(ws.rewrite(text), errors="surrogateescape")
    listens = [listen]
    for conf in confs:
        for port in re.findall(r"^\s*<VirtualHost \*:(\d+)>", pathlib.Path(conf).read_text(),
                               re.MULTILINE):
            if not listen.startswith("127.0.0.1:%s" % port):
                listens.append("127.0.0.1:%s" % port)
    (target / "ports.conf").write_text("".join("Listen %s\n" % line for line in listens))
    env = _debian_env(ws)
    uid, gid = pwd.getpwnam(WWW_USER).pw_uid, grp.getgrnam(WWW_GROUP).gr_gid
    for name in ("APACHE_RUN_DIR", "APACHE_LOCK_DIR", "APACHE_LOG_DIR"):
        pathlib.Path(env[name]).mkdir(parents=True, exist_ok=True)
    run_dir, lock_dir = pathlib.Path(env["APACHE_RUN_DIR"]), pathlib.Path(env["APACHE_LOCK_DIR"])
    for path in (run_dir / "socks", lock_dir):
        path.mkdir(exist_ok=True)
        if is_root():
            os.chown(path, uid, gid)
    error_log = pathlib.Path(env["APACHE_LOG_DIR"]) / "error.log"
    error_log.unlink(missing_ok=True)
    error_log.symlink_to(ws.log(APACHE_SERVER_NAME))
    _a2(env, "a2enmod", *modules)
    for conf in map(pathlib.Path, confs):
        kind = "site" if re.search(r"^\s*<VirtualHost\b", conf.read_text(), re.MULTILINE) \
            else "conf"
        link = target / ("%ss-available" % kind if kind == "site" else "conf-available") \
            / ("glancelet.conf" if len(confs) == 1 else conf.name)
        link.symlink_to(conf)
        _a2(env, "a2en" + kind, link.stem)
    return target / "apache2.conf", env


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


def start(ws, confs, listen_port=None, listen_protocol=None, name=APACHE_SERVER_NAME):
    """Start ``apache2 -d <confdir> -f apache2.conf -DFOREGROUND`` on the
    workspace's copy of Debian's /etc/apache2, with ``confs`` enabled.

    ``confs`` are installed (rewritten) examples/ files; their a2enmod lines
    say which modules to enable. ports.conf listens on ``listen_port`` (a free
    port if None) on 127.0.0.1, with the optional ``listen_protocol``
    ("https"). Returns the port.
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
    conf_path, env = debian_config(ws, confs, modules, listen)
    base = [APACHE2, "-d", str(conf_path.parent), "-f", str(conf_path)]
    check = subprocess.run(base + ["-t"], stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, env=env)
    if check.returncode != 0:
        raise AssertionError("apache2 -t rejects the configuration:\n%s" % check.stdout)
    ws.spawn(name, base + ["-DFOREGROUND"], env=env, stop_timeout=APACHE_STOP_TIMEOUT)
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


def start_pattern(ws, conf, listen_token=None, tls=None, includes=()):
    """Start Apache for a pattern on its installed example file ``conf``.

    With mod_wsgi (the file loads ``wsgi_module``), first what the operator
    does for it: its LoadModule lines checked against this machine, and
    ``install -d -o glancelet -g glancelet -m 0750 /var/lib/glancelet`` when
    its ``WSGIDaemonProcess`` names a ``user=`` and ``group=`` (glancelet's),
    else ``install -d -o www-data -g www-data`` that and ``/var/lib/glance``
    (Glance's daemon, Apache's User: its database too). With ``tls``
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
        daemon_user = re.search(r"^WSGIDaemonProcess .*\buser=(\S+) group=(\S+)", text,
                                re.MULTILINE)
        if daemon_user:
            # install -d -o glancelet -g glancelet -m 0750 /var/lib/glancelet
            install_directory(ws.path("/var/lib/glancelet"), *daemon_user.groups())
        else:
            make_www_data_writable(ws.path("/var/lib/glancelet"), ws.path("/var/lib/glance"))
    if tls:
        make_ca_and_server_cert((ws.root / CLIENT_CA).parent, cert_path=ws.path(tls[0]),
                                key_path=ws.path(tls[1]))
    return start(ws, [path, *map(ws.path, includes)],
                 listen_port=ws.port(listen_token) if listen_token else None,
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
    conf = confdir(ws)
    subprocess.run([APACHE2, "-d", str(conf), "-f", str(conf / "apache2.conf"), "-k", "graceful"],
                   check=True, timeout=10, env=server.env,
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
        build_keystone_mod_wsgi_venv(log=log)
        log("apache: Apache %s, mod_wsgi %s in %s" % (apache_version(), mod_wsgi_version(),
                                                      MOD_WSGI_VENV))
    except ProvisionError as exc:
        print("provision (apache): %s" % exc, file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(provision())
