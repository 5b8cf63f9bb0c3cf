"""Configuration: option definitions, INI loading and the sample generator.

Options are declared once, in ``OPTIONS``. Loading, validation and the
sample config (``glancelet-config-sample``) are all derived from that list,
so the documented options are exactly the accepted ones.

Option names follow Glance's where Glance has one, so that a Glance operator
recognises them. Values are parsed the way oslo.config parses them: lists are
comma separated and may be wrapped in brackets (``[a, b]``).
"""

import configparser
import dataclasses
import hashlib
import os
import sys

from glancelet import db

ENV_CONFIG_FILE = "GLANCELET_CONFIG_FILE"
DEFAULT_DATA_DIR = os.path.join("~", ".local", "share", "glancelet")


class ConfigError(Exception):
    """The configuration cannot be used. The message is one line."""


def _parse_bool(text):
    value = text.strip().lower()
    if value in ("1", "true", "yes", "on"):
        return True
    if value in ("0", "false", "no", "off"):
        return False
    raise ValueError("is not a boolean (use true or false)")


def _parse_int(text):
    try:
        return int(text.strip())
    except ValueError:
        raise ValueError("is not an integer") from None


def _parse_list(text):
    value = text.strip()
    if value.startswith("[") and value.endswith("]"):
        value = value[1:-1]
    return [item.strip() for item in value.split(",") if item.strip()]


def _parse_port_list(text):
    ports = []
    for item in _parse_list(text):
        try:
            port = int(item)
        except ValueError:
            raise ValueError("has a port that is not an integer: %r" % item) from None
        if not 0 < port < 65536:
            raise ValueError("has a port out of range: %d" % port)
        ports.append(port)
    return ports


def _parse_str(text):
    return text.strip()


_PARSERS = {
    "bool": _parse_bool,
    "int": _parse_int,
    "list": _parse_list,
    "portlist": _parse_port_list,
    "str": _parse_str,
}


def _show(choices):
    return ", ".join(choice or "(empty)" for choice in choices)


@dataclasses.dataclass(frozen=True)
class Option:
    section: str
    name: str
    kind: str
    default: object
    help: str
    minimum: int = None
    choices: tuple = None
    sample_default: str = None  # how the default is shown when it is computed

    def parse(self, text):
        value = _PARSERS[self.kind](text)
        if self.minimum is not None and value < self.minimum:
            raise ValueError("must be at least %d" % self.minimum)
        if self.choices is not None:
            values = value if isinstance(value, list) else [value]
            for item in values:
                if item not in self.choices:
                    raise ValueError("%r is not one of: %s" % (item, _show(self.choices)))
        return value


IMPORT_METHODS = ("glance-direct", "web-download")
FLAVORS = ("", "keystone")
DOWNLOAD_OFFLOADS = ("", "x-accel-redirect", "x-sendfile")

# Sections whose options glancelet does not check but hands, as text, to the
# middleware that owns them (``conf[section]`` is a dict of name -> text).
PASSTHROUGH = {
    "keystone_authtoken": "Options for keystonemiddleware's auth_token, with its own names "
                          "(www_authenticate_uri, auth_url, auth_type, username, password, "
                          "memcached_servers...), used when [paste_deploy] flavor = keystone.",
}

