"""``.. glancelet-routes::``: the API table, read from ``glancelet.app.ROUTES``.

The table is generated from the route declarations the application itself
uses, so the reference lists exactly the methods and paths glancelet serves.
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


class GlanceletRoutes(SphinxDirective):
    has_content = False

    def run(self):
        from glancelet import app

        table = nodes.table()
        tgroup = nodes.tgroup(cols=3)
        table += tgroup
        for width in (12, 38, 50):
            tgroup += nodes.colspec(colwidth=width)
        thead = nodes.thead()
        tgroup += thead
        head = nodes.row()
        for title in ("Method", "Path", "Handler"):
            head += nodes.entry("", _para(nodes.Text(title)))
        thead += head
        tbody = nodes.tbody()
        tgroup += tbody
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


def setup(app):
    app.add_directive("glancelet-routes", GlanceletRoutes)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
