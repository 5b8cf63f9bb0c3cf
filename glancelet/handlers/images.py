"""/v2/images and /v2/images/{image_id}: create, list, show, update, delete."""

import re
import urllib.parse
import uuid

from glancelet import domain, errors, policy, recovery, schemas
from glancelet.handlers.util import image_response, load_image, modify, visible
from glancelet.http import empty_response, json_response

DEFAULT_LIMIT = 25
MAX_LIMIT = 1000
PATCH_TYPES = ("application/openstack-images-v2.1-json-patch",
               "application/openstack-images-v2.0-json-patch")
SORT_KEYS = ("name", "status", "container_format", "disk_format", "size", "id",
             "created_at", "updated_at", "visibility", "owner", "min_disk", "min_ram",
             "virtual_size", "os_hidden", "protected")
# Filters on a column that accept the Glance "in:a,b" operator.
COLUMN_FILTERS = ("name", "status", "visibility", "owner", "disk_format",
                  "container_format", "id")
NOT_FILTERS = ("limit", "marker", "sort", "sort_key", "sort_dir", "member_status")
IMAGE_SCHEMA = schemas.image_schema()


# -- Validation of client-supplied properties ---------------------------------

def _validate_value(name, value):
    """Check one property value against the served image schema; return it normalised."""
    schema = IMAGE_SCHEMA["properties"].get(name)
    if schema is not None:
        expected = "must be " + schemas.describe(schema)
    else:  # an extra property
        if len(name) > 255 or "\x00" in name:
            raise errors.BadRequest("Extra property names are limited to 255 characters, "
                                    "none of them NUL.")
        schema = IMAGE_SCHEMA["additionalProperties"]
        expected = "extra properties must be " + schemas.describe(schema, plural=True)
    if not schemas.conforms(schema, value):
        raise errors.BadRequest("Invalid value for '%s': %s" % (name, expected))
    if name == "tags":
        value = list(dict.fromkeys(value))
    return value


def _check_settable(ctx, name):
    if name in domain.READ_ONLY:
        raise errors.Forbidden("Attribute '%s' is read-only." % name)
    if name in domain.RESERVED or name.startswith(domain.RESERVED_PREFIX):
        raise errors.Forbidden("Attribute '%s' is reserved." % name)


def apply(ctx, record, name, value):
    """Set property ``name`` on a row dict, validating it."""
    _check_settable(ctx, name)
    value = _validate_value(name, value)
    if name in domain.MUTABLE or name in domain.ADMIN_SETTABLE:
        record[name] = value
    else:
        record["properties"][name] = value


# -- Handlers -------------------------------------------------------------------

def new_image_id(given):
    """The id of a new image: ``given`` (a UUID, normalized; else 400) or a fresh one."""
    if given is None:
        return str(uuid.uuid4())
    try:
        return str(uuid.UUID(str(given)))
    except ValueError:
        raise errors.BadRequest("Invalid value for 'id': must be a UUID")


def enforce_add_image(ctx, body):
    """Glance's add_image policy, then the rule for the visibility asked for."""
    owner = body.get("owner", ctx.project_id)
    target = {"project_id": owner, "owner": owner,
              "visibility": body.get("visibility", "private")}
    if not policy.allowed(ctx, "add_image", target) and owner != ctx.project_id:
        raise errors.Forbidden("You are not permitted to create images owned by '%s'."
                               % (owner,))
    policy.enforce(ctx, "add_image", target)
    policy.enforce_visibility(ctx, target["visibility"], target)


def create(req, start_response):
    """Create a queued image (201), with the properties given."""
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.BadRequest("The request body must be a JSON object.")
    ctx = req.context
    image_id = new_image_id(body.pop("id", None))
    enforce_add_image(ctx, body)
    record = domain.new_record(image_id, ctx.owner, {}, now=req.app.clock())
    for name, value in body.items():
        apply(ctx, record, name, value)
    if not req.app.images.add(record):  # taken, by a live or a deleted image
        raise errors.Conflict("An image with identifier %s already exists" % image_id)
    headers = [("Location", "%s/v2/images/%s" % (req.base_url(), image_id))]
    methods = req.conf.get("DEFAULT", "enabled_import_methods")
    if methods:
        headers.append(("OpenStack-image-import-methods", ",".join(methods)))
    return image_response(req, start_response, req.app.images.get(image_id),
                          "201 Created", headers)


def show(req, start_response):
    """Show an image the caller may see."""
    return image_response(req, start_response, load_image(req))


PATCH_OPS = ("add", "remove", "replace")


