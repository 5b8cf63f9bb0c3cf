"""The lab: runs the files of ``examples/`` under real servers on 127.0.0.x.

Tests (``tests/examples``, ``tests/functional``), ``benchmarks/`` and the docs
build (``doc/source/_ext/examples_results.py``) import it as ``lab``.

Map:

* ``lab.harness``: free ports, :class:`~lab.harness.Server` (one process
  group, stop with a deadline), readiness, the per-test ``Workspace`` (with
  ``install``, and ``install_variant`` for one-line variants), and the
  ``Pattern`` (a declaration: data, with generic launch and reload),
  ``Deployment`` and ``ExpectedFailure`` types; ``SERVICES``, the services
  a deployment can run (expected failures are keyed by service, pattern
  and scenario).
* ``lab.rewrite``: the only changes made to an examples/ file at test time
  (its ports, addresses and paths).
* ``lab.patterns``: the registry of deployment patterns, one module each
  (``apache_uwsgi`` holds the shape three Apache declarations share).
* ``lab.servers``: the registry of server kinds (uWSGI, gunicorn, nginx,
  HAProxy, Apache httpd): where each comes from (apt, pip), its binary, its
  version, how it starts and reloads; ``Run``, one server of a pattern.
* ``lab.launchers``: how uWSGI, gunicorn, nginx and HAProxy are started and
  reloaded (the kinds call these; the signal-readiness guard of uWSGI).
* ``lab.memcached``: memcached, the Keystone suite's shared token cache:
  start, ``stats`` and what it stores.
* ``lab.dbservers``: throwaway PostgreSQL and MariaDB servers (``start``,
  ``url``, ``create_database``, ``stop``) for ``[database] connection``, and
  the one a multi-node pattern's nodes share (``serve_pattern``, ``set_up``).
* ``lab.apache``: Apache httpd: provisioning, the apache2.conf stand-in,
  start and graceful restart.
* ``lab.provision``: ``python -m lab.provision [--profile examples|docs|keystone|db]``,
  installs (as root) or names the system packages a tox env needs.
* ``lab.scenarios``: the scenario ids and titles of the support matrix.
* ``lab.client``: HTTP client, python-glanceclient and CLI helpers, and the
  generated image data (``Source``).
* ``lab.mirror``: the local HTTP server the web-download import fetches from.
* ``lab.slow_close``: a WSGI wrapper used to make a proxy race reproducible.
* ``lab.results``: the results file the docs render, the digests of the
  sources it was made from (the whole tree's and each pattern's), and
  ``python -m lab.results merge|add-pattern-digests``.

Packaging: ``lab`` is not part of the ``glancelet`` distribution
(``pip install glancelet`` ships only ``glancelet``). ``labdist/pyproject.toml``
is a second, small distribution (``glancelet-lab``) whose only package is this
folder; the tox environments that need the lab list ``-e {toxinidir}/labdist``
in their ``deps``, and by hand it is ``pip install -e labdist``. Install it
editable only: the lab reads ``examples/`` and ``glancelet/`` from the
checkout it lives in (``harness.REPO_ROOT``).
"""
