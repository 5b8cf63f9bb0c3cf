"""/v2/images/{image_id}/actions/deactivate and .../reactivate (Image API v2.3).

As in Glance:

* ``204`` with no body. Deactivating a ``deactivated`` image, or
  reactivating an ``active`` one, changes nothing and is ``204`` too.
* Any other status is ``403`` ("Not allowed to deactivate image in status
  'queued'"), which is what Glance's image domain raises.
* Who may: Glance's default policy for both is ``ADMIN_OR_PROJECT_MEMBER``,
  an admin or a member of the image's project: the ``deactivate`` and
  ``reactivate`` rules of :mod:`glancelet.policy`. A caller who cannot see
  the image gets ``404``; one who can see it (a public image of another
  project) but may not act gets ``403``.
* While an image is ``deactivated``, downloading its data is ``403`` for
  everyone but admins (:func:`glancelet.handlers.image_data.download`).

The status changes only through :meth:`glancelet.db.ImageRepo.transition`,
conditional on the status read: of two requests racing, the loser reads
the image again and answers from what it finds.
"""

from glancelet import errors
from glancelet.handlers.util import MODIFY_TRIES, load_image
from glancelet.http import empty_response


def _switch(req, start_response, action, source, target):
    record = load_image(req, action)
    for _ in range(MODIFY_TRIES):
        if record["status"] == target:
            return empty_response(start_response)
        if record["status"] != source:
            raise errors.Forbidden("Not allowed to %s image in status '%s'"
                                   % (action, record["status"]))
        if req.app.images.transition(record["id"], source, target,
                                     {"updated_at": req.app.clock()}) is not None:
            return empty_response(start_response)
        record = load_image(req, action)
    raise errors.Conflict("Image %s changed too often while this change was being made; "
                          "retry it." % record["id"])


def deactivate(req, start_response):
    """Deactivate an active image: its data cannot be downloaded but by admins."""
    return _switch(req, start_response, "deactivate", "active", "deactivated")


def reactivate(req, start_response):
    """Reactivate a deactivated image."""
    return _switch(req, start_response, "reactivate", "deactivated", "active")
