"""Baselines, measured in the same run over the same bytes as the patterns.

* ``hash``: md5 then sha512 over the file in one Python thread, 1 MiB reads
  into a reused buffer: what one core can hash (glancelet computes both).
* ``cat``: ``cat <file> > /dev/null``, the page-cache read ceiling.
* ``disk``: the same bytes written to a new file next to the deployments'
  stores and fsynced (glancelet fsyncs every image before answering 204).
* ``nginx``: nginx serving the file statically with sendfile, downloaded by
  the same client as the patterns (the download ceiling); also a small JSON
  file, the floor for one metadata request with a new connection.

:class:`StaticApache` is Apache httpd serving a file statically, with its
default ``EnableSendfile Off`` or with ``On``: the per-hop figure of
Apache's download offload (:mod:`benchmarks.offload`).
"""

import hashlib
import os
import subprocess
import time
from pathlib import Path

from benchmarks import client
from lab.harness import Server, free_port

BLOCK = 1024 * 1024
NGINX = "/usr/sbin/nginx"
APACHE = "/usr/sbin/apache2"
APACHE_MODULES = "/usr/lib/apache2/modules"


def make_image_file(path, size):
    """Write ``size`` random bytes to ``path`` and read them once (page cache)."""
    with open(path, "wb") as f:
        left = size
        while left:
            n = min(BLOCK * 16, left)
            f.write(os.urandom(n))
            left -= n
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return path


def hash_file(path):
    """(seconds, md5 hex) for md5+sha512 of ``path`` in one thread."""
    md5, sha = hashlib.md5(), hashlib.sha512()
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as f:
        while True:
            n = f.readinto(buf)
            if not n:
                break
            md5.update(view[:n])
            sha.update(view[:n])
    elapsed = time.perf_counter() - start
    return elapsed, md5.hexdigest()


def cat_file(path):
    start = time.perf_counter()
    subprocess.run(["cat", str(path)], stdout=subprocess.DEVNULL, check=True)
    return time.perf_counter() - start


def disk_write(path, target_dir):
    """(total, write, fsync) seconds to copy ``path`` into ``target_dir`` in 1 MiB
    writes, then fsync it."""
    target = Path(target_dir) / "disk-baseline.bin"
    buf = bytearray(BLOCK)
    view = memoryview(buf)
    start = time.perf_counter()
    with open(path, "rb", buffering=0) as src, open(target, "wb", buffering=0) as dst:
        while True:
            n = src.readinto(buf)
            if not n:
                break
            dst.write(view[:n])
        written = time.perf_counter()
        os.fsync(dst.fileno())
    end = time.perf_counter()
    target.unlink()
    return end - start, written - start, end - written


# A measurement tool, not an operator example: the smallest nginx config that
# serves one directory with sendfile, as the download ceiling of this machine.
# It is generated here and never shown in the docs.
NGINX_STATIC_CONF = """\
daemon off;
worker_processes 1;
pid {dir}/nginx.pid;
error_log {dir}/error.log warn;
events {{ worker_connections 256; }}
http {{
    access_log off;
    sendfile on;
    tcp_nopush on;
    client_body_temp_path {dir}/client_body;
    proxy_temp_path {dir}/proxy;
    fastcgi_temp_path {dir}/fastcgi;
    uwsgi_temp_path {dir}/uwsgi;
    scgi_temp_path {dir}/scgi;
    default_type application/octet-stream;
    server {{
        listen 127.0.0.1:{port};
        root {root};
        location / {{ }}
    }}
}}
"""


class StaticNginx:
    """nginx serving ``root`` on a free port; a context manager."""

    def __init__(self, root, workdir):
        self.root = Path(root)
        self.dir = Path(workdir)
        self.port = free_port()
        self.server = None

    @property
    def base_url(self):
        return "http://127.0.0.1:%d" % self.port

    def _command(self):
        """(server name, argv), once its config is written under ``dir``."""
        conf = self.dir / "nginx-static.conf"
        conf.write_text(NGINX_STATIC_CONF.format(dir=self.dir, port=self.port, root=self.root))
        return "nginx-static", [NGINX, "-c", conf]

    def __enter__(self):
        self.dir.mkdir(parents=True, exist_ok=True)
        name, argv = self._command()
        self.server = Server(name, argv, self.dir / (name + ".out"), stop_timeout=10).start()
        try:
            client.wait_http(self.base_url + "/record.json")
        except BaseException:
            self.server.stop()
            raise
        return self

    def __exit__(self, *exc):
        self.server.stop()
        return False


# Likewise for Apache httpd: mpm_event, one directory, nothing else loaded;
# EnableSendfile as given (httpd's and Debian's default is Off, and the
# apache patterns keep it). Its workers run as www-data, as the patterns'.
APACHE_STATIC_CONF = """\
ServerName 127.0.0.1
PidFile {dir}/httpd.pid
DefaultRuntimeDir {dir}
Mutex file:{dir}
ErrorLog {dir}/error.log
LogLevel warn
LoadModule mpm_event_module {modules}/mod_mpm_event.so
LoadModule authz_core_module {modules}/mod_authz_core.so
User www-data
Group www-data
Listen 127.0.0.1:{port}
DocumentRoot {root}
<Directory {root}>
    Require all granted
</Directory>
EnableSendfile {sendfile}
"""


class StaticApache(StaticNginx):
    """Apache httpd serving ``root`` on a free port (``sendfile``:
    ``EnableSendfile On``); a context manager."""

    def __init__(self, root, workdir, sendfile=False):
        super().__init__(root, workdir)
        self.sendfile = sendfile

    def _command(self):
        conf = self.dir / "httpd-static.conf"
        conf.write_text(APACHE_STATIC_CONF.format(
            dir=self.dir, port=self.port, root=self.root, modules=APACHE_MODULES,
            sendfile="On" if self.sendfile else "Off"))
        return "apache-static", [APACHE, "-f", conf, "-DFOREGROUND"]
