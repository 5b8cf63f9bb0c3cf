"""Read the systemd units of examples/systemd/ the way systemd does, for the
harness: a pattern's server starts with its unit's ``ExecStart=`` (as its
``User=`` and ``Group=`` on a pattern declared ``unit_user``, see
:class:`lab.harness.Pattern`), after its ``RuntimeDirectory=`` has been
created (owned by that user), and must stop within its ``TimeoutStopSec=``.

Only what the harness uses is read: ``[Service]`` keys of a unit file and
of its drop-ins (``<unit>.d/*.conf``, read after the unit, a later value
winning), ``%i`` of a template instance, comments and ``\\`` continuation
lines. The command line is split with :func:`shlex.split`: the examples'
``ExecStart=`` lines use only plain words and single quotes, where
systemd's rules and the shell's agree. ``systemd-analyze verify`` checks
the files themselves (``tests/unit/test_units.py``).
"""

import dataclasses
import grp
import os
import pwd
import shlex
from pathlib import Path

# systemd's DefaultTimeoutStopSec.
DEFAULT_STOP_TIMEOUT = 90.0
# Where the unit files are in the repository, and where an operator puts them.
EXAMPLES = "examples/systemd/"
SYSTEM_DIR = "/etc/systemd/system/"


def files(name):
    """(example, operator path, template instance or None) of unit ``name``:
    ``glancelet-uwsgi.service``, an instance of a template
    (``glancelet-nginx@proxy-http.service``: examples/systemd/glancelet-nginx@.service),
    or a drop-in (``apache2.service.d/glancelet.conf``:
    examples/systemd/apache2.service.d/glancelet.conf)."""
    if ".service.d/" in name:
        return EXAMPLES + name, SYSTEM_DIR + name, None
    if "@" in name:
        template, rest = name.split("@", 1)
        instance, suffix = rest.rsplit(".", 1)
        name = "%s@.%s" % (template, suffix)
        return EXAMPLES + name, SYSTEM_DIR + name, instance
    return EXAMPLES + name, SYSTEM_DIR + name, None


def nginx_unit(conf):
    """The instance of glancelet-nginx@.service that runs nginx-``<i>``.conf."""
    assert conf.startswith("nginx-") and conf.endswith(".conf"), conf
    return "glancelet-nginx@%s.service" % conf[len("nginx-"):-len(".conf")]


@dataclasses.dataclass(frozen=True)
class Unit:
    """The ``[Service]`` settings of one unit that the harness acts on."""
    name: str
    type: str
    exec_start: tuple
    exec_reload: tuple
    user: str
    group: str
    runtime_directories: tuple
    runtime_directory_mode: int
    stop_timeout: float

    def runtime_paths(self):
        """The operator paths systemd creates before ``ExecStart=``."""
        return tuple("/run/" + name for name in self.runtime_directories)


def parse_sections(text):
    """{section: [(key, value), ...]} of a unit file's text, continuation
    lines joined, comments dropped."""
    sections = {}
    current = None
    pending = ""
    for raw in text.splitlines():
        line = raw.strip()
        if not pending and (not line or line[0] in "#;"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        line, pending = pending + line, ""
        if line.startswith("[") and line.endswith("]"):
            current = sections.setdefault(line[1:-1], [])
            continue
        key, sep, value = line.partition("=")
        if not sep or current is None:
            raise ValueError("not a unit file line: %r" % raw)
        current.append((key.strip(), value.strip()))
    return sections


def _seconds(value):
    """A systemd time span (``75``, ``75s``, ``2min``, ``1min 30s``) in seconds."""
    units = {"": 1, "s": 1, "sec": 1, "m": 60, "min": 60, "h": 3600}
    total = 0.0
    for word in value.split():
        number = word.rstrip("abcdefghijklmnopqrstuvwxyz")
        total += float(number) * units[word[len(number):]]
    return total


def _service(paths, instance):
    """The merged ``[Service]`` keys of ``paths`` (unit, then drop-ins)."""
    values = {}
    for path in paths:
        text = Path(path).read_text().replace("%i", instance or "%i")
        for key, value in parse_sections(text).get("Service", []):
            if key == "RuntimeDirectory":
                values.setdefault(key, []).extend(value.split())
            else:
                values[key] = value
    return values


def _command(value):
    """argv of an ``Exec*=`` value (without systemd's ``-``/``@``/``+`` prefixes)."""
    if not value:
        return ()
    return tuple(shlex.split(value.lstrip("-@+!:")))


def load(path, instance=None, dropins=()):
    """The :class:`Unit` in file ``path`` (a template with ``instance`` for
    ``%i``), with the drop-in files ``dropins`` applied in order."""
    values = _service([path, *dropins], instance)
    name = Path(path).name
    if instance is not None:
        name = name.replace("@.", "@%s." % instance)
    return Unit(
        name=name,
        type=values.get("Type", "simple"),
        exec_start=_command(values.get("ExecStart", "")),
        exec_reload=_command(values.get("ExecReload", "")),
        user=values.get("User"),
        group=values.get("Group"),
        runtime_directories=tuple(values.get("RuntimeDirectory", ())),
        runtime_directory_mode=int(values.get("RuntimeDirectoryMode", "0755"), 8),
        stop_timeout=_seconds(values.get("TimeoutStopSec", "")) or DEFAULT_STOP_TIMEOUT)


def ids(unit):
    """(uid, gid) the unit's processes run as: its ``User=``/``Group=``
    (the user's primary group if no ``Group=``), root without ``User=``."""
    if unit.user is None:
        return 0, 0
    try:
        entry = pwd.getpwnam(unit.user)
    except KeyError:
        raise LookupError("%s: no user %r on this machine; create it as root with "
                          "python -m lab.provision" % (unit.name, unit.user)) from None
    gid = grp.getgrnam(unit.group).gr_gid if unit.group else entry.pw_gid
    return entry.pw_uid, gid


def install_directory(path, unit, mode):
    """``install -d -o <User=> -g <Group=> -m <mode> <path>`` (the owner
    as root only)."""
    path = Path(path)
    path.mkdir(parents=True, exist_ok=True)
    uid, gid = ids(unit)
    if os.geteuid() == 0:
        os.chown(path, uid, gid)
    path.chmod(mode)
    return path


def make_runtime_directory(path, unit):
    """Create ``path`` as systemd does for ``RuntimeDirectory=``: owned by
    the unit's user and group, mode ``RuntimeDirectoryMode=`` (0755)."""
    return install_directory(path, unit, unit.runtime_directory_mode)
