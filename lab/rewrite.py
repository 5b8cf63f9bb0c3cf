"""The one mechanism that adapts an examples/ file to a test run.

Files under ``examples/`` are written the way an operator installs them: real
ports (``60999``), real paths (``/var/lib/glancelet``) and the host's own
address (``127.0.0.1``). To run them on a shared CI machine, a test copies each
file into its own directory and replaces **only** the tokens declared in
:data:`TOKENS`: a fixed list of port numbers, absolute path prefixes and one
address. Nothing else in the file is touched: no option is added,
removed or edited. ``tests/examples/test_rewrite.py`` proves this for every file
under ``examples/``: after rewriting, each line differs from the original only
where a declared token stood.

How a token is matched:

* a **port** token matches only as a whole number: ``60999`` in
  ``127.0.0.1:60999`` but not in ``160999`` or ``60999.5``;
* an **address** token matches only where it is a listening or connecting
  address, written right before ``:`` and a port token: ``127.0.0.1`` in
  ``http-socket = 127.0.0.1:60999`` but not in ``allowed_hosts = [127.0.0.1]``
  nor in ``127.0.0.1:8080``. It is the address of the host that runs the
  server on that port: a node of a multi-node pattern (:class:`lab.servers.Node`)
  puts its own servers on its own loopback address, as an operator writes each
  host's address there, while a service the nodes share (Keystone on 5000,
  memcached on 11211, the database server on 5432 or 3306) stays on the
  address of the host that runs it (the value ``"<address>:<port token>"``,
  when given, wins over ``"<address>"``);
* a **path** token matches an absolute path prefix as a whole path component:
  ``/var/lib/glancelet`` in ``/var/lib/glancelet/images`` and in
  ``sqlite:////var/lib/glancelet/glancelet.sqlite``, but not in
  ``/var/lib/glancelet-old``.

Where a token goes is decided per run by the caller (a free port, a directory
under the test's tmp dir, the Python environment running the tests, or for
``/opt/glancelet`` the service venv its unit's ``User=`` can read:
``lab.harness.SERVICE_VENV``); the table only says *which* tokens may change.
"""

import re

# The table. Adding a token here is the only way to make a value in examples/
# differ between the docs and the tests.
TOKENS = {
    "ports": (
        "9292",    # the front door (Glance's usual public port)
        "9293",    # a second front door (TLS, or a proxied variant)
        "60999",   # a WSGI server's HTTP socket (uWSGI http-socket, gunicorn)
        "60998",   # uWSGI's uwsgi-protocol socket (nginx uwsgi_pass, mod_proxy_uwsgi)
        "60997",   # a second backend (gunicorn behind nginx)
        "60990",   # an internal HTTP mirror web-download fetches from (examples/import/)
        "5000",    # Keystone's public API (examples/keystone/)
        "11211",   # memcached, the token cache of examples/keystone/authtoken.conf
        "5432",    # PostgreSQL, the database server of a multi-node pattern (lab.dbservers)
        "3306",    # MariaDB, the same for the pattern's MariaDB variant
    ),
    "paths": (
        "/etc/glancelet",       # configuration
        "/var/lib/glancelet",   # image data, the SQLite file
        "/var/log/glancelet",   # server logs
        "/run/glancelet",       # pid files, unix sockets
        "/opt/glancelet",       # the Python environment glancelet is installed in
        "/etc/keystone",        # Keystone's configuration and keys (examples/keystone/)
        "/var/lib/keystone",    # Keystone's database
        "/var/log/keystone",    # Keystone's logs
        "/opt/keystone",        # the Python environment Keystone is installed in
        "/etc/glance",          # OpenStack Glance's configuration (examples/glance/)
        "/var/lib/glance",      # Glance's database, images and staging area
        "/var/log/glance",      # Glance's logs
        "/run/glance",          # Glance's uWSGI pid file
        "/opt/glance",          # the Python environment Glance is installed in
        "/run/glancelet-nginx",     # the nginx front door's pid file
        "/var/lib/nginx",       # nginx's temp paths (Debian's defaults)
        "/run/glancelet-haproxy",   # the HAProxy front door's pid file
        "/etc/systemd/system",  # the systemd units (examples/systemd/)
        "/etc/logrotate.d",     # logrotate files (examples/systemd/)
        "/etc/apache2",         # Debian's Apache configuration (copied by lab/apache.py)
        "/var/run/apache2",     # Apache's pid file and runtime files (Debian's envvars)
        "/var/log/apache2",     # Apache's logs
        "/var/lock/apache2",    # Apache's lock files
        "/var/lib/apache2",     # a2enmod's state (which modules the admin enabled)
        "/srv/glancelet",       # a filesystem every node mounts (NFS): the shared store
        "/srv/glance",          # the same for OpenStack Glance's store (haproxy-multinode)
    ),
    "addresses": (
        "127.0.0.1",   # this host's address (a node's own, in a multi-node pattern)
    ),
}

_PORT_RE = r"(?<![\w.]){}(?![\w]|\.\d)"
_PATH_RE = r"(?<![\w.-]){}(?![\w.-])"
# An address, only before ":<port token>".
_ADDRESS_RE = r"(?<![\w.])(?:{})(?=:(?P<after>{}))"


def token_pattern():
    """A regex matching any declared token (group name ``port``, ``path`` or
    ``address``)."""
    ports = _PORT_RE.format("(?:%s)" % "|".join(re.escape(p) for p in TOKENS["ports"]))
    # Longest paths first, so that a longer prefix wins over a shorter one.
    paths = "|".join(re.escape(p) for p in sorted(TOKENS["paths"], key=len, reverse=True))
    addresses = "|".join(re.escape(a) for a in TOKENS["addresses"])
    return re.compile("(?P<address>{})|(?P<port>{})|(?P<path>{})".format(
        _ADDRESS_RE.format(addresses, ports), ports, _PATH_RE.format("(?:%s)" % paths)))


def rewrite_text(text, values):
    """Return ``text`` with each declared token replaced by ``values[token]``.

    ``values`` maps a token (``"60999"``, ``"/var/lib/glancelet"``) to its
    replacement. A declared token found in the text but missing from
    ``values`` is an error: the run would otherwise use a real port or path.
    """
    declared = {token for kind in TOKENS.values() for token in kind}
    declared |= {"%s:%s" % (a, p) for a in TOKENS["addresses"] for p in TOKENS["ports"]}
    unknown = set(values) - declared
    if unknown:
        raise ValueError("not declared in rewrite.TOKENS: %s" % ", ".join(sorted(unknown)))

    def replace(match):
        token = match.group(0)
        if match.group("address") is not None:
            token = next((key for key in ("%s:%s" % (token, match.group("after")), token)
                          if key in values), token)
        try:
            return str(values[token])
        except KeyError:
            raise KeyError("no value given for token %r (line: %r)" % (
                token, _line_of(text, match.start()))) from None

    return token_pattern().sub(replace, text)


def rewrite_file(src, dst, values):
    """Copy file ``src`` to ``dst``, rewriting declared tokens; return ``dst``."""
    with open(src, encoding="utf-8") as fp:
        text = fp.read()
    with open(dst, "w", encoding="utf-8") as fp:
        fp.write(rewrite_text(text, values))
    return dst


def tokens_in(text):
    """The set of declared tokens that occur in ``text``."""
    return {m.group(0) for m in token_pattern().finditer(text)}


def _line_of(text, pos):
    start = text.rfind("\n", 0, pos) + 1
    end = text.find("\n", pos)
    return text[start:end if end >= 0 else None]
