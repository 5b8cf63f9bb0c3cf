"""API tables generated from the declarations the application itself uses.

``.. glancelet-routes::`` reads ``glancelet.app.ROUTES``, so the reference
lists exactly the methods and paths glancelet serves; ``..
glancelet-policies::`` reads ``glancelet.policy.RULES``, so it shows the very
checks glancelet enforces.
"""

from bench_results import _table
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

        rows = []
        for path, methods in app.ROUTES.items():
            for method, handler in methods.items():
                name = "%s.%s" % (handler.__module__, handler.__qualname__)
                entry = [_para(nodes.literal(name, name))]
                summary = _first_line(handler)
                if summary:
                    entry.append(_para(nodes.Text(summary)))
                rows.append([_para(nodes.literal(method, method)),
                             _para(nodes.literal(path, path)), entry])
        self.env.note_dependency(app.__file__)
        return [_table(("Method", "Path", "Handler"), rows, (12, 38, 50), classes=())]


class GlanceletPolicies(SphinxDirective):
    has_content = False

    def run(self):
        from glancelet import policy

        rows = []
        for name, rule in policy.RULES.items():
            check = str(rule.check)
            rows.append([_para(nodes.literal(name, name)),
                         _para(nodes.literal(check, check)),
                         rule.scope or "any",
                         [_para(nodes.Text(operation)) for operation in rule.operations]])
        self.env.note_dependency(policy.__file__)
        return [_table(("Rule", "Default check", "Scope", "Checked for"), rows,
                       (18, 44, 8, 30), classes=())]


def setup(app):
    app.add_directive("glancelet-routes", GlanceletRoutes)
    app.add_directive("glancelet-policies", GlanceletPolicies)
    return {"version": "1", "parallel_read_safe": True,
            "parallel_write_safe": True}
