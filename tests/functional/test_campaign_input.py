"""The attack campaign, kept: hostile input on every route, in process.

Every path and method of glancelet's route table (``glancelet.app.ROUTES``,
read at import, so a new route is covered without editing this file) gets
hostile bodies, query strings, identity headers, content types and
JSON-patch documents. Whatever the input, glancelet must answer without a
5xx, and every 4xx must carry Glance's JSON error body (:mod:`glancelet.errors`).
Requests under ``/v2`` with an invalid identity must get 401.

Reproducibility: the hypothesis settings use ``derandomize=True`` (and no
example database). The examples are then a function of this file alone, so
CI runs the same requests every time and a failure seen once is seen again;
a saved-examples database would make a run depend on the runs before it on
that machine. Each example is bounded (``max_examples``, ``deadline``) so the
file runs in well under a minute on 2 cores.

Explicit ``@example`` cases pin every in-process input of issue 10's
finding 6 (server-level framing cases are in ``test_malformed_framing``).
"""

import hashlib
import json
import urllib.parse

import pytest
from hypothesis import HealthCheck, Phase, example, given, settings
from hypothesis import strategies as st

from glancelet import app as app_mod

from .conftest import CampaignClient, Client, make_conf
from .test_import import Node

# Every (path template, method) the app serves; HEAD where GET is, as the router adds it.
ROUTE_METHODS = sorted(
    (template, method)
    for template, methods in app_mod.ROUTES.items()
    for method in set(methods) | ({"HEAD"} if "GET" in methods else set()))

# No shrinking: a failing run stays bounded in time; the failing example is
# printed as drawn (and, with derandomize, is drawn again on the next run).
CAMPAIGN = settings(max_examples=40, deadline=2000, derandomize=True, database=None,
                    phases=[Phase.explicit, Phase.generate],
                    suppress_health_check=[HealthCheck.function_scoped_fixture,
                                           HealthCheck.too_slow])

PATCH_TYPE = "application/openstack-images-v2.1-json-patch"
DEEP = 5000  # finding 6: nesting this deep raised RecursionError
HUGE = 2 ** 63  # finding 6: SQLite integers overflow here
IDENTITY = ("X-Identity-Status", "X-Project-Id", "X-Tenant-Id", "X-Roles", "X-User-Id")


# -- The images the requests aim at ---------------------------------------------------

@pytest.fixture
def seeded(tmp_path):
    """An app with an image in every interesting state, and ids that lead nowhere
    (per test, so one route's examples cannot change another's starting point)."""
    app = app_mod.create_app(make_conf(tmp_path))
    admin = Client(app)
    formats = {"disk_format": "raw", "container_format": "bare"}
    ids = {}
    ids["queued"] = admin.create(**formats)["id"]
    ids["active"] = admin.create(visibility="public", owner="p1", **formats)["id"]
    assert admin.upload(ids["active"], b"campaign data").status == 204
    ids["private"] = admin.create(owner="p1", **formats)["id"]
    ids["staged"] = admin.create(**formats)["id"]
    assert admin.request("PUT", "/v2/images/%s/stage" % ids["staged"], b"staged",
                         headers={"Content-Type": "application/octet-stream"}).status == 204
    ids["deleted"] = admin.create()["id"]
    assert admin.delete("/v2/images/%s" % ids["deleted"]).status == 204
    app.seeded_ids = ids
    yield app
    app.task_pool.drain(10)


@pytest.fixture
def api(seeded, campaign):
    return CampaignClient(seeded, campaign)


# -- Strategies -----------------------------------------------------------------------

KNOWN_NAMES = ("name", "id", "visibility", "min_ram", "min_disk", "tags", "protected",
               "os_hidden", "disk_format", "container_format", "owner", "status",
               "checksum", "size", "deleted", "deleted_at", "location", "stores",
               "os_glance_import_task", "method", "uri", "all_stores", "a\x00b", "~0~1")
