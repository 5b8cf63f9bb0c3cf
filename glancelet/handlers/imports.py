"""Interoperable image import: stage, import, import info, and tasks.

* ``PUT /v2/images/{id}/stage``: the ``glance-direct`` upload. Same body
  reader and atomic store write as ``PUT .../file``, into the staging
  directory; the image goes ``queued`` → ``uploading``.
* ``POST /v2/images/{id}/import``: 202, the image goes ``importing`` and an
  ``api_image_import`` task copies the data into the store in the
  background (:mod:`glancelet.tasks`).
* ``GET /v2/info/import``, ``GET /v2/images/{id}/tasks``,
  ``GET /v2/tasks/{id}``, ``GET /v2/schemas/task``.
* ``POST /v2/tasks``: the tasks API's ``import`` task (201), which creates
  an image from ``image_properties`` and fetches ``import_from`` into it,
  with web-download's URI filter and fetcher.
"""

from glancelet import domain, errors, policy, recovery, request_id, stagehost, tasks
from glancelet import webdownload
from glancelet.handlers import images
from glancelet.handlers.util import load_image, receive, require_octet_stream
from glancelet.http import empty_response, json_response

GLANCE_DIRECT = "glance-direct"
WEB_DOWNLOAD = "web-download"


def _enabled(req):
    return req.conf.get("DEFAULT", "enabled_import_methods")


# -- glance-direct: stage -----------------------------------------------------------

def stage(req, start_response):
    """Stage a queued image's data for a glance-direct import."""
    if GLANCE_DIRECT not in _enabled(req):
        raise errors.NotFound("'glance-direct' method is not available at this site.")
    require_octet_stream(req)
    record = load_image(req, "modify_image")

    def conflict(image_id):
        current = recovery.reap_image(req.app, req.app.images.get(image_id))
        if current is None:
            return errors.NotFound("No image found with ID %s" % image_id)
        if current["status"] == "uploading":
            return errors.Conflict("The image %s has data on staging" % image_id)
        return errors.Conflict("Image status transition from %s to uploading is not allowed"
                               % current["status"])

    def on_claim():
        # Other nodes forward an import of this image here (stagehost).
        if stagehost.self_url(req.conf):
            stagehost.record_host(req.app, record["id"], stagehost.self_url(req.conf))

    receive(req, record["id"], req.app.staging, "uploading", "uploading",
            lambda result: {"size": result.size, "staged_file": result.name},
            "staged", conflict, on_claim)
    return empty_response(start_response)


# -- import ---------------------------------------------------------------------------

def _parse_import(req):
    """The validated request body, and the method name."""
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.BadRequest("The request body must be a JSON object.")
    method = body.get("method")
    if not isinstance(method, dict):
        raise errors.BadRequest("Import request requires a 'method' field.")
    name = method.get("name")
    if name is None:
        raise errors.BadRequest("Import request requires a 'name' field.")
    if name not in _enabled(req):
        raise errors.BadRequest("Unknown import method name '%s'." % (name,))
    for flag in ("all_stores", "all_stores_must_succeed"):
        if flag in body and not isinstance(body[flag], bool):
            raise errors.BadRequest("'%s' must be boolean value only" % flag)
    if body.get("all_stores_must_succeed") is False:
        raise errors.BadRequest("'all_stores_must_succeed' can only be set to false with "
                                "several stores; this service has one.")
    uri = method.get("uri")
    if name == WEB_DOWNLOAD:
        if not uri or not isinstance(uri, str):
            raise errors.BadRequest("The web-download method needs a 'uri'.")
    elif "uri" in method:
        raise errors.BadRequest("A 'uri' can only be given with the web-download method, "
                                "not with %s." % name)
    return body, name


def _state_conflict(record, method):
    status = record["status"]
    if status == "active":
        return "Image with status active cannot be target for import"
    if method == WEB_DOWNLOAD and status != "queued":
        return "Image needs to be in 'queued' state to use 'web-download' method"
    if method == GLANCE_DIRECT and (status != "uploading" or record["worker"]):
        return "Image needs to be staged before 'glance-direct' method can be used"
    if not record["container_format"]:
        return "'container_format' needs to be set before import"
    if not record["disk_format"]:
        return "'disk_format' needs to be set before import"
    return None


