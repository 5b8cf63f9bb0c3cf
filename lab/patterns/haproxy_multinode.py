"""HAProxy in front of two glancelet nodes (examples/haproxy-multinode/, with
the uwsgi-http example's files on each node) and PostgreSQL; :func:`on_mariadb`
is the same on MariaDB."""

import functools

from lab.harness import LineEdit, Pattern
from lab.patterns import ETC, KEYSTONE, in_etc
from lab.servers import Node, Run

DIR = "examples/haproxy-multinode/"
UWSGI_DIR = "examples/uwsgi-http/"
INI = ETC + "glancelet-uwsgi.ini"
CFG = ETC + "haproxy.cfg"
NODES = (Node("node1", "127.0.0.2"), Node("node2", "127.0.0.3"))
# multinode.conf's [database] connection on MariaDB (the how-to page shows it).
MARIADB_CONNECTION = ("connection = mysql+pymysql://glancelet:GLANCELET_DBPASS@127.0.0.1:3306/"
                      "glancelet?charset=utf8mb4")


def node_run(node):
    """uWSGI on ``node``: the uwsgi-http files, the drop-in every node has,
    and the node's own drop-in."""
    return Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid", port="60999", node=node,
               unit="glancelet-uwsgi.service",
               files=in_etc(UWSGI_DIR, "glancelet-uwsgi.ini", "glancelet.conf") + (
                   (DIR + "multinode.conf", ETC + "glancelet.conf.d/multinode.conf"),
                   (DIR + node.name + ".conf", ETC + "glancelet.conf.d/node.conf")) + KEYSTONE)


PATTERNS = [Pattern(
    name="haproxy-multinode",
    title="HAProxy in front of two uWSGI nodes (shared store, PostgreSQL)",
    doc="howto/haproxy-multinode",
    # KEYSTONE here too: the pattern is behind Keystone (each node installs
    # the drop-in; Keystone and memcached run on another host, the lab's).
    files=((DIR + "haproxy.cfg", CFG),) + KEYSTONE,
    servers=tuple(node_run(node) for node in NODES) + (
        Run("haproxy", CFG, pidfile="/run/glancelet-haproxy/haproxy.pid", port="9292",
            unit="glancelet-haproxy.service"),),
    front_address="127.0.0.10",
    proxy="haproxy",
    database="postgresql",
    # Each node's uWSGI runs as glancelet (the unit's User=), from the
    # service venv; it owns the shared store too (SERVICE_USER_DIRS).
    unit_user=True,
    sigterm="drain",
)]


@functools.lru_cache(maxsize=None)
def on_mariadb(pattern=PATTERNS[0]):
    """``pattern`` with MariaDB instead of PostgreSQL: multinode.conf's one
    connection line (:data:`MARIADB_CONNECTION`). Not registered: no column
    of its own in the support matrix (tests/examples/test_multinode.py).
    One object per pattern, so that a module-scoped deployment of it is
    started once."""
    clone = pattern.variant({DIR + "multinode.conf": LineEdit(r"^connection = ",
                                                              replace=MARIADB_CONNECTION)})
    clone.name = pattern.name + "-mariadb"
    clone.database = "mariadb"
    return clone