hostile_text = st.one_of(
    st.text(max_size=20),
    st.text(st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF), min_size=1,
            max_size=3),  # lone surrogates
    st.sampled_from(["", " ", "\x00", "a\x00b", "x" * 256, "x" * 70000, "in:a,b",
                     "public", "raw", "bare", "web-download", "glance-direct",
                     "http://127.0.0.1/", "http://[::127.0.0.1]/"]))
huge_ints = st.one_of(st.integers(), st.integers(min_value=HUGE - 2, max_value=2 ** 80),
                      st.integers(max_value=-HUGE + 2, min_value=-2 ** 80))
json_leaf = st.one_of(st.none(), st.booleans(), huge_ints, st.floats(), hostile_text)
json_values = st.recursive(
    json_leaf,
    lambda inner: st.one_of(st.lists(inner, max_size=4),
                            st.dictionaries(st.one_of(st.sampled_from(KNOWN_NAMES),
                                                      hostile_text), inner, max_size=4)),
    max_leaves=12)
image_bodies = st.dictionaries(st.sampled_from(KNOWN_NAMES), json_values, max_size=4)
patch_ops = st.lists(st.fixed_dictionaries(
    {"op": st.sampled_from(["add", "replace", "remove", "move", "copy", "test", "", 7]),
     "path": st.one_of(st.sampled_from(["/" + n for n in KNOWN_NAMES] + [
         "/~0", "/~1", "/~2", "/a~", "/~", "", "/", "name", "/a/b", "/os_glance_x"]),
         json_values)},
    optional={"value": json_values, "from": st.sampled_from(["/name", "/~3", 1])}),
    max_size=4)
deep_json = st.integers(DEEP, 4 * DEEP).flatmap(lambda n: st.sampled_from([
    b"[" * n + b"]" * n,
    b'{"name": ' + b'{"a": ' * n + b"1" + b"}" * n + b"}"]))
bodies = st.one_of(
    image_bodies.map(json.dumps).map(str.encode),
    patch_ops.map(json.dumps).map(str.encode),
    json_values.map(json.dumps).map(str.encode),
    deep_json,
    st.binary(max_size=64),
    st.sampled_from([b"", b"{", b'{"name": "\\ud800"}', b"\xed\xa0\x80", b"\x00",
                     b'{"method": {"name": "web-download", "uri": "http://[::1]/"}}']))
content_types = st.sampled_from([
    None, "application/json", PATCH_TYPE, "application/openstack-images-v2.0-json-patch",
    "application/octet-stream", "text/plain", "", "application/json; charset=utf-16",
    "application/json\x00", "multipart/form-data; boundary=x"])
query_names = st.one_of(st.sampled_from([
    "limit", "marker", "sort", "sort_key", "sort_dir", "size_min", "size_max", "min_ram",
    "min_disk", "visibility", "os_hidden", "protected", "tag", "name", "status", "id",
    "member_status", "a\x00b", "\x00", "$.x", 'a"b', "a\\b"]), hostile_text)
query_values = st.one_of(
    hostile_text, huge_ints.map(str),
    st.sampled_from(["9223372036854775808", "-1", "1e3", "asc", "desc", "name:asc",
                     "in:", "true", "all", "community"]))
queries = st.lists(st.tuples(query_names, query_values), max_size=5).map(
    lambda pairs: "&".join("%s=%s" % (urllib.parse.quote(k.encode("utf-8", "surrogatepass")),
                                      urllib.parse.quote(v.encode("utf-8", "surrogatepass")))
                           for k, v in pairs))
header_values = st.one_of(
    st.none(),
    st.sampled_from(["", " ", "%20", "%00", "admin", "member", "admin%2Cmember", " , ",
                     "p1", "p2", "Confirmed", "Invalid", "x" * 300]),
    st.text(st.characters(max_codepoint=255, exclude_characters="\r\n"), max_size=10))
