"""HAProxy in front of two glancelet nodes (examples/haproxy-multinode/, with
the uwsgi-http example's files on each node) and PostgreSQL; :func:`on_mariadb`
is the same on MariaDB. Its Glance: :func:`glance_node_run` on each node."""

import dataclasses
import functools

from lab.harness import LineEdit, Pattern
from lab.patterns import (ETC, GLANCE_BEHIND_PROXY, GLANCE_CONF_D, GLANCE_UWSGI_FIFO,
                          GLANCE_UWSGI_INI, KEYSTONE, glance_dropin, in_etc)
from lab.servers import Node, Run

DIR = "examples/haproxy-multinode/"
UWSGI_DIR = "examples/uwsgi-http/"
INI = ETC + "glancelet-uwsgi.ini"
CFG = ETC + "haproxy.cfg"
NODES = (Node("node1", "127.0.0.2"), Node("node2", "127.0.0.3"))
# multinode.conf's [database] connection on MariaDB (the how-to page shows it).
MARIADB_CONNECTION = ("connection = mysql+pymysql://glancelet:GLANCELET_DBPASS@127.0.0.1:3306/"
                      "glancelet?charset=utf8mb4")
# The same line of glance-multinode.conf, for Glance.
GLANCE_MARIADB_CONNECTION = ("connection = mysql+pymysql://glance:GLANCE_DBPASS@127.0.0.1:3306/"
                             "glance?charset=utf8mb4")


def node_run(node):
    """uWSGI on ``node``: the uwsgi-http files, the drop-in every node has,
    and the node's own drop-in."""
    return Run("uwsgi", INI, pidfile="/run/glancelet/uwsgi.pid", port="60999", node=node,
               unit="glancelet-uwsgi.service",
               files=in_etc(UWSGI_DIR, "glancelet-uwsgi.ini", "glancelet.conf") + (
                   (DIR + "multinode.conf", ETC + "glancelet.conf.d/multinode.conf"),
                   (DIR + node.name + ".conf", ETC + "glancelet.conf.d/node.conf")) + KEYSTONE)


def glance_node_run(run):
    """Glance's uWSGI on ``run``'s node: glance-uwsgi.ini, which includes
    the node's glancelet-uwsgi.ini (its http-socket, on the node's address),
    with Glance's drop-ins: behind-proxy.conf, the one every node has
    (the database server, the shared store) and the node's own."""
    return dataclasses.replace(
        run, conf=GLANCE_UWSGI_INI[1], pidfile="/run/glance/uwsgi.pid", unit=None,
        fifo=GLANCE_UWSGI_FIFO,
        files=in_etc(UWSGI_DIR, "glancelet-uwsgi.ini") + (
            GLANCE_UWSGI_INI, glance_dropin(GLANCE_BEHIND_PROXY),
            (DIR + "glance-multinode.conf", GLANCE_CONF_D + "multinode.conf"),
            (DIR + "glance-%s.conf" % run.node.name, GLANCE_CONF_D + "node.conf")))


SERVERS = tuple(node_run(node) for node in NODES) + (
    Run("haproxy", CFG, pidfile="/run/glancelet-haproxy/haproxy.pid", port="9292",
        unit="glancelet-haproxy.service"),)

PATTERNS = [Pattern(
    name="haproxy-multinode",
    title="HAProxy in front of two uWSGI nodes (shared store, PostgreSQL)",
    doc="howto/haproxy-multinode",
    # KEYSTONE here too: the pattern is behind Keystone (each node installs
    # the drop-in; Keystone and memcached run on another host, the lab's).
    files=((DIR + "haproxy.cfg", CFG),) + KEYSTONE,
    servers=SERVERS,
    # OpenStack Glance on both nodes (glance_node_run), on the same
    # PostgreSQL (a database of its own), behind the same haproxy.cfg.
    glance={"servers": tuple(glance_node_run(run) for run in SERVERS[:-1]) + SERVERS[-1:]},
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
    connection line (:data:`MARIADB_CONNECTION`; for Glance
    glance-multinode.conf's, :data:`GLANCE_MARIADB_CONNECTION`). Not
    registered: no column of its own in the support matrix
    (tests/examples/test_multinode.py). One object per pattern, so that a
    module-scoped deployment of it is started once."""
    example, line = ((DIR + "glance-multinode.conf", GLANCE_MARIADB_CONNECTION)
                     if pattern.service == "glance" else
                     (DIR + "multinode.conf", MARIADB_CONNECTION))
    clone = pattern.variant({example: LineEdit(r"^connection = ", replace=line)})
    clone.name = pattern.name + "-mariadb"
    clone.database = "mariadb"
    return clone
