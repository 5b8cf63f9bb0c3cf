"""``.. check-upload:: BASE_URL``: the "upload and read back" step.

Every how-to page ends its start-up section with the same check against its
own front door. The directive writes the same client tabs (glance CLI, curl)
with the page's URL, so the tab group is identical on every page and the
reader's choice of client carries over.
"""

from docutils.statemachine import StringList
from docutils import nodes
from sphinx.util.docutils import SphinxDirective

TEMPLATE = """\
.. tabs::

   .. group-tab:: glance CLI

      python-glanceclient uploads with ``Transfer-Encoding: chunked``, in
      1 MiB chunks.

      .. code-block:: console

         $ head -c 10M /dev/urandom > test.img
         $ glance --os-image-url {base} --os-auth-token x \\
             image-create --name test --disk-format raw \\
             --container-format bare --file test.img
         $ glance --os-image-url {base} --os-auth-token x \\
             image-download --file copy.img <image id>
         $ cmp test.img copy.img && echo same
         same

   .. group-tab:: curl

      ``curl -T`` uploads with ``Content-Length``. ``-H 'Expect:'`` stops
      curl from waiting a second for a ``100 Continue`` before it sends
      the body.

      .. code-block:: console

         $ head -c 10M /dev/urandom > test.img
         $ curl -s -X POST -H 'Content-Type: application/json' \\
             -d '{{"name": "test", "disk_format": "raw", "container_format": "bare"}}' \\
             {base}/v2/images
         $ curl -s -X PUT -H 'Content-Type: application/octet-stream' \\
             -H 'Expect:' -T test.img {base}/v2/images/<image id>/file
         $ curl -s -o copy.img {base}/v2/images/<image id>/file
         $ cmp test.img copy.img && echo same
         same
"""


class CheckUpload(SphinxDirective):
    required_arguments = 1
    has_content = False

    def run(self):
        text = TEMPLATE.format(base=self.arguments[0])
        container = nodes.container()
        self.state.nested_parse(StringList(text.splitlines(), source=self.get_source_info()[0]),
                                self.content_offset, container)
        return container.children


def setup(app):
    app.add_directive("check-upload", CheckUpload)
    return {"version": "1", "parallel_read_safe": True, "parallel_write_safe": True}