headers = st.fixed_dictionaries({}, optional={
    **{name: header_values for name in IDENTITY},
    "X-Forwarded-Host": header_values, "Range": header_values,
    "x-openstack-image-size": st.one_of(header_values, huge_ints.map(str)),
    "Content-Length": st.sampled_from(["-1", "abc", "99999999999999999999999", "1"]),
}).map(lambda h: {k: v for k, v in h.items() if v is not None})


def route_args(ids):
    """Values for a ``{name}`` path segment: the seeded ids, and ids that are not."""
    return st.one_of(st.sampled_from(sorted(ids.values())), st.sampled_from([
        ids["active"].upper(), "00000000-0000-0000-0000-000000000000", "not-a-uuid",
        "%00", "\x00", "x" * 300, "..", "%2F", "\ud800", "é"]), hostile_text.filter(
            lambda s: s and "/" not in s and "?" not in s))


# -- Checking an answer ---------------------------------------------------------------

def identity_is_invalid(headers):
    """Issue 10 finding 3: who must get 401 (Glance's context middleware).

    Only ``X-Identity-Status: Confirmed`` or no identity headers at all may
    pass; a confirmed identity whose project is present but blank does not."""
    if not any(h in headers for h in IDENTITY):
        return False
    if headers.get("X-Identity-Status") != "Confirmed":
        return True
    projects = [urllib.parse.unquote(headers[h]).strip()
                for h in ("X-Project-Id", "X-Tenant-Id") if h in headers]
    return bool(projects) and not any(projects)


def check(resp, path, headers=None):
    """Never a 5xx; every 4xx in Glance's JSON shape; 401 for invalid identity on /v2."""
    assert resp.status < 500, (resp.status, resp.body[:500])
    if resp.status >= 400:
        message = resp.error  # content type, {"error": {...}} and code == status
        assert isinstance(message, str) and message
        assert isinstance(resp.json()["error"]["title"], str)
    if headers and identity_is_invalid(headers) and path.startswith("/v2/"):
        assert resp.status == 401, (headers, resp.status, resp.body[:300])


def send(api, method, path, body=b"", query="", headers=None, content_type=None):
    """Send as a WSGI server would: PATH_INFO as latin-1 of the UTF-8 bytes."""
    headers = dict(headers or {})
    if content_type is not None:
        headers["Content-Type"] = content_type
    path_info = path.encode("utf-8", "surrogatepass").decode("latin-1")
    resp = api.request(method, path, body, headers=headers,
                       environ={"PATH_INFO": path_info, "QUERY_STRING": query})
    check(resp, path, headers)
    return resp


def fill(template, ids, data):
    segments = []
    for segment in template.split("/"):
        if segment.startswith("{"):
            segment = data.draw(route_args(ids), label=segment)
        segments.append(segment)
    return "/".join(segments)


# -- The properties ---------------------------------------------------------------------

@pytest.mark.parametrize("template,method", ROUTE_METHODS,
                         ids=["%s %s" % rm for rm in ROUTE_METHODS])
@CAMPAIGN
@given(data=st.data())
def test_every_route_survives_hostile_requests(api, seeded, template, method, data):
    """Any body, query, headers and content type: no 5xx, Glance JSON errors."""
    path = fill(template, seeded.seeded_ids, data)
    send(api, method, path, data.draw(bodies, label="body"),
         data.draw(queries, label="query"), data.draw(headers, label="headers"),
         data.draw(content_types, label="content type"))


JSON_ROUTES = [("POST", "/v2/images", "application/json"),
               ("PATCH", "/v2/images/{queued}", PATCH_TYPE),
               ("POST", "/v2/images/{queued}/import", "application/json")]


@CAMPAIGN
@given(route=st.sampled_from(JSON_ROUTES),
       body=st.one_of(bodies, image_bodies.map(json.dumps).map(str.encode)))
@example(route=JSON_ROUTES[0], body=b'{"min_ram": %d}' % HUGE)
@example(route=JSON_ROUTES[0], body=b'{"min_disk": %d}' % (2 ** 64))
@example(route=JSON_ROUTES[1],
         body=b'[{"op": "replace", "path": "/min_ram", "value": %d}]' % HUGE)