def _pointer_name(path):
    """The property a one-token JSON pointer (RFC 6901) names: ``/a~1b`` is ``a/b``."""
    if not isinstance(path, str) or not path.startswith("/") or path.count("/") != 1:
        raise errors.BadRequest("Invalid JSON-patch path %r" % (path,))
    if re.search("~[^01]|~$", path):
        raise errors.BadRequest("JSON-patch path %r contains '~' not part of an escape "
                                "sequence (~0 or ~1)." % path)
    name = path[1:].replace("~1", "/").replace("~0", "~")
    if not name:
        raise errors.BadRequest("Invalid JSON-patch path %r" % (path,))
    return name


def _patch_ops(req):
    """(op, property name, operation) of each change, in either PATCH media type.

    ``openstack-images-v2.1-json-patch`` operations are RFC 6902's
    (``{"op": "replace", "path": "/name"}``); ``openstack-images-v2.0-json-patch``
    ones name the operation as their key (``{"replace": "/name"}``).
    """
    ops = req.json_body(PATCH_TYPES)
    if not isinstance(ops, list):
        raise errors.BadRequest("A JSON-patch body must be a list of operations.")
    for op in ops:
        if not isinstance(op, dict):
            raise errors.BadRequest("Each JSON-patch operation must be a JSON object.")
        if req.content_type == PATCH_TYPES[0]:
            if "op" not in op or "path" not in op:
                raise errors.BadRequest("Each JSON-patch operation needs 'op' and 'path'.")
            kind, path = op["op"], op["path"]
        else:
            kinds = [key for key in PATCH_OPS if key in op]
            if len(kinds) != 1:
                raise errors.BadRequest('Operation objects must contain exactly one member '
                                        'named "add", "remove", or "replace".')
            kind, path = kinds[0], op[kinds[0]]
        if kind not in PATCH_OPS:
            raise errors.BadRequest("Unsupported JSON-patch operation %r" % (kind,))
        yield kind, _pointer_name(path), op


def update(req, start_response):
    """Change an image's properties with a JSON-patch; no 2xx change is lost."""
    record = load_image(req, "modify_image")
    ops = list(_patch_ops(req))
    record = modify(req, record, lambda current: _patched(req.context, current, ops))
    return image_response(req, start_response, record)


def _patched(ctx, record, ops):
    """The changes the parsed JSON-patch ``ops`` (from :func:`_patch_ops`)
    make to ``record``."""
    changed = {"properties": dict(record["properties"])}
    for key in domain.MUTABLE + domain.ADMIN_SETTABLE:
        changed[key] = record[key]
    for kind, name, op in ops:
        _check_settable(ctx, name)
        is_base = name in domain.BASE_PROPERTIES
        if kind in ("add", "replace"):
            if "value" not in op:
                raise errors.BadRequest("Operation %r needs a 'value'." % kind)
            if name == "owner" and not ctx.is_admin:
                raise errors.Forbidden("Owner can't be updated by non admin.")
            if name == "visibility":
                policy.enforce_visibility(ctx, op["value"], policy.image_target(ctx, record))
            if kind == "replace" and not is_base and name not in changed["properties"]:
                raise errors.Conflict("Property %s does not exist." % name)
            apply(ctx, changed, name, op["value"])
        else:
            if is_base:
                raise errors.Forbidden("Base property '%s' cannot be removed." % name)
            if name not in changed["properties"]:
                raise errors.Conflict("Property %s does not exist." % name)
            del changed["properties"][name]
    return {k: v for k, v in changed.items() if v != record[k]}


def delete(req, start_response):
    """Delete an image and its members; its id stays taken (a tombstone)."""
    record = load_image(req, "delete_image")
    if record["protected"]:
        raise errors.Forbidden("Image %s is protected and cannot be deleted." % record["id"])
    recovery.delete_image(req.app, record)
    return empty_response(start_response)


# -- Listing -------------------------------------------------------------------

def _parse_sort(req):
    keys = []
    sort = req.param("sort")
    if sort is not None:
        for item in sort.split(","):
            key, _, direction = item.strip().partition(":")
            keys.append((key.strip(), (direction or "desc").strip()))
    else:
        sort_keys = [v for k, v in req.params if k == "sort_key"]
        sort_dirs = [v for k, v in req.params if k == "sort_dir"]
        if len(sort_dirs) > 1 and len(sort_dirs) != len(sort_keys):
            raise errors.BadRequest("Give one sort_dir, or one per sort_key.")
        for i, key in enumerate(sort_keys or ["created_at"]):
            direction = sort_dirs[i] if len(sort_dirs) > 1 else (
                sort_dirs[0] if sort_dirs else "desc")
            keys.append((key, direction))
    for key, direction in keys:
        if key not in SORT_KEYS:
            raise errors.BadRequest("Invalid sort key: %s. It should be one of: %s"
                                    % (key, ", ".join(SORT_KEYS)))
        if direction not in ("asc", "desc"):
            raise errors.BadRequest("Invalid sort direction: %s" % direction)
    if not any(key == "id" for key, _ in keys):
        keys.append(("id", keys[-1][1] if keys else "desc"))
    return keys


