"""lab/tempest.py: the tempest.conf it writes and how it counts results."""

import configparser
import signal
import subprocess
import sys
import time

from lab import tempest
from lab.harness import process_alive


class Text:
    """A subunit detail (testtools content) with its text."""

    def __init__(self, text):
        self.text = text

    def as_text(self):
        return self.text


BASIC = "tempest.api.image.v2.test_images.BasicOperationsImagesTest"
STORES = "tempest.api.image.v2.admin.test_images.MultiStoresImagesTest"
METADEFS = "tempest.api.image.v2.admin.test_images_metadefs_namespaces.MetadataNamespacesTest"
RBAC = ("glance_tempest_plugin.tests.rbac.v2.test_project_reader_tests."
        "ImagesProjectReaderTests")


def test_conf_has_every_feature_flag_with_its_value():
    text = tempest.tempest_conf("http://127.0.0.1:1/v3", "http://127.0.0.1:2/x")
    conf = configparser.ConfigParser(interpolation=None)
    conf.read_string(text)
    for section, option, value, why in tempest.FEATURES:
        assert conf[section][option] == value.format(mirror="http://127.0.0.1:2/x"), option
        assert why
    assert conf["identity"]["uri_v3"] == "http://127.0.0.1:1/v3"
    assert conf["auth"]["use_dynamic_credentials"] == "true"


def test_class_of_test_and_fixture_ids():
    assert tempest.class_of(BASIC + ".test_delete_image[id-1,smoke]") == BASIC
    assert tempest.class_of("setUpClass (%s)" % STORES) == STORES


def test_metadefs_are_excluded_and_others_are_not():
    assert tempest.exclusion(METADEFS + ".test_basic_metadata_definition_namespaces[id-1]")
    assert tempest.exclusion(
        "tempest.api.image.v2.test_images_metadefs_schema.MetadataSchemaTest.test_x[id-2]")
    assert tempest.exclusion(BASIC + ".test_delete_image[id-1]") is None
    assert tempest.exclusion(RBAC + ".test_create_image") is None


def test_summarize_counts_per_class():
    listed = [BASIC + ".test_a[id-1]", BASIC + ".test_b[id-2]", BASIC + ".test_c[id-3]",
              STORES + ".test_x[id-4]", STORES + ".test_y[id-5]",
              METADEFS + ".test_m[id-6]", RBAC + ".test_create_image"]
    ran = [
        (BASIC + ".test_a[id-1]", "success", {}),
        (BASIC + ".test_b[id-2]", "fail",
         {"traceback": Text("Traceback\n  File x\n    call()\nNotFound: 404\n")}),
        (BASIC + ".test_c[id-3]", "skip", {"reason": Text("no locations")}),
        ("setUpClass (%s)" % STORES, "skip", {"reason": Text("one store only")}),
        ("setUpClass (%s)" % RBAC, "fail", {"traceback": Text("Forbidden: 403")}),
    ]
    rows = {row["class"]: row for row in tempest.summarize(listed, ran)}
    basic = rows[BASIC]
    assert (basic["tests"], basic["pass"], basic["fail"], basic["skip"]) == (3, 1, 1, 1)
    assert basic["reasons"] == ["no locations"]
    assert basic["failures"] == [{"test": "test_b",
                                  "message": "  File x\n    call()\nNotFound: 404"}]
    assert (rows[STORES]["skip"], rows[STORES]["reasons"]) == (2, ["one store only"])
    assert (rows[METADEFS]["excluded"], rows[METADEFS]["pass"]) == (1, 0)
    assert rows[RBAC]["fail"] == 1 and rows[RBAC]["failures"][0]["test"] == "setUpClass"
    assert rows[RBAC]["suite"] == "glance-tempest-plugin"
    totals = tempest.totals(rows.values())
    assert totals["tempest"] == {"tests": 6, "pass": 1, "fail": 1, "skip": 3, "excluded": 1}


def test_a_stopped_run_counts_the_tests_it_did_not_reach_as_not_run():
    listed = [BASIC + ".test_a[id-1]", BASIC + ".test_b[id-2]", RBAC + ".test_create_image"]
    # A --subunit stream first says each test "exists"; a stopped run leaves
    # its current test "inprogress".
    ran = [(test_id, "exists", {}) for test_id in listed] + [
        (BASIC + ".test_a[id-1]", "success", {}), (BASIC + ".test_b[id-2]", "inprogress", {})]
    rows = {row["class"]: row for row in tempest.summarize(listed, ran, finished=False)}
    assert (rows[BASIC]["pass"], rows[BASIC]["excluded"]) == (1, 1)
    assert rows[RBAC]["excluded"] == 1 and rows[RBAC]["reasons"] == [tempest.UNREACHED]
    finished = {row["class"]: row for row in tempest.summarize(listed, ran)}
    assert (finished[RBAC]["excluded"], finished[RBAC]["fail"]) == (0, 1)


def test_results_path_per_pattern():
    assert tempest.results_path("uwsgi-http") == tempest.RESULTS_PATH
    assert tempest.results_path("apache-proxy-http").name == \
        "tempest-results-apache-proxy-http.json"


# A main() whose deployment gets SIGTERM while it starts; its stop() leaves a mark.
SIGTERMED_MAIN = r"""
import os, signal, sys, time
from pathlib import Path
from lab import tempest

mark = Path(sys.argv[1])


class Deployment:
    def __init__(self, ws, pattern):
        pass

    def start(self):
        os.kill(os.getpid(), signal.SIGTERM)
        time.sleep(30)

    def stop(self):
        mark.write_text("stopped")
        return []


class Workspace:
    def __init__(self, workdir):
        pass


tempest.Deployment, tempest.Workspace = Deployment, Workspace
tempest.tempfile.mkdtemp = lambda **kw: str(mark.parent)
tempest.main([])
"""


def test_sigterm_stops_the_servers_main_started(tmp_path):
    mark = tmp_path / "stopped"
    proc = subprocess.run([sys.executable, "-c", SIGTERMED_MAIN, str(mark)],
                          cwd=tempest.REPO_ROOT, capture_output=True, text=True, timeout=60)
    assert proc.returncode == 128 + signal.SIGTERM, proc.stderr
    assert mark.read_text() == "stopped"


def test_stop_group_stops_tempest_and_its_workers():
    # A leader that ignores SIGINT (as a stuck run may), and a child of its group.
    proc = subprocess.Popen(
        ["sh", "-c", "trap '' INT; sleep 60 & echo $!; wait"], stdout=subprocess.PIPE,
        text=True, start_new_session=True)
    child = int(proc.stdout.readline())
    started = time.monotonic()
    tempest.stop_group(proc, grace=1)
    assert proc.returncode == -signal.SIGKILL
    assert time.monotonic() - started < 20
    deadline = time.monotonic() + 10
    while process_alive(child) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert not process_alive(child)
