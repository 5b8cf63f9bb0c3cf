"""benchmarks/: a multi-node pattern through its front door and at one node
directly (aggregate, report), its null service, and what run.py provisions."""

from benchmarks import aggregate, nullservice, report, run
from lab import patterns


def _figures(upload, p50):
    """One run's figures at one URL (the shape measure.run_pattern returns)."""
    lat = {"p50_ms": p50, "p99_ms": p50 * 3, "req_s": 1000.0 / p50}
    return {"workers": 4, "idle_rss_mib": 40.0,
            "paired": {"hash_mib_s": 200.0, "disk_mib_s": 300.0,
                       "nginx_static_mib_s": 1000.0},
            "upload_cl": {"seconds": 1.0, "mib_s": upload, "peak_rss_mib": 50.0,
                          "rss_growth_mib": 5.0, "rss_samples": 10},
            "download": {"seconds": 1.0, "mib_s": upload * 4, "peak_rss_mib": 45.0},
            "get_image_seq": dict(lat), "get_image_8t": dict(lat)}


def _results(front, direct):
    """results["patterns"] of one pattern from per-run (upload, p50) pairs."""
    runs = [dict(_figures(*f), direct=_figures(*d)) for f, d in zip(front, direct)]
    results = {"baselines": {}, "patterns": {"haproxy-multinode": aggregate.aggregate(runs),
                                             "uwsgi-http": aggregate.aggregate(
                                                 [_figures(*f) for f in front])}}
    aggregate.add_ratios(results)
    aggregate.add_direct_ratios(results)
    return results


def test_front_door_against_direct_is_a_median_of_run_by_run_ratios():
    results = _results(front=[(50.0, 4.0), (90.0, 4.0), (60.0, 4.0)],
                       direct=[(100.0, 2.0), (90.0, 2.0), (60.0, 2.0)])
    res = results["patterns"]["haproxy-multinode"]
    assert res["direct"]["upload_cl"]["mib_s"]["median"] == 90.0
    ratios = res["front_vs_direct"]
    # Run by run 0.5, 1.0, 1.0 (the ratio of the medians would be 60/90).
    assert ratios["upload_cl/mib_s"]["runs"] == [0.5, 1.0, 1.0]
    assert ratios["upload_cl/mib_s"]["median"] == 1.0
    assert ratios["download/mib_s"]["median"] == 1.0
    # Latencies as is: above 1 is slower through the front door.
    assert ratios["get_image_seq/p50_ms"]["median"] == 2.0
    assert ratios["get_image_8t/req_s"]["median"] == 0.5
    # The direct figures get their baseline ratios too.
    assert res["direct"]["upload_cl"]["ratio_to_hash"]["median"] == 0.45
    assert "front_vs_direct" not in results["patterns"]["uwsgi-http"]


def test_report_prints_front_door_direct_and_ratio(capsys):
    results = _results(front=[(50.0, 4.0)], direct=[(100.0, 2.0)])
    report.print_direct(results)
    out = capsys.readouterr().out
    assert "haproxy-multinode: through the front door against its first node directly" in out
    rows = {line.split()[0] + " " + line.split()[1]: line.split()[2:]
            for line in out.splitlines() if line.startswith(("upload CL", "GET p50"))}
    assert rows == {"upload CL": ["50.00", "100.00", "0.50x"],
                    "GET p50": ["4.00", "2.00", "2.00x"]}
    assert "uwsgi-http" not in out


def test_null_service_under_a_database_server_keeps_sqlite_in_the_shared_store(
        tmp_path, monkeypatch):
    """multinode.conf (a drop-in) names PostgreSQL: the null service's
    records go into the store that every node shares."""
    conf = tmp_path / "glancelet.conf"
    conf.write_text("[database]\nconnection = sqlite:////var/lib/glancelet/g.sqlite\n"
                    "[glance_store]\nfilesystem_store_datadir = /var/lib/glancelet/images\n")
    monkeypatch.setattr(nullservice, "CONFIG", str(conf))
    assert nullservice._settings() == ("/var/lib/glancelet/g.sqlite",
                                       "/var/lib/glancelet/images")
    (tmp_path / "glancelet.conf.d").mkdir()
    (tmp_path / "glancelet.conf.d" / "multinode.conf").write_text(
        "[database]\nconnection = postgresql+psycopg://u:p@127.0.0.1:5432/glancelet\n"
        "[glance_store]\nfilesystem_store_datadir = /srv/glancelet/images\n")
    assert nullservice._settings() == ("/srv/glancelet/images/null-service.sqlite",
                                       "/srv/glancelet/images")


def test_bench_provisions_haproxy_and_postgresql_for_the_patterns_that_run_them(monkeypatch):
    from lab import provision
    calls = []
    monkeypatch.setattr(provision, "main", lambda argv: calls.append(argv) or 0)
    monkeypatch.setattr(run, "ensure_nginx", lambda: calls.append("nginx"))
    run.provision([patterns.get("haproxy-multinode"), patterns.get("uwsgi-http")])
    assert calls == [["--profile", "bench"]]
    calls.clear()
    run.provision([patterns.get("uwsgi-http")])
    assert calls == ["nginx"]
