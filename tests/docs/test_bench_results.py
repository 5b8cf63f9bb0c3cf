"""The performance page (doc/source/_ext/bench_results.py).

With results, it shows the machine, baselines, per-pattern numbers (or why
a framing is unsupported), targets and the plots; without, a warning box.
Neither case is a Sphinx warning. The multi-node table (front door against
one node directly) is on the performance page and, as the sizing table, on
the haproxy-multinode how-to; without its figures both say "Not measured yet".
glancelet / Glance ratios and Glance's own figures are shown where the run
measured Glance; where it did not, the page says "Glance not measured" and why.
"""

import json
import re
import struct
import zlib

from tests.docs.conftest import DOC_SOURCE, sphinx_build


def _png(path):
    def chunk(kind, data):
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))
    path.write_bytes(b"\x89PNG\r\n\x1a\n"
                     + chunk(b"IHDR", struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(b"\x00\xff\xff\xff"))
                     + chunk(b"IEND", b""))


def _summary(median):
    return {"median": median, "min": median - 1, "max": median + 1,
            "runs": [median - 1, median, median + 1]}


def test_bench_page_with_and_without_results(tmp_path):
    bench = tmp_path / "bench"
    bench.mkdir()
    _png(bench / "upload.png")
    (bench / "results.json").write_text(json.dumps({
        "machine": {"date": "2026-11-22T00:00:00Z", "nproc": 2, "memory_mib": 24000,
                    "cpu_model": "Test CPU", "os": "Debian 12",
                    "versions": {"uwsgi": "2.0.31"},
                    "loadavg_at_start": 1.0, "loadavg_at_end": 2.0},
        "config": {"runs": 3, "image_size": 1073741824,
                   "patterns": ["uwsgi-http", "apache-proxy-uwsgi", "haproxy-multinode"],
                   "glance": {"version": "33.0.0", "not_measured": {
                       "apache-proxy-uwsgi": "no Glance files in its declaration",
                       "haproxy-multinode": "no Glance files in its declaration"}}},
        "baselines": {"hash": {"seconds": 3, "mib_s": _summary(380)}},
        "patterns": {
            "uwsgi-http": {"upload_cl": {"mib_s": _summary(208)},
                           "upload_chunked": {"mib_s": _summary(146)},
                           "download": {"mib_s": _summary(1400)},
                           "vs_glance": {"upload_cl/mib_s": _summary(1.55),
                                         "get_image_seq/p50_ms": _summary(0.04),
                                         "idle_rss_mib": _summary(0.15)}},
            "apache-proxy-uwsgi": {"upload_cl": {"mib_s": _summary(200)},
                                   "unsupported": {"chunked": "HTTP 411 (proxy_uwsgi)"}},
            "haproxy-multinode": {
                "upload_cl": {"mib_s": _summary(171)},
                "get_image_seq": {"p50_ms": _summary(3.5)},
                "direct": {"upload_cl": {"mib_s": _summary(190)},
                           "get_image_seq": {"p50_ms": _summary(2.5)}},
                "front_vs_direct": {"upload_cl/mib_s": _summary(0.9),
                                    "get_image_seq/p50_ms": _summary(1.4)}},
        },
        "sources": {"digest": "0" * 64, "dirs": ["benchmarks", "examples", "glancelet"],
                    "commit": "abcdef0123456789"},
        "glance": {"uwsgi-http": {"upload_cl": {"mib_s": _summary(134)},
                                  "upload_chunked": {"mib_s": _summary(111)},
                                  "idle_rss_mib": _summary(124)}},
        "targets": [{"target": "upload", "description": "Upload vs hashing ceiling",
                     "pattern": "uwsgi-http", "value": 0.55, "threshold": 1.0,
                     "met": False},
                    {"target": "download_proxied", "description": "Download via proxy",
                     "pattern": "apache-proxy-uwsgi", "value": 0.2, "threshold": 0.6,
                     "met": False, "reason": "the server stack: measured here",
                     "why": "bench-stack-limit"}] + [
            {"target": "idle_rss", "description": "Idle RSS", "pattern": name,
             "value": 45.0, "threshold": 40.0, "met": False}
            for name in ("haproxy-multinode", "apache-proxy-uwsgi")],
    }))
    out = tmp_path / "html"
    proc = sphinx_build(out, "-D", "bench_results_dir=%s" % bench)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (out / "reference" / "performance.html").read_text()
    assert "Test CPU" in page
    assert "208 (207\u2013209)" in page and "146 (145\u2013147)" in page
    assert "not supported: HTTP 411 (proxy_uwsgi)" in page
    assert "Upload vs hashing ceiling" in page
    # A reason keyed "target:pattern" (conf.py) is that pattern's only.
    reasons = re.findall(r"<td><p>no: ([^<(]*)", page[page.index(">Targets<"):])
    assert [r.strip() for r in reasons[1:]] == [
        "the server stack: measured here",
        "a worker on a database server also holds SQLAlchemy and its driver, about 26 MiB",
        "no reason known"], reasons
    # A measured reason links to the section that explains its kind.
    assert re.search(r'no: the server stack: measured here \(<a class="reference internal" '
                     r'href="#bench-stack-limit"', page), page[page.index(">Targets<"):][:3000]
    # The run's sources are not this tree's: the page says the results are stale.
    assert "Stale: this run measured the sources with digest 000000000000 of benchmarks/, " \
        "examples/, glancelet/ (commit abcdef012345)" in page
    glance = page[page.index(">Against OpenStack Glance (same server files)<"):]
    glance = glance[:glance.index(">Through the load balancer against one node<")]
    assert "glancelet\u2019s figure divided by Glance 33.0.0\u2019s" in glance
    row = glance[glance.index("uwsgi-http</span></code></p></td>"):]
    assert re.findall(r"<td><p>([^<]*)</p></td>", row)[:4] == [
        "1.55 (0.55\u20132.55)", "\u2013", "\u2013", "0.04 (-0.96\u20131.04)"]
    # Glance's own figures under uwsgi-http, and why not under the others.
    assert "134 (133\u2013135)" in glance and "124.0 (123.0\u2013125.0)" in glance
    assert ("Glance not measured: </strong>under apache-proxy-uwsgi: no Glance files in its "
            "declaration; under haproxy-multinode: no Glance files in its declaration") in glance
    assert (out / "_images" / "upload.png").is_file()
    assert "download.png" not in page   # absent plots are left out, not broken
    for html in (page, (out / "howto" / "haproxy-multinode.html").read_text()):
        assert "Front door / direct" in html and "Not measured yet" not in html
        row = html[html.index("Upload, Content-Length (MiB/s)</p></td>"):]
        assert re.findall(r"<td><p>([^<]*)</p></td>", row)[:3] == [
            "190 (189\u2013191)", "171 (170\u2013172)", "0.90 (-0.10\u20131.90)"]

    out2 = tmp_path / "html2"
    proc = sphinx_build(out2, "-D", "bench_results_dir=%s" % (tmp_path / "nothing"))
    assert proc.returncode == 0, proc.stdout + proc.stderr
    page = (out2 / "reference" / "performance.html").read_text()
    assert "No benchmark results" in page