OPTIONS = (
    Option("DEFAULT", "image_size_cap", "int", 1099511627776,
           "Largest image, in bytes, that an upload or a stage accepts. A larger "
           "body is refused with 413 and leaves nothing behind. Glance's name and "
           "default (1 TiB).", minimum=1),
    Option("DEFAULT", "public_endpoint", "str", "",
           "The URL clients reach this service at, e.g. "
           "https://cloud.example.com/image. Used in the version document and in "
           "links. When empty, links are built from the request: its Host and "
           "SCRIPT_NAME, or the X-Forwarded-* headers when "
           "[oslo_middleware] enable_proxy_headers_parsing is on."),
    Option("DEFAULT", "worker_self_reference_url", "str", "",
           "This node's own URL, reachable by the other API nodes (not the load "
           "balancer's), with any path prefix. A node that stages glance-direct "
           "data records it on the image (os_glance_stage_host); an import "
           "request for that image reaching another node is forwarded there. "
           "Set it on every node when each node has its own staging directory. "
           "Glance's name."),
    Option("DEFAULT", "worker_lease_timeout", "int", 60,
           "Seconds after which the work (an upload, a stage, an import) of a "
           "server process on another host that has stopped renewing its lease "
           "is taken as abandoned and released for a retry. Each process renews "
           "its lease every quarter of this. On the process's own host a dead "
           "process is noticed at once. The hosts' clocks must agree to well "
           "under this.", minimum=4),
    Option("DEFAULT", "enabled_import_methods", "list", list(IMPORT_METHODS),
           "Interoperable image import methods offered. An empty list turns "
           "import off (stage and import then answer 404).",
           choices=IMPORT_METHODS),
    Option("DEFAULT", "hashing_algorithm", "str", "sha512",
           "Algorithm for os_hash_value, computed while image data is written. "
           "Any hashlib algorithm with a fixed digest size.",
           choices=tuple(sorted(a for a in hashlib.algorithms_guaranteed
                                if not a.startswith("shake_")))),
    Option("DEFAULT", "debug", "bool", False,
           "Log at DEBUG level, and include tracebacks in the server's log."),
    Option("DEFAULT", "web_download_timeout", "int", 21600,
           "Longest time, in seconds, a web-download import may take from its "
           "first connection to its last byte. Past it the import fails and the "
           "image goes back to queued. 0 means no limit.", minimum=0),
    Option("DEFAULT", "web_download_min_rate", "int", 1024,
           "Slowest rate, in bytes per second averaged over each minute, that a "
           "web-download may keep; a slower one fails, so that an origin that "
           "trickles data cannot hold an import thread for hours. 0 turns the "
           "check off.", minimum=0),
    Option("oslo_middleware", "enable_proxy_headers_parsing", "bool", False,
           "Build links from the X-Forwarded-Proto, X-Forwarded-Host and "
           "X-Forwarded-Prefix headers. Turn it on only behind a proxy that sets "
           "or removes these headers itself: otherwise any client can choose the "
           "host that the version document sends other clients to. Glance's name "
           "and default."),
    Option("paste_deploy", "flavor", "str", "",
           "The pipeline in front of the API, as Glance names it. Empty: no "
           "authentication; the identity headers are trusted as sent, which is "
           "for a private network or development only. keystone: "
           "keystonemiddleware's auth_token checks each request's token first, "
           "configured by the [keystone_authtoken] section (needs pip install "
           "'glancelet[keystone]'). Version discovery and /healthcheck stay "
           "outside authentication.", choices=FLAVORS),
    Option("healthcheck", "disable_by_file_path", "str", "",
           "While a file exists at this path, GET /healthcheck answers 503 "
           "DISABLED BY FILE instead of 200 OK, so that a load balancer drains "
           "this node. oslo.middleware's name; empty turns the check off."),
    Option("database", "connection", "str", "",
           "Where image metadata lives, as an SQLAlchemy URL. "
           "sqlite:////absolute/path.sqlite: an SQLite file in WAL mode, safe for "
           "several processes and threads on one host, created or upgraded when "
           "a server opens it. postgresql+psycopg://user:password@host/dbname or "
           "mysql+pymysql://user:password@host/dbname?charset=utf8mb4: a database "
           "server that several hosts share (pip install 'glancelet[postgresql]' or "
           "'glancelet[mysql]'); create its schema with glancelet-manage db_sync "
           "before the first start and after each upgrade.",
           sample_default="sqlite:////<data dir>/glancelet.sqlite"),
    Option("glance_store", "filesystem_store_datadir", "str", "",
           "Directory that holds image data. Uploads are written to a temporary "
           "file in this directory and renamed into place when complete.",
           sample_default="<data dir>/images"),
    Option("os_glance_staging_store", "filesystem_store_datadir", "str", "",
           "Directory for data staged by the glance-direct import method. Every "
           "process of one node must see the same directory; each node of several "
           "may have its own, with [DEFAULT] worker_self_reference_url set.",
           sample_default="<data dir>/staging"),
    Option("wsgi", "task_pool_threads", "int", 16,
           "Native threads per server process that run import tasks.", minimum=1),
    Option("glancelet", "download_offload", "str", "",
           "glancelet only (Glance has no such option). Empty: image data is "
           "sent by glancelet. x-accel-redirect: a download is answered with "
           "an X-Accel-Redirect header naming the data file under "
           "download_offload_uri, and no body, so that nginx in front sends "
           "the file itself (ranges included). Status, policy and Range checks "
           "are glancelet's as before. Only behind an nginx whose internal "
           "location at download_offload_uri serves the image directory. "
           "x-sendfile: a download is answered with an X-Sendfile header naming "
           "the data file's absolute path, and no body, so that Apache httpd "
           "in front (mod_xsendfile, XSendFilePath the image directory) sends "
           "the file itself, ranges included. Only behind such an Apache: "
           "anywhere else the client gets an empty body.",
           choices=DOWNLOAD_OFFLOADS),
    Option("glancelet", "download_offload_uri", "str", "/glancelet-offload/",
           "The URI prefix of nginx's internal location that serves "
           "[glance_store] filesystem_store_datadir (download_offload = "
           "x-accel-redirect). It starts and ends with a slash."),
    Option("import_filtering_opts", "allowed_schemes", "list", ["http", "https"],
           "URI schemes web-download may fetch from."),
    Option("import_filtering_opts", "disallowed_schemes", "list", [],
           "URI schemes web-download refuses (used when allowed_schemes is empty)."),
    Option("import_filtering_opts", "allowed_hosts", "list", [],
           "Hosts web-download may fetch from. When empty, every host but "
           "disallowed_hosts is allowed, except loopback, link-local and private "
           "addresses, which must be listed here to be reachable."),
    Option("import_filtering_opts", "disallowed_hosts", "list", [],
           "Hosts web-download refuses (used when allowed_hosts is empty)."),
    Option("import_filtering_opts", "allowed_ports", "portlist", [80, 443],
           "Ports web-download may fetch from."),
    Option("import_filtering_opts", "disallowed_ports", "portlist", [],
           "Ports web-download refuses (used when allowed_ports is empty)."),
)

