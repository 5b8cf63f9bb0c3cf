"""API tables generated from the declarations the application itself uses.

``.. glancelet-routes::`` reads ``glancelet.app.ROUTES``, so the reference
lists exactly the methods and paths glancelet serves; ``..
glancelet-policies::`` reads ``glancelet.policy.RULES``, so it shows the very
checks glancelet enforces.
"""

from docutils import nodes
from sphinx.util.docutils import SphinxDirective


def _first_line(obj):
    doc = (getattr(obj, "__doc__", None) or "").strip()
    return doc.splitlines()[0] if doc else ""


def _para(*children):
    para = nodes.paragraph()
    para.extend(children)
    return para


def _table(titles, widths):
    """An empty table with a header row; returns (table, its tbody)."""
    table = nodes.table()
    tgroup = nodes.tgroup(cols=len(titles))
    table += tgroup
    for width in widths:
        tgroup += nodes.colspec(colwidth=width)
    thead = nodes.thead()
    tgroup += thead
    head = nodes.row()
    for title in titles:
        head += nodes.entry("", _para(nodes.Text(title)))
    thead += head
    tbody = nodes.tbody()
    tgroup += tbody
    return table, tbody


class GlanceletRoutes(SphinxDirective):
    has_content = False

    def run(self):
        from glancelet import app

        table, tbody = _table(("Method", "Path", "Handler"), (12, 38, 50))
        for path, methods in app.ROUTES.items():
            for method, handler in methods.items():
                row = nodes.row()
                row += nodes.entry("", _para(nodes.literal(method, method)))
                row += nodes.entry("", _para(nodes.literal(path, path)))
                name = "%s.%s" % (handler.__module__, handler.__qualname__)
                entry = nodes.entry("", _para(nodes.literal(name, name)))
                summary = _first_line(handler)
                if summary:
                    entry += _para(nodes.Text(summary))
                row += entry
                tbody += row
        self.env.note_dependency(app.__file__)
        return [table]


class GlanceletPolicies(SphinxDirective):
    has_content = False

    def run(self):
        from glancelet import policy

        table, tbody = _table(("Rule", "Default check", "Scope", "Checked for"),
                              (18, 44, 8, 30))
        for name, rule in policy.RULES.items():
            row = nodes.row()
            row += nodes.entry("", _para(nodes.literal(name, name)))
            check = str(rule.check)
            row += nodes.entry("", _para(nodes.literal(check, check)))
            row += nodes.entry("", _para(nodes.Text(rule.scope or "any")))
            used = nodes.entry()
            for operation in rule.operations:
                used += _para(nodes.Text(operation))
            row += used
            tbody += row
        self.env.note_dependency(policy.__file__)
        return [table]


def setup(app):
    app.add_directive("glancelet-routes", GlanceletRoutes)
    app.add_directive("glancelet-policies", GlanceletPolicies)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