def import_image(req, start_response):
    """Start an import task (202): glance-direct or web-download."""
    if not _enabled(req):
        raise errors.NotFound("Image import is not enabled at this site "
                              "([DEFAULT] enabled_import_methods is empty).")
    body, method = _parse_import(req)
    record = load_image(req, "modify_image")
    app = req.app
    image_id = record["id"]
    conflict = _state_conflict(record, method)
    if conflict:
        raise errors.Conflict(conflict)
    if method == WEB_DOWNLOAD:
        uri = body["method"]["uri"]
        try:
            webdownload.URIFilter.from_conf(req.conf).check(uri)
        except webdownload.Refused as exc:
            raise errors.BadRequest("URI for web-download does not pass filtering: %s (%s)"
                                    % (uri, exc))
    elif stagehost.elsewhere(req.conf, record):
        # Staged on another node: only that node has the data (Glance proxies too).
        return stagehost.forward(req, stagehost.elsewhere(req.conf, record), body,
                                 start_response)

    me = domain.claim_id()
    task = tasks.new_task(image_id, req.context.owner, body, me, now=app.clock(),
                          request_id=request_id.of(req.environ),
                          user_id=req.context.user_id)
    # Claim the image first: of two imports racing, one gets 409 here.
    claimed = app.images.transition(
        image_id, "uploading" if method == GLANCE_DIRECT else "queued", "importing",
        {"worker": me, "updated_at": app.clock()}, idle=method == GLANCE_DIRECT)
    if claimed is None:
        current = app.images.get(image_id)
        if current is None:
            raise errors.NotFound("No image found with ID %s" % image_id)
        raise errors.Conflict(_state_conflict(current, method) or
                              "Image %s is already being imported" % image_id)
    try:
        app.tasks.add(task)
    except BaseException:
        recovery.release_import(app, image_id, me, method)
        raise
    try:
        app.task_pool.submit(task["id"], tasks.run_import, app, task["id"])
    except tasks.PoolClosed:
        recovery.fail_left_task(app, task, "the server is shutting down; import again")
        raise errors.HTTPError(503, "The server is shutting down; retry the import.",
                               headers=[("Retry-After", "5")])
    return empty_response(start_response, "202 Accepted")


# -- Discovery and tasks --------------------------------------------------------------

def info_import(req, start_response):
    """The import methods this site has enabled."""
    return json_response(start_response, "200 OK", {"import-methods": {
        "description": "Import methods available.", "type": "array",
        "value": list(_enabled(req))}})


def task_view(task):
    """GET /v2/tasks/{id}: Glance's task entity."""
    view = {"id": task["id"], "type": task["type"], "status": task["status"],
            "owner": task["owner"], "input": task["input"], "result": task["result"],
            "message": task["message"], "created_at": task["created_at"],
            "updated_at": task["updated_at"], "self": "/v2/tasks/%s" % task["id"],
            "schema": "/v2/schemas/task"}
    for key in ("image_id", "request_id", "user_id", "expires_at"):
        if task[key]:
            view[key] = task[key]
    return view


def _image_task_view(task):
    """An entry of GET /v2/images/{id}/tasks (Glance lists the task rows)."""
    return {"id": task["id"], "type": task["type"], "status": task["status"],
            "owner": task["owner"], "expires_at": task["expires_at"],
            "created_at": task["created_at"], "updated_at": task["updated_at"],
            "deleted_at": None, "deleted": False, "image_id": task["image_id"],
            "request_id": task["request_id"], "user_id": task["user_id"],
            "input": task["input"],
            "result": task["result"], "message": task["message"]}


def image_tasks(req, start_response):
    """The image's import tasks that the caller may see."""
    # As in Glance: seeing the image is not enough (a public image's tasks hold
    # its owner's web-download URI); only the task's project and admins see it.
    record = load_image(req)
    found = [recovery.reap_task(req.app, t) for t in req.app.tasks.for_image(record["id"])
             if _can_see_task(req.context, t)]
    return json_response(start_response, "200 OK",
                         {"tasks": [_image_task_view(t) for t in found]})


def _can_see_task(ctx, task):
    return ctx.is_admin or (task["owner"] is not None and task["owner"] == ctx.project_id)


def show_task(req, start_response):
    """Show a task (the tasks API is admin-only by Glance's default policy)."""
    policy.enforce(req.context, "tasks_api_access", {})
    task_id = req.route_args["task_id"]
    task = recovery.reap_task(req.app, req.app.tasks.get(task_id))
    if task is None:
        raise errors.NotFound("Task with the given id %s not found" % task_id)
    return json_response(start_response, "200 OK", task_view(task))


# -- The tasks API: POST /v2/tasks ----------------------------------------------------

TASK_TYPES = ("import", "api_image_import", "location_import")