@example(route=JSON_ROUTES[1],
         body=b'[{"op": "add", "path": "/min_disk", "value": %d}]' % HUGE)
@example(route=JSON_ROUTES[0], body=b"[" * DEEP + b"]" * DEEP)
@example(route=JSON_ROUTES[1], body=b"[" * DEEP + b"]" * DEEP)
@example(route=JSON_ROUTES[2], body=b'{"method": ' + b"[" * DEEP + b"]" * DEEP + b"}")
@example(route=JSON_ROUTES[0], body=b'{"name": "\\ud800"}')
@example(route=JSON_ROUTES[1],
         body=b'[{"op": "replace", "path": "/name", "value": "\\ud800"}]')
@example(route=JSON_ROUTES[1], body=b'[{"op": "add", "path": "/x\\udfff", "value": "v"}]')
def test_hostile_json_bodies(api, seeded, route, body):
    """Finding 6: huge ints, deep nesting and lone surrogates are 400, not 500."""
    method, template, content_type = route
    path = template.replace("{queued}", seeded.seeded_ids["queued"])
    send(api, method, path, body, content_type=content_type)


@CAMPAIGN
@given(query=queries)
@example(query="size_min=%d" % HUGE)
@example(query="size_max=%d" % HUGE)
@example(query="min_ram=%d" % HUGE)
@example(query="a%00b=x")
@example(query="limit=%d" % HUGE)
@example(query="marker=%00&marker=x&limit=1&limit=2")
def test_hostile_queries(api, query):
    """Finding 6: huge numbers and NUL in filter names are 400, not 500."""
    send(api, "GET", "/v2/images", query=query)


@CAMPAIGN
@given(ops=patch_ops)
@example(ops=[{"op": "add", "path": "/a~2b", "value": "x"}])
@example(ops=[{"op": "add", "path": "/a~", "value": "x"}])
@example(ops=[{"op": "add", "path": "/deleted", "value": "x"}])
@example(ops=[{"op": "add", "path": "/location", "value": "x"}])
@example(ops=[{"op": "replace", "path": "/os_glance_missing", "value": "x"}])
def test_hostile_json_patch_documents(api, seeded, ops):
    """Any JSON-patch document: no 5xx, Glance JSON errors."""
    send(api, "PATCH", "/v2/images/%s" % seeded.seeded_ids["queued"],
         json.dumps(ops).encode(), content_type=PATCH_TYPE)


# -- What glancelet refuses (issue 10 findings 2, 3, 4, 10; cited by the security page) --

CONFIRMED = {"X-Identity-Status": "Confirmed"}
MEMBER = dict(CONFIRMED, **{"X-Project-Id": "p1", "X-Roles": "member,reader"})
INVALID_IDENTITIES = [
    {"X-Identity-Status": "Invalid"},
    {"X-Identity-Status": "Invalid", "X-Project-Id": "p1", "X-Roles": "admin"},
    {"X-Project-Id": "p1", "X-Roles": "admin"},  # not confirmed
    {"X-Project-Id": "", "X-Roles": ""},
    {"X-Project-Id": " "},
    dict(CONFIRMED, **{"X-Project-Id": " ", "X-Roles": "admin"}),
    dict(CONFIRMED, **{"X-Tenant-Id": "", "X-Roles": "admin"}),
]


@pytest.mark.parametrize("identity", INVALID_IDENTITIES,
                         ids=[repr(i) for i in INVALID_IDENTITIES])
