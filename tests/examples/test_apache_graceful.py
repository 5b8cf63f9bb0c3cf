"""``apache2ctl graceful`` while a long upload is running, for every Apache
pattern.

The graceful-reload scenario (test_lifecycle.py) uses short uploads. Here one
upload runs for ~8 s (256 MiB at 32 MiB/s) and the reload comes 1.5 s in:

* behind mod_proxy_http / mod_proxy_uwsgi the old Apache child finishes the
  request it is proxying: the upload completes;
* with mod_wsgi, Apache's restart also replaces the daemon processes, and its
  parent kills the old ones after a few seconds (mod_wsgi's shutdown-timeout
  and graceful-timeout at their defaults): the client gets 502 Bad Gateway
  and the image goes back to queued (glancelet removes the partial file).
"""

import threading
import time

import pytest

from lab import apache
from lab.client import MiB, Api, Source
from lab.patterns import get

PATTERNS = ["apache-proxy-http", "apache-proxy-uwsgi", "apache-tls", "apache-mod-wsgi"]


@pytest.mark.parametrize("name", PATTERNS)
def test_graceful_during_a_long_upload(name, tmp_path, record):
    pattern = get(name)
    with pattern.start(tmp_path) as dep:
        apache.settle_uwsgi(dep.servers.get("uwsgi"))
        api = Api(dep.base_url, dep.ca_file)
        image = api.create_image(name="graceful")
        source = Source(256 * MiB, seed=51)
        reload_errors = []

        def reload():
            try:
                apache.graceful(dep.workspace)
            except Exception as exc:  # reported below, whatever it is
                reload_errors.append(exc)

        threads = []

        def on_progress(sent):
            if sent >= 48 * MiB and not threads:
                threads.append(threading.Thread(target=reload))
                threads[0].start()

        started = time.monotonic()
        resp = api.upload_cl(image["id"], source, pace=32 * MiB, on_progress=on_progress,
                             timeout=120)
        elapsed = time.monotonic() - started
        threads[0].join(60)
        assert reload_errors == []
        log = dep.log_text(apache.APACHE_SERVER_NAME)
        assert apache.GRACEFUL_LOG_TEXT in log
        if name != "apache-mod-wsgi":
            assert resp.status == 204, resp
            got = api.get_image(image["id"])
            assert got["status"] == "active"
            assert got["os_hash_value"] == source.sha512.hexdigest()
            return
        assert resp.status == 502, resp
        assert "<title>502 Bad Gateway</title>" in resp.text, resp
        lines = [x for x in log.splitlines()
                 if "WSGI0129" in x or "WSGI0127" in x or "WSGI0146" in x or "WSGI0147" in x]
        assert lines, log[-3000:]
        api.wait_status(image["id"], "queued", deadline=30)
        end = time.monotonic() + 30
        while [p for p in dep.store_dir.iterdir()] and time.monotonic() < end:
            time.sleep(0.2)
        assert list(dep.store_dir.iterdir()) == []
        root = str(dep.workspace.root)
        record.symptom("mod-wsgi-graceful-cuts-uploads", name,
                       "apache2ctl graceful %.1f s into an upload: %s after %.1f s\n%s\n"
                       "error log: %s" % (1.5, resp.status_line, elapsed, resp.text.strip(),
                                          lines[0].split("] ", 3)[-1].replace(root, "")))