def _parse_task(req):
    """The validated ``type`` and ``input`` of a task-create body."""
    body = req.json_body()
    if not isinstance(body, dict):
        raise errors.BadRequest("Body expected in request.")
    for key in ("type", "input"):
        if key not in body:
            raise errors.BadRequest("Task '%s' is required" % key)
    task_type, task_input = body["type"], body["input"]
    if task_type not in TASK_TYPES:
        raise errors.BadRequest("Invalid value for 'type': %r is not one of %s"
                                % (task_type, list(TASK_TYPES)))
    if task_input is not None and not isinstance(task_input, dict):
        raise errors.BadRequest("Invalid value for 'input': must be an object or null")
    if task_type != tasks.LEGACY_TYPE:
        raise errors.BadRequest("Tasks of type '%s' are made by the image import API "
                                "(POST /v2/images/{image_id}/import), not by the tasks "
                                "API." % task_type)
    return task_input or {}


def _check_import_from(req, uri):
    """Glance's check of a legacy ``import_from``: http(s) only, and the
    web-download URI filter (400)."""
    if not uri:
        raise errors.BadRequest("Invalid location: %s" % (uri,))
    if not isinstance(uri, str) or not uri.startswith(("http://", "https://")):
        if isinstance(uri, str) and uri.startswith(("file:///", "filesystem:///")):
            raise errors.BadRequest("File based imports are not allowed. Please use a "
                                    "non-local source of image data.")
        raise errors.BadRequest("The given uri is not valid. Please specify a valid uri "
                                "from the following list of supported uri ['http']")
    try:
        webdownload.URIFilter.from_conf(req.conf).check(uri)
    except webdownload.Refused as exc:
        raise errors.BadRequest("URI for legacy import task does not pass filtering: %s "
                                "(%s)" % (uri, exc))


def _image_maker(req):
    """The function that builds the image row of an ``import`` task, with the
    caller's rights (as Glance's task flow uses the caller's context)."""
    ctx, clock = req.context, req.app.clock

    def make(properties):
        if not isinstance(properties, dict):
            raise errors.BadRequest("'image_properties' must be an object")
        properties = dict(properties) or {"disk_format": "qcow2",
                                          "container_format": "bare"}
        properties.pop("id", None)
        images.enforce_add_image(ctx, properties)
        record = domain.new_record(images.new_image_id(None), ctx.owner, {}, now=clock())
        for name, value in properties.items():
            images.apply(ctx, record, name, value)
        return record
    return make


def create_task(req, start_response):
    """Create a task (201): the tasks API's ``import`` (admin-only by default)."""
    policy.enforce(req.context, "tasks_api_access", {})
    policy.enforce(req.context, "add_task", {})
    task_input = _parse_task(req)
    _check_import_from(req, task_input.get("import_from"))
    app = req.app
    task = tasks.new_legacy_task(req.context.owner, task_input, domain.claim_id(),
                                 now=app.clock(), request_id=request_id.of(req.environ),
                                 user_id=req.context.user_id)
    app.tasks.add(task)
    # The 201 shows the task as created (``pending``), as Glance's does: read
    # before the pool thread can start it and move it on.
    created = app.tasks.get(task["id"])
    try:
        app.task_pool.submit(task["id"], tasks.run_legacy_import, app, task["id"],
                             _image_maker(req))
    except tasks.PoolClosed:
        app.tasks.finish(task["id"], domain.final_task(
            app.clock(), "failure", "the server is shutting down; create the task again"))
        raise errors.HTTPError(503, "The server is shutting down; retry the request.",
                               headers=[("Retry-After", "5")])
    return json_response(start_response, "201 Created", task_view(created),
                         [("Location", "/v2/tasks/%s" % task["id"])])


TASK_SCHEMA = {
    "name": "task",
    "properties": {
        "id": {"type": "string", "description": "The task's identifier (a UUID)."},
        "type": {"type": "string", "enum": ["import", "api_image_import",
                                            "location_import"],
                 "description": "What the task does."},
        "status": {"type": "string",
                   "enum": ["pending", "processing", "success", "failure"],
                   "description": "Where the task is in its life."},
        "input": {"type": ["null", "object"],
                  "description": "The request that started the task."},
        "result": {"type": ["null", "object"],
                   "description": "What the task produced, once it succeeded."},
        "owner": {"type": ["null", "string"], "description": "Project of the task."},
        "message": {"type": "string",
                    "description": "Why the task failed, when it failed."},
        "image_id": {"type": "string", "description": "The image the task works on."},
        "request_id": {"type": "string", "description": "The request that made it."},
        "user_id": {"type": "string", "description": "The user that made it."},
        "expires_at": {"type": ["null", "string"],
                       "description": "When the finished task may be purged."},
        "created_at": {"type": "string", "description": "When the task was created."},
        "updated_at": {"type": "string", "description": "When the task last changed."},
        "self": {"type": "string", "description": "The task's URL path."},
        "schema": {"type": "string", "description": "This schema's URL path."},
    },
}


def task_schema(req, start_response):
    """The JSON schema of a task."""
    return json_response(start_response, "200 OK", TASK_SCHEMA)
