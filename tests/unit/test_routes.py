"""The route table: every handler says in one line what it does (the API
reference's routes directive shows that line)."""

import pytest

from glancelet import app as app_mod

HANDLERS = sorted({(h.__module__, h.__qualname__): h for methods in app_mod.ROUTES.values()
                   for h in methods.values()}.items())


@pytest.mark.parametrize("name,handler", HANDLERS, ids=[".".join(n) for n, _ in HANDLERS])
def test_every_handler_has_a_one_line_docstring(name, handler):
    doc = (handler.__doc__ or "").strip()
    assert doc and "\n" not in doc, name