def _int_param(req, name, default=None, minimum=0, maximum=schemas.MAX_INTEGER):
    raw = req.param(name)
    if raw is None:
        return default
    return _int_value(name, raw, minimum, maximum)


def _int_value(name, raw, minimum=0, maximum=schemas.MAX_INTEGER,
               not_integer="%s param must be an integer"):
    try:
        value = int(raw)
    except ValueError:
        raise errors.BadRequest(not_integer % name)
    if value < minimum:
        raise errors.BadRequest("%s param must be at least %d" % (name, minimum))
    if maximum is not None and value > maximum:
        raise errors.BadRequest("%s param must be at most %d" % (name, maximum))
    return value


def _bool_param(name, raw):
    value = raw.strip().lower()
    if value in ("true", "1", "yes", "on"):
        return True
    if value in ("false", "0", "no", "off"):
        return False
    raise errors.BadRequest("%s param must be a boolean" % name)


# Glance compares the size column with any integer, negative ones included:
# ``size`` is equality, and every size filter given must hold.
SIZE_FILTERS = {"size": "eq", "size_min": "ge", "size_max": "le"}


def _size_value(name, raw):
    """The integer a size filter compares with; 400 for anything else."""
    return _int_value(name, raw, minimum=-schemas.MAX_INTEGER - 1, not_integer=(
        "%s param must be an integer" if name == "size" else
        "Unable to filter on a range with a non-numeric value (%s)."))


def _filters(req):
    """The list filters of the query string, as ``(op, name, value)`` for
    :meth:`glancelet.db.ImageRepo.list`, validated here."""
    filters = []
    hidden = req.param("os_hidden")
    filters.append(("eq", "os_hidden", False if hidden is None
                    else _bool_param("os_hidden", hidden)))
    for name, raw in req.params:
        if name in NOT_FILTERS or name in ("visibility", "os_hidden"):
            continue
        if name == "tag":
            filters.append(("tag", "tags", raw))
        elif name in COLUMN_FILTERS:
            if raw.startswith("in:"):
                filters.append(("in", name, [v.strip().strip('"') for v in raw[3:].split(",")]))
            else:
                filters.append(("eq", name, raw))
        elif name == "protected":
            filters.append(("eq", name, _bool_param(name, raw)))
        elif name in SIZE_FILTERS:
            filters.append((SIZE_FILTERS[name], "size", _size_value(name, raw)))
        elif name in ("min_disk", "min_ram"):
            filters.append(("eq", name, _int_value(name, raw)))
        elif name in domain.BASE_PROPERTIES:
            raise errors.BadRequest("Filtering on %s is not supported" % name)
        else:
            filters.append(("property", name, raw))
    return filters


MEMBER_STATUSES = ("pending", "accepted", "rejected", "all")


def index(req, start_response):
    """List the images the caller may see, filtered, sorted and paged."""
    ctx = req.context
    policy.enforce(ctx, "get_images", {"project_id": ctx.project_id})
    limit = min(_int_param(req, "limit", DEFAULT_LIMIT, maximum=None), MAX_LIMIT)
    keys = _parse_sort(req)
    visibility = req.param("visibility")
    if visibility is not None and visibility not in domain.VISIBILITIES + ("all",):
        raise errors.BadRequest("Invalid visibility value: %s" % visibility)
    member_status = req.param("member_status", "accepted")
    if member_status not in MEMBER_STATUSES:
        raise errors.BadRequest("Invalid status: %s" % member_status)
    filters = _filters(req)
    marker = None
    marker_id = req.param("marker")
    if marker_id is not None:
        marker = req.app.images.get(marker_id)
        if marker is None or not visible(req, marker):
            raise errors.BadRequest("marker not found: %s" % marker_id)
    rows = req.app.images.list(ctx, visibility, filters, keys, marker, limit,
                               member_status)
    rows = [recovery.reap_image(req.app, row) for row in rows]
    body = {
        "images": [domain.view(row) for row in rows
                   if policy.allowed(ctx, "get_image", policy.image_target(ctx, row))],
        "schema": "/v2/schemas/images",
        "first": _page_link(req, None),
    }
    if rows and len(rows) == limit:
        body["next"] = _page_link(req, rows[-1]["id"])
    return json_response(start_response, "200 OK", body)


def _page_link(req, marker):
    params = [(k, v) for k, v in req.params if k != "marker"]
    if marker is not None:
        params.append(("marker", marker))
    query = urllib.parse.urlencode(params)
    return "/v2/images" + ("?" + query if query else "")
