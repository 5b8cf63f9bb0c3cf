"""A small reST scanner for the docs checks: directives and literal blocks.

It reads just enough reST to find code-showing constructs with their
options and bodies; it is not a full parser (docutils does not keep
directive arguments of unknown directives, and Sphinx's own doctree has
already resolved literalincludes into text).
"""

import re

DIRECTIVE_RE = re.compile(r"^(?P<indent>\s*)\.\.\s+(?P<name>[\w:-]+)::\s*(?P<arg>.*)$")
OPTION_RE = re.compile(r"^:(?P<name>[\w-]+):\s*(?P<value>.*)$")


class Block:
    def __init__(self, path, lineno, kind, argument, options, body):
        self.path = path
        self.lineno = lineno
        self.kind = kind          # directive name, or "::" for a literal block
        self.argument = argument
        self.options = options
        self.body = body          # list of lines, dedented

    def where(self):
        return "%s:%d" % (self.path, self.lineno)

    def __repr__(self):
        return "<%s %s %r>" % (self.kind, self.where(), self.argument)


def _indent(line):
    return len(line) - len(line.lstrip(" "))


def _collect(lines, start, min_indent):
    """Lines from ``start`` that are blank or indented more than min_indent."""
    out = []
    i = start
    while i < len(lines):
        line = lines[i]
        if line.strip() and _indent(line) <= min_indent:
            break
        out.append(line)
        i += 1
    while out and not out[-1].strip():
        out.pop()
    return out, i


def _dedent(lines):
    widths = [_indent(line) for line in lines if line.strip()]
    cut = min(widths) if widths else 0
    return [line[cut:] for line in lines]


def scan(path):
    """Yield a Block for each directive and each ``::`` literal block."""
    text = path.read_text(encoding="utf-8")
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        match = DIRECTIVE_RE.match(line)
        if match:
            indent = len(match.group("indent"))
            block, end = _collect(lines, i + 1, indent)
            block = _dedent(block)
            options = {}
            body_start = 0
            for j, bline in enumerate(block):
                opt = OPTION_RE.match(bline)
                if opt and (j == 0 or block[j - 1].strip()):
                    options[opt.group("name")] = opt.group("value").strip()
                    body_start = j + 1
                    continue
                break
            body = block[body_start:]
            while body and not body[0].strip():
                body.pop(0)
            yield Block(path, i + 1, match.group("name"), match.group("arg").strip(),
                        options, body)
            # Nested directives (tabs) must be seen too: do not skip the body.
            i += 1
            continue
        if line.rstrip().endswith("::") and not line.lstrip().startswith(".."):
            indent = _indent(line)
            block, end = _collect(lines, i + 1, indent)
            body = _dedent(block)
            while body and not body[0].strip():
                body.pop(0)
            if body:
                yield Block(path, i + 1, "::", "", {}, body)
            i = end
            continue
        i += 1
