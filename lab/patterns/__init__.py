"""The registry of deployment patterns the scenario suite runs against.

How to add a pattern
--------------------
1. Put its config files under ``examples/<folder>/``, written as an operator
   installs them (real ports such as 60999, real paths such as
   ``/var/lib/glancelet``); only the tokens in ``lab/rewrite.py``
   may differ at test time. Include the folder's ``glancelet.conf``, and
   :data:`KEYSTONE` (the authtoken.conf drop-in).
2. Declare it in ``lab/patterns/<module>.py``: a module-level
   ``PATTERNS = [Pattern(name=..., ...), ...]`` (one module may hold
   several; see :class:`lab.harness.Pattern` for the fields). It is data:
   ``files`` ((example, operator path) pairs), ``servers``
   (:class:`lab.servers.Run` entries, started in order; the last is the
   front door, on its port token), ``doc`` (its how-to page) and
   ``expected_failures`` ({service: {scenario id: ExpectedFailure(status,
   body, reason)}}; scenario ids are in ``lab/scenarios.py``; the suite
   asserts that exact failure instead of success, nothing is skipped).
   Launch, reload and stop come from the server kinds.
3. Only for a server no pattern runs yet: its kind in
   :data:`lab.servers.KINDS` (packages, binary, version, start and reload,
   the last two usually in :mod:`lab.launchers`), and its apt packages in
   bindep.txt.
4. Every file in ``examples/`` must be in some pattern's ``files`` and be
   literalincluded by a page under ``doc/source`` (``test_examples_used.py``).

Modules are discovered automatically; ``all_patterns()`` is sorted by name.
"""

import dataclasses
import importlib
import pkgutil

from lab.harness import KEYSTONE_EXAMPLES

ETC = "/etc/glancelet/"
# Every pattern's glancelet runs behind Keystone: files=... + KEYSTONE adds
# the drop-in examples/keystone/authtoken.conf ([paste_deploy] flavor =
# keystone and [keystone_authtoken]) to its own glancelet.conf. The
# trusted-header mode is Pattern.without_keystone() (tests only).
KEYSTONE = (KEYSTONE_EXAMPLES[2],)
# Glance's uWSGI ini: it includes the pattern's /etc/glancelet/glancelet-uwsgi.ini.
GLANCE_UWSGI_INI = ("examples/glance/glance-uwsgi.ini", "/etc/glance/glance-uwsgi.ini")
# Its master-fifo: Glance's uWSGI reloads with a chain reload (echo c > it).
GLANCE_UWSGI_FIFO = "/run/glance/uwsgi.fifo"
# Glance's gunicorn config: it runs the pattern's /etc/glancelet/gunicorn.conf.py.
GLANCE_GUNICORN_CONF = ("examples/glance/glance-gunicorn.conf.py",
                        "/etc/glance/glance-gunicorn.conf.py")
# Glance behind a proxy that sends X-Forwarded-* (a drop-in for glance-api.conf).
GLANCE_BEHIND_PROXY = "examples/glance/behind-proxy.conf"
# What Glance 33 answers a web-download of an image left importing by an
# import whose process is gone (killed, or stopped first): it checks the
# status before the import lock, and nothing sets the status back.
GLANCE_IMPORT_NOT_QUEUED = "Image needs to be in 'queued' state to use 'web-download' method"
# Drop-ins for glance-api.conf: oslo.config reads every *.conf in this
# directory after glance-api.conf (one of its default config dirs).
GLANCE_CONF_D = "/etc/glance/glance-api.conf.d/"


def in_etc(folder, *names):
    """``files`` pairs for examples an operator installs in /etc/glancelet
    under the same name: ``in_etc(DIR, "glancelet.conf")`` is
    ``((DIR + "glancelet.conf", "/etc/glancelet/glancelet.conf"),)``."""
    return tuple((folder + name, ETC + name) for name in names)


def glance_dropin(example):
    """The (example, operator path) pair of a drop-in for glance-api.conf:
    oslo.config reads it from /etc/glance/glance-api.conf.d/."""
    return (example, GLANCE_CONF_D + example.rsplit("/", 1)[-1])


def _glance_first(servers, kind, conf, pidfile, dropins, **run):
    """``Pattern.glance``: Glance's ``conf`` ((example, operator path))
    starts the first server, of ``kind``, writing ``pidfile`` (``run``: more
    fields of its :class:`lab.servers.Run`); the rest are unchanged.
    ``dropins``: examples for glance-api.conf.d (:func:`glance_dropin`)."""
    first = servers[0]
    assert first.kind == kind, first
    return {"files": (conf,) + tuple(glance_dropin(d) for d in dropins),
            "servers": (dataclasses.replace(first, conf=conf[1], pidfile=pidfile, unit=None,
                                            **run),)
            + tuple(servers[1:])}


def glance_under_uwsgi(servers, dropins=()):
    """``Pattern.glance`` of a pattern whose first server is glancelet's
    uWSGI: Glance's ini (:data:`GLANCE_UWSGI_INI`) starts that server
    instead, and a chain reload reloads it (:data:`GLANCE_UWSGI_FIFO`)."""
    return _glance_first(servers, "uwsgi", GLANCE_UWSGI_INI, "/run/glance/uwsgi.pid", dropins,
                         fifo=GLANCE_UWSGI_FIFO)


def glance_under_gunicorn(servers, dropins=()):
    """``Pattern.glance`` of a pattern whose first server is glancelet's
    gunicorn: Glance's config (:data:`GLANCE_GUNICORN_CONF`) starts it instead."""
    return _glance_first(servers, "gunicorn", GLANCE_GUNICORN_CONF, "/run/glance/gunicorn.pid",
                         dropins)


def all_patterns():
    """Every registered pattern, sorted by name (names must be unique)."""
    found = {}
    for info in pkgutil.iter_modules(__path__):
        module = importlib.import_module("%s.%s" % (__name__, info.name))
        for pattern in getattr(module, "PATTERNS", ()):
            if pattern.name in found:
                raise ValueError("duplicate pattern name %r in %s" % (pattern.name, info.name))
            found[pattern.name] = pattern
    return [found[name] for name in sorted(found)]


def get(name):
    for pattern in all_patterns():
        if pattern.name == name:
            return pattern
    raise KeyError(name)