def test_multinode_figures_or_not_measured_yet(built_html):
    """The committed results.json decides: the multi-node table, or a
    visible "Not measured yet" (never a Sphinx warning, never an empty page)."""
    data = json.loads((DOC_SOURCE / "_data" / "bench" / "results.json").read_text())
    measured = any(p.get("front_vs_direct") for p in data["patterns"].values())
    for page in ("reference/performance.html", "howto/haproxy-multinode.html"):
        html = (built_html / page).read_text(encoding="utf-8")
        assert ("Front door / direct" in html) == measured, page
        assert ("Not measured yet" in html) != measured, page


def test_glance_figures_or_glance_not_measured(built_html):
    """The committed results.json decides: glancelet / Glance ratios, or a
    visible "Glance not measured" (never a crash, never an empty section)."""
    data = json.loads((DOC_SOURCE / "_data" / "bench" / "results.json").read_text())
    measured = any(p.get("vs_glance") for p in data["patterns"].values())
    html = (built_html / "reference" / "performance.html").read_text(encoding="utf-8")
    assert "Against OpenStack Glance (same server files)" in html
    assert ("glancelet\u2019s figure divided by Glance" in html) == measured
    if not data.get("glance"):
        assert "Glance not measured: </strong>these results have no Glance figures" in html