SECTIONS = tuple(dict.fromkeys(opt.section for opt in OPTIONS)) + tuple(PASSTHROUGH)


class Config:
    """Parsed configuration: ``conf.get(section, name)`` or ``conf[section][name]``."""

    def __init__(self, values, source=None, files=()):
        self._values = values
        self.source = source
        # Every file read, in order: ``source`` then its drop-in files.
        self.files = list(files)

    def __getitem__(self, section):
        return self._values[section]

    def get(self, section, name):
        return self._values[section][name]

    @property
    def data_paths(self):
        """(database URL, image dir, staging dir)."""
        return (self.get("database", "connection"),
                self.get("glance_store", "filesystem_store_datadir"),
                self.get("os_glance_staging_store", "filesystem_store_datadir"))


def _check_connection(url):
    try:
        db.scheme(url)
    except ValueError as exc:
        raise ConfigError("[database] connection: %s" % exc) from None


def _check_offload(conf):
    uri = conf.get("glancelet", "download_offload_uri")
    if not (uri.startswith("/") and uri.endswith("/")) or any(c in uri for c in "?#\r\n "):
        raise ConfigError("[glancelet] download_offload_uri = %r must be a path that "
                          "starts and ends with / (nginx's internal location)" % uri)


def config_dir(path):
    """The drop-in directory of config file ``path``: ``<path>.d``.

    Like oslo.config's ``glance-api.conf.d``: every ``*.conf`` file in it is
    read after ``path``, in name order, and a later file's value wins.
    """
    return path + ".d"


def config_files(path):
    """``path`` followed by the ``*.conf`` files of its drop-in directory."""
    directory = config_dir(path)
    try:
        names = sorted(n for n in os.listdir(directory)
                       if n.endswith(".conf") and not n.startswith("."))
    except FileNotFoundError:
        names = []
    except OSError as exc:
        raise ConfigError("cannot read config directory %s: %s"
                          % (directory, exc.strerror)) from None
    return [path] + [os.path.join(directory, n) for n in names]


def _read_file(path, raw):
    """Add the options set in INI file ``path`` to ``raw``; return ``raw``."""
    parser = configparser.RawConfigParser(default_section="__no_default__",
                                          strict=True, interpolation=None)
    try:
        with open(path, encoding="utf-8") as fp:
            parser.read_file(fp)
    except OSError as exc:
        raise ConfigError("cannot read config file %s: %s" % (path, exc.strerror)) from None
    except configparser.Error as exc:
        message = " ".join(str(exc).split())
        raise ConfigError("config file %s is not valid INI: %s" % (path, message)) from None
    for section in parser.sections():
        if section not in SECTIONS:
            raise ConfigError("%s: unknown section [%s] (known: %s)"
                              % (path, section, ", ".join(SECTIONS)))
        for name, text in parser.items(section):
            raw[(section, name)] = (text, path)
    return raw


