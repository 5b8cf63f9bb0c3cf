"""glancelet.uwsgi_support: what differs under uWSGI, with a stand-in ``uwsgi`` module."""

import sys
import types

import pytest

from glancelet import conf, uwsgi_support


def fake_uwsgi(monkeypatch, **attrs):
    module = types.ModuleType("uwsgi")
    module.__dict__.update(attrs)
    monkeypatch.setitem(sys.modules, "uwsgi", module)
    return module


def test_outside_uwsgi_nothing_is_hooked_or_refused(monkeypatch):
    monkeypatch.delitem(sys.modules, "uwsgi", raising=False)
    uwsgi_support.check_server()
    assert uwsgi_support.at_exit(lambda: None) is None
    assert uwsgi_support.chunked_input({"uwsgi.version": b"2.0"}) is None


@pytest.mark.parametrize("opt", [{}, {"threads": b"1"}, {"enable-threads": b"false"}])
def test_a_uwsgi_worker_without_threads_is_refused(monkeypatch, opt):
    fake_uwsgi(monkeypatch, opt=opt)
    with pytest.raises(conf.ConfigError, match="enable-threads = true"):
        uwsgi_support.check_server()


@pytest.mark.parametrize("opt", [{"enable-threads": True}, {"threads": b"4"}])
def test_a_uwsgi_worker_with_threads_may_run(monkeypatch, opt):
    fake_uwsgi(monkeypatch, opt=opt)
    uwsgi_support.check_server()


def test_chunked_input_needs_chunked_read(monkeypatch):
    fake = fake_uwsgi(monkeypatch)
    assert uwsgi_support.chunked_input({"uwsgi.version": b"2.0"}) is None
    fake.chunked_read = lambda: b""
    assert uwsgi_support.chunked_input({}) is None  # not served by uWSGI
    assert uwsgi_support.chunked_input({"uwsgi.version": b"2.0"}).read(10) == b""
