"""Scenario ids and titles: the rows of the docs' results table.

Test functions in ``test_scenarios.py`` are bound to one of these ids; a
pattern's ``expected_failures`` uses the same ids. Every scenario runs with
real tokens from the run's Keystone (lab/identity.py).
"""

SCENARIOS = {
    "version-discovery": "Version discovery: GET / answers 300 and its hrefs work through "
                         "the front door",
    "image-crud": "Create, show, list and delete an image",
    "image-members": "Image members (two projects, real tokens): share an image with a "
                     "project, accept it, see it listed, remove it, under the front "
                     "door's prefix",
    "request-id": "x-openstack-request-id on every answer through the front door "
                  "(2xx, 3xx, 4xx); a client's well-formed id comes back",
    "upload-content-length": "Upload with Content-Length; download with md5 and sha512 "
                             "verified",
    "upload-chunked-1mib": "Chunked upload in 1 MiB chunks (what python-glanceclient sends)",
    "upload-chunked-16mib": "Chunked upload in 16 MiB chunks",
    "glanceclient-library": "python-glanceclient library: create, upload, download, list, "
                            "delete",
    "glanceclient-cli": "glance CLI: image-create --file, image-download, image-delete",
    "openstacksdk": "openstacksdk: create_image from a file, download, delete",
    "openstackclient-cli": "openstack CLI: image create --file, image save, image delete",
    "auth-401": "No token, a bad token, an expired token: 401 with WWW-Authenticate naming "
                "Keystone",
    "auth-public-paths": "Version discovery, /versions and /healthcheck answer without a "
                         "token",
    "auth-forged-headers": "Forged identity headers with a member's token change nothing",
    "auth-private-image": "A private image stays invisible to another project",
    "auth-publicize": "A member cannot publicize an image (403); an admin can",
    "auth-keystone-down": "Keystone down: a new token gets 503, not 500, a cached one still "
                          "works, nothing is lost",
    "upload-chunked-malformed": "Malformed chunked framing (a bad size line, no CRLF after "
                                "a chunk): refused with 4xx, image back to queued, nothing "
                                "stored",
    "upload-2gib": "2 GiB upload streamed through every limit, with a token that expires "
                   "mid-upload (auth is checked once, at the start); server-side hashes "
                   "verified",
    "client-abort": "Client aborts mid-upload: image back to queued, no partial file",
    "sigterm-during-upload": "SIGTERM to the WSGI server during an upload: drained or "
                             "cleanly refused, never a truncated image",
    "graceful-reload": "Graceful reload under a bounded load: no failed request",
    "import-glance-direct": "Import, glance-direct: stage with Content-Length, import, "
                            "active with verified hashes, staging emptied",
    "import-web-download": "Import, web-download from a mirror on 127.0.0.1 (allowed by a "
                           "glancelet.conf.d file): active with verified hashes",
    "import-cli-glance-direct": "glance image-create-via-import --import-method "
                                "glance-direct --file",
    "import-cli-web-download": "glance image-create-via-import --import-method "
                               "web-download --uri",
    "import-sigterm": "SIGTERM to the WSGI server during a web-download: the import "
                      "finishes (drain), or is failed and can be retried",
    "import-kill-9": "kill -9 of the worker running an import: the task fails naming it, "
                     "the image is released, no temp file is left, a retry succeeds",
}
