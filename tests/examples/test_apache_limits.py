"""The size limit behind every Apache pattern is glancelet's image_size_cap.

The Apache examples turn Apache's own body limit off where it applies
(``LimitRequestBody 0`` for mod_proxy_uwsgi and mod_wsgi; mod_proxy_http does
not apply it), so glancelet's ``[DEFAULT] image_size_cap`` is the one limit.

* ``test_image_size_cap_is_the_limit``: the pattern's glancelet.conf gets a
  4 MiB cap (the only edit) and a 5 MiB upload must come back as glancelet's
  own 413, through Apache, with Content-Length and (where the pattern passes
  chunked bodies) chunked.
* ``test_limit_request_body``: without ``LimitRequestBody 0`` Apache's 1 GiB
  default refuses an upload announcing more, before glancelet sees it.
* ``test_limit_request_body_cuts_a_chunked_upload``: under mod_wsgi a
  chunked upload is cut off with 413 once it passes the limit.
"""

import pytest

from lab import apache, harness
from lab.client import MiB, Api, Source
from lab.harness import LineEdit
from lab.patterns import get

PATTERNS = ["apache-proxy-http", "apache-proxy-uwsgi", "apache-tls", "apache-mod-wsgi"]
# The patterns whose Apache file has LimitRequestBody 0.
LIMIT_PATTERNS = ["apache-proxy-uwsgi", "apache-mod-wsgi"]
GIB = 1024 * MiB
CAP_LINE = r"^image_size_cap = 1099511627776$"


@pytest.mark.parametrize("name", PATTERNS)
def test_image_size_cap_is_the_limit(name, tmp_path, record):
    pattern = get(name)
    conf = [f for f in pattern.examples if f.endswith("/glancelet.conf")][0]
    variant = pattern.variant({conf: LineEdit(CAP_LINE, replace="image_size_cap = %d" % (4 * MiB))})
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        framings = ["content-length"]
        if dep.expected_failure("upload-chunked-1mib") is None:
            framings.append("chunked")
        for framing in framings:
            image = api.create_image(name="cap")
            source = Source(5 * MiB, seed=61)
            if framing == "chunked":
                resp = api.upload_chunked(image["id"], source, MiB)
            else:
                resp = api.upload_cl(image["id"], source)
            assert resp.status == 413, (framing, resp)
            error = resp.json()["error"]
            assert error["code"] == 413 and error["title"] == "Request Entity Too Large"
            assert "exceeds the limit of %d bytes (image_size_cap)" % (4 * MiB) \
                in error["message"], error
            assert api.get_image(image["id"])["status"] == "queued"
            assert list(dep.store_dir.iterdir()) == []
        # Exactly at the cap it is accepted.
        image = api.create_image(name="at-cap")
        assert api.upload_cl(image["id"], Source(4 * MiB, seed=62)).status == 204


@pytest.mark.parametrize("which", ["shipped", "without-LimitRequestBody-0"])
@pytest.mark.parametrize("name", LIMIT_PATTERNS)
def test_limit_request_body(name, which, tmp_path, record):
    """Without ``LimitRequestBody 0`` an upload announcing more than 1 GiB
    (Apache >= 2.4.54's default) gets 413 from Apache at once; exactly 1 GiB
    is passed on. As shipped Apache passes it on (the 2 GiB scenario proves
    the whole upload)."""
    pattern = get(name)
    if which != "shipped":
        line = r"^\s*LimitRequestBody 0$"
        pattern = pattern.variant({pattern.example_with(line): LineEdit(line, remove=True)})
    with pattern.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="limit")
        answer = api.put_announced(image["id"], GIB + 1)
        if which == "shipped":
            # Apache passed it on: glancelet is waiting for the rest of the body.
            assert answer is None, answer
            api.wait_status(image["id"], "queued", deadline=90)
            return
        assert answer is not None
        assert (answer.status, answer.reason) == (413, "Request Entity Too Large"), answer
        assert "<title>413 Request Entity Too Large</title>" in answer.text, answer
        assert "exceeds the capacity limit." in answer.text, answer
        record.symptom("apache-413-limitrequestbody", name, "%s (Content-Length: %d)\n%s" % (
            answer.status_line, GIB + 1, answer.text.strip()))
        # Exactly at the limit it is passed on.
        assert api.put_announced(image["id"], GIB) is None


def test_limit_request_body_cuts_a_chunked_upload(tmp_path):
    """mod_wsgi: a chunked upload has no length to check up front, so Apache
    passes it on and cuts it off once it passes ``LimitRequestBody`` (4 MiB
    here instead of the example's 0; the default is 1 GiB, see
    test_limit_request_body): the client gets Apache's 413, glancelet's read
    of the body fails, the image is queued again and nothing is stored."""
    pattern = get("apache-mod-wsgi")
    line = r"^\s*LimitRequestBody 0$"
    variant = pattern.variant({pattern.example_with(line): LineEdit(
        line, replace="LimitRequestBody %d" % (4 * MiB))})
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url)
        image = api.create_image(name="cut")
        resp = api.upload_chunked(image["id"], Source(8 * MiB, seed=63), MiB, timeout=60)
        assert (resp.status, resp.reason) == (413, "Request Entity Too Large"), resp
        assert "<title>413 Request Entity Too Large</title>" in resp.text, resp
        api.wait_status(image["id"], "queued", deadline=30)
        assert harness.settled_stray_files(dep.store_dir) == []
        assert "mod_wsgi request data read error" in dep.log_text(apache.APACHE_SERVER_NAME)
