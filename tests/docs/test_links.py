"""Internal links of the built site: every target page and anchor exists.

External links are not checked (the build machine may have no network);
every relative ``href`` and ``src`` of every HTML page is resolved against
the page, and its ``#fragment`` must be an ``id`` in the target page.
"""

import html.parser
import posixpath
import urllib.parse


class _Collector(html.parser.HTMLParser):
    def __init__(self):
        super().__init__(convert_charrefs=True)
        self.ids = set()
        self.links = []

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        for key in ("id", "name"):
            if attrs.get(key) and (key == "id" or tag == "a"):
                self.ids.add(attrs[key])
        for key in ("href", "src"):
            value = attrs.get(key)
            if value is not None and not (tag == "link" and attrs.get("rel") in (
                    "canonical",)):
                self.links.append((tag, key, value))


def _parse(path):
    collector = _Collector()
    collector.feed(path.read_text(encoding="utf-8"))
    return collector


def _is_internal(url):
    parts = urllib.parse.urlsplit(url)
    return not parts.scheme and not parts.netloc and not url.startswith("//")


def test_internal_links_and_anchors(built_html):
    pages = {p.relative_to(built_html).as_posix(): _parse(p)
             for p in built_html.rglob("*.html")}
    assert "index.html" in pages
    broken = []
    checked = 0
    for name, page in sorted(pages.items()):
        for tag, key, url in page.links:
            if not url or not _is_internal(url) or url.startswith(("mailto:", "javascript:")):
                continue
            parts = urllib.parse.urlsplit(url)
            target = name
            if parts.path:
                target = posixpath.normpath(
                    posixpath.join(posixpath.dirname(name), urllib.parse.unquote(parts.path)))
                if target.endswith("/") or (built_html / target).is_dir():
                    target = posixpath.join(target, "index.html")
            if not (built_html / target).is_file():
                broken.append("%s: <%s %s=%r>: no file %s" % (name, tag, key, url, target))
                continue
            checked += 1
            fragment = urllib.parse.unquote(parts.fragment)
            if fragment and target.endswith(".html"):
                ids = pages[target].ids if target in pages else _parse(built_html / target).ids
                if fragment not in ids:
                    broken.append("%s: %r: no id %r in %s" % (name, url, fragment, target))
    assert not broken, "\n".join(broken)
    assert checked > 50, "only %d internal links found; is this the site?" % checked
