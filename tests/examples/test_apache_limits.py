"""The size limit behind every Apache pattern is glancelet's image_size_cap.

The Apache examples turn Apache's own body limit off where it applies
(``LimitRequestBody 0`` for mod_proxy_uwsgi and mod_wsgi; mod_proxy_http does
not apply it), so glancelet's ``[DEFAULT] image_size_cap`` is the one limit.
Here the pattern's glancelet.conf gets a 4 MiB cap (the only edit) and a
5 MiB upload must come back as glancelet's own 413, through Apache, with
Content-Length and (where the pattern passes chunked bodies) chunked.
"""

import pytest

from lab import apache
from lab.client import MiB, Api, Source
from lab.patterns import get

PATTERNS = ["apache-proxy-http", "apache-proxy-uwsgi", "apache-tls", "apache-mod-wsgi"]
CAP_LINE = "image_size_cap = 1099511627776"


@pytest.mark.parametrize("name", PATTERNS)
def test_image_size_cap_is_the_limit(name, tmp_path, record):
    pattern = get(name)
    conf = [f for f in pattern.examples if f.endswith("/glancelet.conf")][0]
    variant = pattern.variant({conf: apache.replace_line(CAP_LINE,
                                                         "image_size_cap = %d" % (4 * MiB))})
    with variant.start(tmp_path) as dep:
        api = Api(dep.base_url, dep.ca_file)
        framings = ["content-length"]
        if pattern.expected_failure("upload-chunked-1mib") is None:
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
