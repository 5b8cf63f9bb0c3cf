"""The built site in a real browser (headless Chromium).

Serves the built HTML from a local http.server on 127.0.0.1 and drives
Debian's chromium through the Chrome DevTools Protocol (playwright's client;
no browser is downloaded). Checks:

* switching the client tabs changes the visible content, and the choice is
  still selected on another page (sphinx-tabs group tabs);
* the search page finds a term and lists results;
* the copy button is present on code blocks;
* no page logs a console error or throws.

A screenshot of each checked page is written next to the HTML build
(``_screenshots/``) for a human to look at.
"""

import contextlib
import functools
import http.server
import shutil
import threading

import pytest

CHROMIUM_FLAGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]
INSTALL_HINT = "python -m lab.provision --profile docs   (tox -e docs runs it first)"


def chromium_path():
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    pytest.fail("chromium is not installed; run: " + INSTALL_HINT)


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, *args):
        pass


@contextlib.contextmanager
def serve(directory):
    handler = functools.partial(_QuietHandler, directory=str(directory))
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield "http://127.0.0.1:%d" % server.server_address[1]
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)


@pytest.fixture(scope="module")
def browser(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    executable = chromium_path()
    profile = tmp_path_factory.mktemp("chromium-profile")
    with sync_playwright() as pw:
        context = pw.chromium.launch_persistent_context(
            str(profile), executable_path=executable, headless=True,
            args=CHROMIUM_FLAGS, viewport={"width": 1280, "height": 900})
        try:
            yield context
        finally:
            context.close()


@pytest.fixture(scope="module")
def site(built_html):
    with serve(built_html) as url:
        yield url


@pytest.fixture
def page(browser):
    page = browser.new_page()
    errors = []
    page.on("console", lambda msg: errors.append("console %s: %s" % (msg.type, msg.text))
            if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append("page error: %s" % exc))
    # A request cut short by the next navigation (net::ERR_ABORTED) is not a
    # fault of the page; a missing file shows up as a 4xx response below.
    page.on("requestfailed", lambda req: errors.append(
        "request failed: %s (%s)" % (req.url, req.failure))
        if "ERR_ABORTED" not in (req.failure or "") else None)
    page.on("response", lambda resp: errors.append("HTTP %d for %s" % (resp.status, resp.url))
            if resp.status >= 400 else None)
    page.errors = errors
    yield page
    page.close()
    assert not errors, "\n".join(errors)


def _shot(page, built_html, name):
    out = built_html / "_screenshots"
    out.mkdir(exist_ok=True)
    page.screenshot(path=str(out / name), full_page=False)


def _by_id(page, element_id):
    return page.locator('[id="%s"]' % element_id)


def _selected_tab(page, label):
    return page.locator("button.sphinx-tabs-tab.group-tab", has_text=label).first


def test_tab_choice_changes_content_and_persists(page, site, built_html):
    page.goto(site + "/howto/uwsgi-http.html")
    glance_tab = _selected_tab(page, "glance CLI")
    curl_tab = _selected_tab(page, "curl")
    glance_panel = _by_id(page, glance_tab.get_attribute("aria-controls"))
    curl_panel = _by_id(page, curl_tab.get_attribute("aria-controls"))
    # Default: the first tab.
    assert glance_tab.get_attribute("aria-selected") == "true"
    assert glance_panel.is_visible() and not curl_panel.is_visible()
    assert "image-create" in glance_panel.inner_text()

    curl_tab.scroll_into_view_if_needed()
    curl_tab.click()
    assert curl_tab.get_attribute("aria-selected") == "true"
    assert curl_panel.is_visible() and not glance_panel.is_visible()
    assert "curl -s -X PUT" in curl_panel.inner_text()
    _shot(page, built_html, "uwsgi-http-curl-tab.png")

    # Another page: the same group shows curl, without a click.
    page.goto(site + "/howto/apache-proxy-http.html")
    other_curl = _selected_tab(page, "curl")
    other_panel = _by_id(page, other_curl.get_attribute("aria-controls"))
    assert other_curl.get_attribute("aria-selected") == "true"
    assert other_panel.is_visible()
    assert "http://localhost/image/v2/images" in other_panel.inner_text()
    other_curl.scroll_into_view_if_needed()
    _shot(page, built_html, "apache-proxy-http-curl-tab.png")


def test_search_finds_results(page, site, built_html):
    page.goto(site + "/search.html?q=chunked-input-limit")
    results = page.locator("#search-results ul.search li")
    results.first.wait_for(timeout=15000)
    assert results.count() >= 3
    titles = " ".join(results.all_inner_texts())
    assert "uWSGI" in titles
    _shot(page, built_html, "search.png")


def test_copy_button_on_code(page, site, built_html):
    page.goto(site + "/tutorial/first-image.html")
    page.locator("button.copybtn").first.wait_for(state="attached", timeout=10000)
    assert page.locator("button.copybtn").count() >= 5
    _shot(page, built_html, "tutorial.png")


def test_support_matrix_renders(page, site, built_html):
    page.goto(site + "/reference/support-matrix.html")
    body = page.locator("article").inner_text()
    # Either the table or the visible explanation of why it is missing.
    assert ("Scenario" in body) or ("Test results:" in body)
    _shot(page, built_html, "support-matrix.png")


def test_every_page_loads_without_errors(page, site, built_html):
    """Each page of the site, loaded in turn: the ``page`` fixture fails the
    test on any console error, uncaught exception, failed request or 4xx/5xx
    response."""
    pages = sorted(p.relative_to(built_html).as_posix() for p in built_html.rglob("*.html")
                   if "_screenshots" not in p.parts and "_sources" not in p.parts)
    assert len(pages) > 20, pages
    for name in pages:
        page.goto("%s/%s" % (site, name), wait_until="load")
        assert page.title(), name
    assert not page.errors, "\n".join(page.errors)