def load(path=None, overrides=None, environ=os.environ):
    """Build a Config from ``path`` (or $GLANCELET_CONFIG_FILE, or defaults).

    The ``*.conf`` files in ``<path>.d/`` are read after ``path`` (see
    :func:`config_dir`). ``overrides`` maps (section, name) to raw text, as
    if set in the file; tests use it instead of writing files.
    """
    if path is None:
        path = environ.get(ENV_CONFIG_FILE) or None
    raw = {}
    files = config_files(path) if path is not None else []
    for name in files:
        _read_file(name, raw)
    for key, text in (overrides or {}).items():
        raw[key] = (text, path or "built-in defaults")

    known = {(opt.section, opt.name): opt for opt in OPTIONS}
    values = {section: {} for section in SECTIONS}
    for key, (text, where) in raw.items():
        if key[0] in PASSTHROUGH:
            values[key[0]][key[1]] = text
        elif key not in known:
            raise ConfigError("%s: unknown option [%s] %s" % (where, key[0], key[1]))
    for opt in OPTIONS:
        key = (opt.section, opt.name)
        if key in raw:
            text, where = raw[key]
            try:
                values[opt.section][opt.name] = opt.parse(text)
            except ValueError as exc:
                raise ConfigError("%s: [%s] %s = %r %s"
                                  % (where, opt.section, opt.name, text, exc)) from None
        else:
            default = opt.default
            values[opt.section][opt.name] = list(default) if isinstance(default, list) else default
    _fill_data_defaults(values)
    conf = Config(values, source=path, files=files)
    _check_connection(conf.get("database", "connection"))
    _check_offload(conf)
    return conf


def _fill_data_defaults(values):
    data_dir = os.path.expanduser(DEFAULT_DATA_DIR)
    if not values["database"]["connection"]:
        values["database"]["connection"] = "sqlite:///" + os.path.join(data_dir,
                                                                       "glancelet.sqlite")
    if not values["glance_store"]["filesystem_store_datadir"]:
        values["glance_store"]["filesystem_store_datadir"] = os.path.join(data_dir, "images")
    if not values["os_glance_staging_store"]["filesystem_store_datadir"]:
        values["os_glance_staging_store"]["filesystem_store_datadir"] = os.path.join(
            data_dir, "staging")


def _format_default(opt):
    if opt.sample_default is not None:
        return opt.sample_default
    if isinstance(opt.default, bool):
        return "true" if opt.default else "false"
    if isinstance(opt.default, list):
        return ",".join(str(item) for item in opt.default)
    return str(opt.default)


def sample_config():
    """The commented sample config, generated from OPTIONS."""
    lines = [
        "# glancelet sample configuration, generated from glancelet/conf.py.",
        "# Point the server at a file like this with GLANCELET_CONFIG_FILE;",
        "# the *.conf files in <that file>.d/ are read after it, in name order.",
        "# Every option is shown commented out, with its default.",
        "# <data dir> is %s." % DEFAULT_DATA_DIR,
    ]
    section = None
    for opt in OPTIONS:
        if opt.section != section:
            section = opt.section
            lines += ["", "[%s]" % section]
        lines.append("")
        for para in _wrap(opt.help, 76):
            lines.append("# " + para)
        if opt.choices and len(opt.choices) < 8:
            lines.append("# Allowed values: %s" % _show(opt.choices))
        lines.append("# (%s) default: %s" % (opt.kind, _format_default(opt)))
        lines.append("#%s = %s" % (opt.name, _format_default(opt)))
    for section, text in PASSTHROUGH.items():
        lines += ["", "[%s]" % section, ""] + ["# " + para for para in _wrap(text, 76)]
    return "\n".join(lines) + "\n"


def _wrap(text, width):
    import textwrap
    return textwrap.wrap(text, width)


def main(argv=None):
    """Console script ``glancelet-config-sample``: print the sample config."""
    sys.stdout.write(sample_config())
    return 0


if __name__ == "__main__":
    sys.exit(main())
