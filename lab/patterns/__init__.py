"""The registry of deployment patterns the scenario suite runs against.

How to add a pattern
--------------------
1. Put its config files under ``examples/<folder>/``, written as an operator
   installs them (real ports such as 60999, real paths such as
   ``/var/lib/glancelet``); only the tokens in ``lab/rewrite.py``
   may differ at test time. Include the folder's ``glancelet.conf``.
2. Create ``lab/patterns/<module>.py`` with a subclass of
   :class:`lab.harness.Pattern` and a module-level
   ``PATTERNS = [YourPattern(), ...]`` (one module may hold several).
   Declare ``files`` ((example, operator path) pairs) and ``servers`` (kinds
   from :data:`lab.servers.KINDS`; a new kind goes there, with its apt or
   pip packages, and its apt packages in bindep.txt). Implement
   ``launch(ws)``: ``self.install_files(ws)``, start each server (the
   starters in :mod:`lab.launchers` and :mod:`lab.apache`, or
   ``ws.spawn(name, argv, stop_timeout=...)``), return the front door's
   ``http://127.0.0.1:<port>`` (and a CA file for https); and
   ``reload(deployment)`` the way the example documents a graceful reload.
3. Declare what it cannot do in ``expected_failures`` (scenario id ->
   ``ExpectedFailure(status, body, reason)``). Scenario ids are listed in
   ``lab/scenarios.py``. The suite then asserts that exact failure
   instead of success; nothing is skipped.
4. Every file in ``examples/`` must be in some pattern's ``files`` and be
   literalincluded by a page under ``doc/source`` (``test_examples_used.py``).

Modules are discovered automatically; ``all_patterns()`` is sorted by name.
"""

import importlib
import pkgutil


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