def test_every_missed_target_says_why(built_html):
    """The targets table never reads a bare "no": each miss gives its reason
    (measured by the run, benchmarks/reasons.py, or bench_miss_reasons in
    conf.py), linked to the section of the page that explains it."""
    page = (built_html / "reference" / "performance.html").read_text(encoding="utf-8")
    table = page[page.index(">Targets<"):]
    table = table[:table.index("</table>")]
    cells = re.findall(r"<td><p>(no\b.*?)</p></td>", table, re.S)
    assert cells, "no missed target in the committed run"
    for cell in cells:
        assert cell.startswith("no: ") and re.search(r'href="#bench-[a-z-]+"', cell), cell


def test_growth_figures_as_numbers_or_not_measured(built_html):
    """The committed results.json decides: the concurrency and growth figures
    as tables (a row per deployment and client count, and per image count),
    or a visible "Not measured"."""
    data = json.loads((DOC_SOURCE / "_data" / "bench" / "results.json").read_text())
    html = (built_html / "reference" / "performance.html").read_text(encoding="utf-8")
    section = html[html.index(">How cost grows<"):html.index(">Download offload<")]
    growth = data.get("growth") or {}
    assert ("Not measured: " in section) == (not growth)
    for name, g in growth.items():
        label = "%s (%s)" % (name, g["backend"]) if g.get("backend") else name
        rows = re.findall(r"<tr[^>]*><td><p>%s</p></td>" % re.escape(label), section)
        assert len(rows) == len(g["clients"]) + len(g["images"]), name
        for count in g["images"]:
            assert "<td><p>{:,}</p></td>".format(int(count)) in section, (name, count)


def test_memory_under_clients_as_numbers_or_not_measured(built_html):
    """The committed results.json decides: the workers' memory under 1, 8 and
    32 clients as a table (a row per pattern and client count, growth and
    after as the run measured them), or a visible "Not measured"."""
    data = json.loads((DOC_SOURCE / "_data" / "bench" / "results.json").read_text())
    html = (built_html / "reference" / "performance.html").read_text(encoding="utf-8")
    section = html[html.index(">Worker memory under concurrent clients<"):
                   html.index(">How cost grows<")]
    memory = data.get("memory") or {}
    assert ("Not measured: " in section) == (not memory)
    for name, m in memory.items():
        rows = re.findall(r"<tr[^>]*><td><p>%s</p></td>(.*?)</tr>" % re.escape(name),
                          section, re.S)
        assert len(rows) == len(m["levels"]), name
        for row, (n, level) in zip(rows, sorted(m["levels"].items(), key=lambda i: int(i[0]))):
            cells = re.findall(r"<td><p>(.*?)</p></td>", row)
            assert cells[0] == n and cells[4] == "%.1f" % level["growth_mib"], (name, cells)
            assert cells[5] == "%.1f" % level["after_rss_mib"], (name, cells)


def test_offload_figures_or_not_measured(built_html):
    """The committed results.json decides: the download offload table (nginx
    static, each front with and without the offload), or "Not measured"."""
    data = json.loads((DOC_SOURCE / "_data" / "bench" / "results.json").read_text())
    html = (built_html / "reference" / "performance.html").read_text(encoding="utf-8")
    section = html[html.index(">Download offload<"):html.index(">Targets<")]
    offload = data.get("offload") or {}
    assert ("Not measured: " in section) == (not offload.get("runs"))
    for name in offload.get("runs", {}):
        assert "<td><p>%s</p></td>" % name in section, name