def test_invalid_identity_is_refused_on_every_route(api, seeded, identity):
    """Finding 3: an invalid or blank identity is 401 on every /v2 route, never
    admin; a confirmed one, and none at all (the no-auth mode), still pass."""
    ids = seeded.seeded_ids
    for template, method in ROUTE_METHODS:
        if not template.startswith("/v2/"):
            continue
        path = template.replace("{image_id}", ids["private"]).replace(
            "{tag}", "t").replace("{task_id}", ids["private"])
        resp = send(api, method, path, b"", headers=identity)
        assert resp.status == 401, (method, path, resp.status)
    assert api.get("/v2/images/%s" % ids["private"]).status == 200  # still there
    assert send(api, "GET", "/v2/images/%s" % ids["private"], headers=MEMBER).status == 200


def test_members_cannot_publicize(api):
    """Finding 4: Glance's publicize_image policy is admin-only (403)."""
    resp = send(api, "POST", "/v2/images", json.dumps({"visibility": "public"}).encode(),
                headers=MEMBER, content_type="application/json")
    assert resp.status == 403
    image = json.loads(send(api, "POST", "/v2/images", b"{}", headers=MEMBER,
                            content_type="application/json").body)
    resp = send(api, "PATCH", "/v2/images/%s" % image["id"], json.dumps(
        [{"op": "replace", "path": "/visibility", "value": "public"}]).encode(),
        headers=MEMBER, content_type=PATCH_TYPE)
    assert resp.status == 403
    assert api.get("/v2/images/%s" % image["id"]).json()["visibility"] != "public"
    admin = dict(CONFIRMED, **{"X-Project-Id": "ops", "X-Roles": "admin"})
    resp = send(api, "PATCH", "/v2/images/%s" % image["id"], json.dumps(
        [{"op": "replace", "path": "/visibility", "value": "public"}]).encode(),
        headers=admin, content_type=PATCH_TYPE)
    assert resp.status == 200


def test_deleted_ids_are_never_reused(api, seeded):
    """Finding 2: a deleted id stays taken (409), for its project and any other."""
    deleted = seeded.seeded_ids["deleted"]
    for identity in ({}, MEMBER, dict(CONFIRMED, **{"X-Project-Id": "p2", "X-Roles": "admin"})):
        resp = send(api, "POST", "/v2/images", json.dumps({"id": deleted}).encode(),
                    headers=identity, content_type="application/json")
        assert resp.status == 409, (identity, resp.status)
    assert api.get("/v2/images/%s" % deleted).status == 404


SPECIAL_PURPOSE = [
    "127.0.0.1", "[::1]", "0.0.0.0", "[::]",                 # loopback, unspecified
    "10.0.0.1", "[fc00::1]", "100.64.0.1",                  # private, shared
    "169.254.169.254", "[fe80::1]", "[fec0::1]",            # link-local, site-local
    "192.0.2.1", "[2001:db8::1]", "240.0.0.1",              # documentation, reserved
    "224.0.0.1", "[ff02::1]",                               # multicast
    "[::127.0.0.1]", "[::ffff:127.0.0.1]",                  # IPv4-compatible, -mapped
    "[64:ff9b::7f00:1]", "[::ffff:0:7f00:1]",               # NAT64, SIIT
    "[64:ff9b:1::a9fe:a9fe]",                               # local-use NAT64
    "[2002:7f00:1::]", "[2001:0:4136:e378:8000:63bf:80ff:fffe]",  # 6to4, Teredo
]


@pytest.mark.parametrize("host", SPECIAL_PURPOSE)
def test_web_download_refuses_special_purpose_addresses(api, seeded, host):
    """Finding 10: addresses in the IANA special-purpose registries are refused
    (IPv4-embedded IPv6 forms unwrapped) before anything is fetched: 400."""
    image = json.loads(send(api, "POST", "/v2/images", json.dumps(
        {"disk_format": "raw", "container_format": "bare"}).encode(),
        content_type="application/json").body)
    resp = send(api, "POST", "/v2/images/%s/import" % image["id"], json.dumps(
        {"method": {"name": "web-download", "uri": "http://%s/img" % host}}).encode(),
        content_type="application/json")
    assert resp.status == 400, (host, resp.status)
    assert "does not pass filtering" in resp.error
    assert api.get("/v2/images/%s" % image["id"]).json()["status"] == "queued"


