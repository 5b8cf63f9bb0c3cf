"""glancelet on a database server it does not set up itself (``tox -e db`` only).

A server database gets its schema from ``glancelet-manage db_sync``, never
from a starting server: one without the schema, or with an older one, or
one that cannot be reached, stops the server with one line that says what
to do, and no password.
"""

import logging

import pytest

from glancelet import app as app_mod
from glancelet import db
from lab.harness import free_port

from .conftest import new_database
from .test_db_backends import _sync

SERVERS = ["postgresql", "mariadb"]


@pytest.fixture(autouse=True)
def glancelet_logger():
    """init_application gives glancelet's logger a handler on sys.stderr (here
    the test's capture, closed after it) and stops propagation: undo both."""
    logger = logging.getLogger("glancelet")
    saved = list(logger.handlers), logger.propagate, logger.level
    yield
    logger.handlers[:] = saved[0]
    logger.propagate, logger.level = saved[1], saved[2]


def _start(tmp_path, url, capsys):
    """Start glancelet as a server does; its refusal line, or None if it started."""
    config = tmp_path / "glancelet.conf"
    config.write_text("[database]\nconnection = %s\n[glance_store]\nfilesystem_store_datadir"
                      " = %s\n[os_glance_staging_store]\nfilesystem_store_datadir = %s\n"
                      % (url, tmp_path / "images", tmp_path / "staging"))
    try:
        app_mod.init_application({"GLANCELET_CONFIG_FILE": str(config)})
    except SystemExit as exc:
        assert exc.code == app_mod.REFUSED
        line = capsys.readouterr().err.splitlines()[-1]
        return line
    return None


@pytest.mark.parametrize("kind", SERVERS)
def test_a_server_database_needs_db_sync_first(request, tmp_path, capsys, kind):
    url = new_database(request, kind, tmp_path, sync=False)
    line = _start(tmp_path, url, capsys)
    assert line.startswith("glancelet: cannot use the database %s://glancelet:***@"
                           % db.scheme(url)), line
    assert line.endswith("the schema is at version 0, this glancelet needs %d: run "
                         "glancelet-manage db_sync" % db.LATEST), line
    assert _sync(tmp_path, url, "db_sync", "1") == 0
    assert _start(tmp_path, url, capsys).endswith(
        "the schema is at version 1, this glancelet needs %d: run glancelet-manage db_sync"
        % db.LATEST)
    assert _sync(tmp_path, url, "db_sync") == 0
    capsys.readouterr()
    assert _start(tmp_path, url, capsys) is None


@pytest.mark.parametrize("kind", SERVERS)
def test_an_unreachable_server_refuses_to_start(request, tmp_path, capsys, kind):
    url = new_database(request, kind, tmp_path).replace(
        ":%d/" % request.getfixturevalue("db_server")(kind).port, ":%d/" % free_port())
    line = _start(tmp_path, url, capsys)
    assert line.startswith("glancelet: cannot use the database %s://glancelet:***@"
                           % db.scheme(url)), line
    assert "refused" in line.lower(), line
