"""Every configuration shown on the site is a file from examples/.

Rules, checked on every reST file under doc/source:

1. No ``code-block`` (``code``, ``sourcecode``) in a configuration language:
   ini, cfg, conf, apache, apacheconf, nginx, toml, yaml, systemd, or Python
   (a Python config such as a ``.wsgi`` script or ``gunicorn.conf.py``). Such
   a file must be a ``literalinclude`` of an ``examples/`` file, so that the
   text the reader copies is the text the examples suite runs.
2. No inline block of another language, and no ``::`` literal block, whose
   text looks like configuration (INI sections with ``key = value``, Apache
   or nginx directives, uWSGI options).
3. Every ``literalinclude`` names an existing file under ``examples/`` and
   has a ``:caption:`` containing the file's name.

Generated output (``program-output``) is not typed, so it is allowed.
"""

import re

import pytest

from tests.docs.conftest import DOC_SOURCE, REPO_ROOT, rst_files
from tests.docs.rstscan import scan

CONFIG_LANGUAGES = {"ini", "cfg", "conf", "dosini", "apache", "apacheconf",
                    "nginx", "toml", "yaml", "yml", "systemd", "python", "py",
                    "python3", "py3"}
CODE_DIRECTIVES = {"code-block", "code", "sourcecode"}

CONFIG_LINE_PATTERNS = [
    re.compile(r"^\s*\[[A-Za-z_][\w :.-]*\]\s*$"),                  # [section]
    re.compile(r"^\s*</?(VirtualHost|Location|Directory|IfModule|Files)\b"),
    re.compile(r"^\s*(ProxyPass|ProxyPassReverse|LoadModule|Listen|SetEnv|"
               r"Proxy100Continue|LimitRequestBody|RequestHeader|"
               r"WSGI[A-Z]\w+)\s"),
    re.compile(r"^\s*(server|location|http|upstream|events)\b[^;]*\{\s*$"),
    re.compile(r"^\s*(uwsgi_pass|proxy_pass|client_max_body_size|listen|"
               r"uwsgi_param|proxy_set_header)\s+[^;]+;\s*$"),
    re.compile(r"^\s*(http-socket|socket|module|wsgi-file|processes|master|"
               r"chunked-input-limit|die-on-term|bind|workers|"
               r"worker_class)\s*=\s*\S"),
]


def looks_like_config(lines):
    hits = sum(1 for line in lines
               if any(p.search(line) for p in CONFIG_LINE_PATTERNS))
    return hits >= 2 or (hits == 1 and len([x for x in lines if x.strip()]) <= 2)


def all_blocks():
    for path in rst_files():
        for block in scan(path):
            yield block


def test_there_are_rst_files():
    assert rst_files(), "no reST files under %s" % DOC_SOURCE


def test_no_inline_config_code_blocks():
    bad = []
    for block in all_blocks():
        if block.kind in CODE_DIRECTIVES:
            language = block.argument.lower()
            if language in CONFIG_LANGUAGES:
                bad.append("%s: code-block in %r; literalinclude the examples/ "
                           "file instead" % (block.where(), language))
            elif looks_like_config(block.body):
                bad.append("%s: this %s block looks like configuration; "
                           "literalinclude it from examples/" % (block.where(),
                                                                 language or "plain"))
        elif block.kind == "::" and looks_like_config(block.body):
            bad.append("%s: this literal block looks like configuration; "
                       "literalinclude it from examples/" % block.where())
    assert not bad, "\n".join(bad)


def _resolve(block):
    target = block.argument
    if target.startswith("/"):
        return (DOC_SOURCE / target.lstrip("/")).resolve()
    return (block.path.parent / target).resolve()


def literalincludes():
    return [b for b in all_blocks() if b.kind == "literalinclude"]


def test_literalincludes_name_examples_files():
    bad = []
    examples = (REPO_ROOT / "examples").resolve()
    for block in literalincludes():
        target = _resolve(block)
        if not target.is_file():
            bad.append("%s: %s does not exist" % (block.where(), block.argument))
            continue
        if examples not in target.parents:
            bad.append("%s: %s is not under examples/" % (block.where(), block.argument))
        caption = block.options.get("caption", "")
        if target.name not in caption:
            bad.append("%s: caption %r does not name the file %s"
                       % (block.where(), caption, target.name))
    assert not bad, "\n".join(bad)


@pytest.mark.parametrize("text,expected", [
    (["[uwsgi]", "http-socket = 127.0.0.1:1"], True),
    (["<Location /image>", "  ProxyPass http://x"], True),
    (["server {", "  listen 80;"], True),
    (["$ glance image-list", "+----+"], False),
    (["client ──▶ proxy ──▶ WSGI server"], False),
])
def test_config_detector(text, expected):
    """The detector itself: it must catch configs and let commands pass."""
    assert looks_like_config(text) is expected