# -- Framing that only a real server sees (findings 6 and 7) -----------------------------

BAD_FRAMING = {
    "non-hex size": b"zz\r\nabc\r\n0\r\n\r\n",
    "no CRLF after data": b"4\r\nGOODxyz\r\nMORE\r\n0\r\n\r\n",
    "negative size": b"-5\r\nhello\r\n0\r\n\r\n",
    "garbage between chunks": b"4\r\nGOOD\r\nxyz\r\nMORE\r\n0\r\n\r\n",
    "size with junk": b"5zz\r\nhello\r\n0\r\n\r\n",
}
# Finding 7, declared rather than fixed: uWSGI's own chunked reader (which
# glancelet must use under uWSGI, uwsgi.chunked_read) reads a size line's
# letters with strtoul ("zz" is 0, the last chunk; "5zz" is 5) and skips the
# two bytes after a chunk unchecked, then reports a clean end. glancelet
# cannot tell, so these become active images holding what uWSGI made of the
# body. It refuses only what it cannot parse at all ("-5"). Documented on
# the uwsgi-http page, asserted there in every pattern by the
# upload-chunked-malformed scenario (a proxy in front refuses them all).
UWSGI_READS = {
    "non-hex size": b"",
    "no CRLF after data": b"GOOD",
    "negative size": None,
    "garbage between chunks": b"GOOD",
    "size with junk": b"hello",
}


@pytest.fixture(scope="module", params=["gunicorn", "uwsgi"])
def real_server(request, tmp_path_factory):
    node = Node(tmp_path_factory.mktemp("framing-" + request.param), 9)
    server = node.start(request.param, request.param)
    server.port = int(server.url.rsplit(":", 1)[1])
    server.kind = request.param
    try:
        yield server
        assert server.stop() == 0, server.log_text()
    finally:
        node.stop_all()


@pytest.mark.parametrize("case", sorted(BAD_FRAMING))
def test_malformed_framing(real_server, campaign, case):
    """Findings 6 and 7: a malformed chunked upload is 400 (never 5xx), and
    the image stays ``queued`` with nothing stored; except where uWSGI's
    reader passes it on as a clean body (``UWSGI_READS``): then exactly the
    image uWSGI's parse makes, never a 5xx."""
    url = real_server.url
    image = campaign.send("POST", url + "/v2/images", json={}).json()
    head = ("PUT /v2/images/%s/file HTTP/1.1\r\nHost: 127.0.0.1\r\n"
            "Content-Type: application/octet-stream\r\nTransfer-Encoding: chunked\r\n"
            "Connection: close\r\n\r\n" % image["id"]).encode()
    status = campaign.send_raw(real_server.port, head + BAD_FRAMING[case])
    shown = campaign.send("GET", url + "/v2/images/%s" % image["id"]).json()
    data = campaign.send("GET", url + "/v2/images/%s/file" % image["id"]).content
    lenient = UWSGI_READS[case] if real_server.kind == "uwsgi" else None
    if lenient is None:
        assert status == 400, (case, status, real_server.log_text()[-2000:])
        assert (shown["status"], shown["size"]) == ("queued", None), shown
        assert data == b"", hashlib.md5(data).hexdigest()
    else:
        assert status == 204, (case, status, real_server.log_text()[-2000:])
        assert (shown["status"], shown["size"]) == ("active", len(lenient)), shown
        assert data == lenient


def test_garbage_request_line(real_server, campaign):
    """Finding 6: a garbage request line gets a 4xx or a closed connection, no 5xx."""
    for junk in (b"\x00\x01\x02 garbage\r\n\r\n", b"GET\r\n\r\n", b"\r\n\r\n",
                 b"G\x00T / HTTP/1.1\r\nHost: x\r\n\r\n"):
        status = campaign.send_raw(real_server.port, junk)
        assert status is None or 400 <= status < 500, (junk, status)
    assert campaign.send("GET", real_server.url + "/versions").status_code == 200
