"""benchmarks/: OpenStack Glance measured beside glancelet (which patterns,
which application answers, glancelet / Glance ratios, the printed report,
and what run.py provisions for it)."""

import copy
import json

from benchmarks import aggregate, measure, report, run
from glancelet.handlers.versions import VERSIONS
from lab import patterns


def _figures(upload, p50, idle, peak):
    """One run's figures (the shape measure.run_pattern returns)."""
    lat = {"p50_ms": p50, "p99_ms": p50 * 2, "req_s": 1000.0 / p50}
    return {"workers": 4, "idle_rss_mib": idle,
            "paired": {"hash_mib_s": 200.0, "disk_mib_s": 300.0,
                       "nginx_static_mib_s": 1000.0},
            "upload_cl": {"seconds": 1.0, "mib_s": upload, "peak_rss_mib": peak,
                          "rss_growth_mib": peak - idle, "rss_samples": 10},
            "upload_chunked": {"seconds": 1.0, "mib_s": upload / 2, "peak_rss_mib": peak * 2,
                               "rss_growth_mib": peak * 2 - idle, "rss_samples": 10},
            "download": {"seconds": 1.0, "mib_s": upload * 4, "peak_rss_mib": peak},
            "get_image_seq": dict(lat), "list_images_seq": dict(lat, p50_ms=p50 * 3)}


def _results(glancelet, glance, not_measured=None):
    """A results dict: uwsgi-http with Glance, gunicorn without, from per-run
    (upload, p50, idle, peak) figures."""
    results = {"baselines": {},
               "config": {"glance": {"version": "33.0.0",
                                     "not_measured": not_measured or {}}},
               "patterns": {name: aggregate.aggregate([_figures(*f) for f in glancelet])
                            for name in ("uwsgi-http", "gunicorn")},
               "glance": {"uwsgi-http": aggregate.aggregate([_figures(*f) for f in glance])}}
    aggregate.add_ratios(results)
    aggregate.add_glance_ratios(results)
    return results


def test_glancelet_against_glance_is_a_median_of_run_by_run_ratios_as_is():
    results = _results(glancelet=[(200.0, 0.5, 20.0, 30.0), (100.0, 0.5, 20.0, 30.0),
                                  (150.0, 1.0, 20.0, 40.0)],
                       glance=[(100.0, 10.0, 125.0, 150.0), (100.0, 5.0, 100.0, 150.0),
                               (50.0, 10.0, 125.0, 160.0)])
    ratios = results["patterns"]["uwsgi-http"]["vs_glance"]
    # Run by run 2, 1, 3 (the ratio of the medians would be 150/100).
    assert ratios["upload_cl/mib_s"]["runs"] == [2.0, 1.0, 3.0]
    assert ratios["upload_cl/mib_s"]["median"] == 2.0
    assert ratios["upload_chunked/mib_s"]["median"] == 2.0
    assert ratios["download/mib_s"]["median"] == 2.0
    # Latencies and memory as is: below 1, glancelet is the faster, the smaller.
    assert ratios["get_image_seq/p50_ms"]["runs"] == [0.05, 0.1, 0.1]
    assert ratios["get_image_seq/p99_ms"]["median"] == 0.1
    assert ratios["list_images_seq/p50_ms"]["median"] == 0.1
    assert ratios["list_images_seq/p99_ms"]["median"] == 0.1
    assert ratios["idle_rss_mib"]["runs"] == [0.16, 0.2, 0.16]
    assert ratios["upload_cl/peak_rss_mib"]["runs"] == [0.2, 0.2, 0.25]
    assert ratios["upload_chunked/peak_rss_mib"]["median"] == 0.2
    # Glance's own figures get their baseline ratios too (its upload: 100 / 200).
    assert results["glance"]["uwsgi-http"]["upload_cl"]["ratio_to_hash"]["median"] == 0.5
    assert "vs_glance" not in results["patterns"]["gunicorn"]


def test_report_prints_glance_ratios_its_figures_and_where_it_was_not_measured(capsys):
    results = _results(glancelet=[(200.0, 0.5, 20.0, 30.0)],
                       glance=[(100.0, 10.0, 125.0, 150.0)],
                       not_measured={"gunicorn": "no Glance files in its declaration"})
    report.print_glance(results)
    out = capsys.readouterr().out
    assert "glancelet / Glance 33.0.0 under the same server files" in out
    header = next(line for line in out.splitlines() if line.startswith("pattern"))
    row = next(line for line in out.splitlines() if line.startswith("uwsgi-http"))
    assert header.split()[1:4] == ["upload", "CL", "upload"]
    assert row.split()[1:] == ["2.00x", "2.00x", "2.00x", "0.05x", "0.05x", "0.05x", "0.05x",
                               "0.16x", "0.20x", "0.20x"]
    assert "Glance: not measured under gunicorn: no Glance files in its declaration" in out
    # The per-pattern table has a row of Glance's own figures under uwsgi-http.
    assert [name for name, _ in report._with_glance(results)] == [
        "uwsgi-http", "uwsgi-http [glance]", "gunicorn"]


def test_glance_runs_under_the_patterns_with_glance_files_and_never_in_smoke():
    with_glance = [p for p in patterns.all_patterns() if p.glance]
    assert patterns.get("uwsgi-http") in with_glance
    # Every registered pattern has Glance files now: one without, as a
    # pattern declared with no ``glance`` would be.
    bare = copy.copy(patterns.get("uwsgi-http"))
    bare.glance = None
    bare.name = "uwsgi-http-without-glance"
    without = [bare]
    full = run.parse_args([])
    assert full.glance
    assert measure.subjects(full, with_glance[0]) == ["glancelet", "null", "glance"]
    assert measure.subjects(full, without[0]) == ["glancelet", "null"]
    assert measure.glance_not_measured(full, with_glance + without[:1]) == {
        without[0].name: "no Glance files in its declaration (Pattern.glance)"}
    smoke = run.parse_args(["--smoke"])
    assert not smoke.glance
    assert measure.subjects(smoke, with_glance[0]) == ["glancelet", "null"]
    assert set(measure.glance_not_measured(smoke, with_glance).values()) == {
        "smoke run (Glance is not installed for it)"}
    off = run.parse_args(["--no-glance", "--no-null"])
    assert measure.subjects(off, with_glance[0]) == ["glancelet"]
    assert set(measure.glance_not_measured(off, with_glance).values()) == {"--no-glance"}
    chosen = run.parse_args(["--glance-patterns", "uwsgi-http"])
    others = [p for p in with_glance if p.name != "uwsgi-http"]
    assert measure.subjects(chosen, patterns.get("uwsgi-http"))[-1] == "glance"
    assert all("glance" not in measure.subjects(chosen, p) for p in others)
    assert measure.glance_not_measured(chosen, with_glance) == {
        p.name: "not selected for this run (--glance-patterns)" for p in others}


def test_which_application_answers_from_its_version_document():
    glancelet = {"versions": [{"id": vid, "status": status, "links": []}
                              for vid, status in VERSIONS]}
    assert measure.application(json.dumps(glancelet).encode()) == "glancelet"
    null = {"versions": [{"id": "v2.9", "status": "CURRENT", "links": []}],
            "null_service": True}
    assert measure.application(json.dumps(null).encode()) == "null"
    # Glance 33 lists versions glancelet does not serve (v2.9, v2.13, ...).
    glance = {"versions": [{"id": "v2.%d" % n, "status": "SUPPORTED", "links": []}
                           for n in (17, 16, 15, 13, 12, 9, 7, 6, 5, 4, 3, 2, 1, 0)]}
    assert measure.application(json.dumps(glance).encode()) == "glance"


def test_bench_installs_glance_where_a_selected_pattern_runs_it(monkeypatch):
    from lab import glance, provision
    calls = []
    monkeypatch.setattr(provision, "main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr(run, "ensure_nginx", lambda: calls.append("nginx"))
    monkeypatch.setattr(glance, "provision", lambda: calls.append("glance") or 0)
    monkeypatch.setattr(glance, "provision_mod_wsgi",
                        lambda: calls.append("glance-mod-wsgi") or 0)
    uwsgi, apache = patterns.get("uwsgi-http"), patterns.get("apache-mod-wsgi")
    assert apache.glance
    run.provision([uwsgi], glance=[uwsgi])
    assert calls == ["glance", "nginx"]
    calls.clear()
    run.provision([uwsgi, apache], glance=[uwsgi, apache])
    assert calls == ["glance", "glance-mod-wsgi", "nginx", []]
    calls.clear()
    # Glance under uwsgi-http only (--glance-patterns): no Glance mod_wsgi venv.
    run.provision([uwsgi, apache], glance=[uwsgi])
    assert calls == ["glance", "nginx", []]
    calls.clear()
    run.provision([uwsgi, apache], enabled=False, glance=[uwsgi, apache])
    assert calls == ["glance", "nginx"]
    calls.clear()
    run.provision([uwsgi])
    assert calls == ["nginx"]
