"""The model: image statuses, transitions, properties, the API view, and task records."""

import datetime
import os
import socket

# Glance's domain model: the statuses an image may move to from each status.
TRANSITIONS = {
    "queued": {"saving", "uploading", "importing", "active", "deleted"},
    "saving": {"active", "killed", "deleted", "queued"},
    "uploading": {"importing", "queued", "deleted"},
    "importing": {"active", "deleted", "queued", "uploading"},
    "active": {"pending_delete", "deleted", "deactivated"},
    "killed": {"deleted"},
    "deactivated": {"active", "deleted"},
    "pending_delete": {"deleted", "active"},
}
STATUSES = tuple(TRANSITIONS)


class InvalidTransition(Exception):
    def __init__(self, current, target):
        super().__init__("Image status transition from %s to %s is not allowed"
                         % (current, target))
        self.current = current
        self.target = target


def check_transition(current, target):
    """Raise InvalidTransition unless an image may move from ``current`` to ``target``."""
    if target not in TRANSITIONS.get(current, ()):
        raise InvalidTransition(current, target)


def sources_of(target):
    """The statuses an image may move to ``target`` from."""
    return tuple(status for status in STATUSES if target in TRANSITIONS[status])


DISK_FORMATS = ("ami", "ari", "aki", "vhd", "vhdx", "vmdk", "raw", "qcow2", "vdi", "iso",
                "ploop")
CONTAINER_FORMATS = ("ami", "ari", "aki", "bare", "ovf", "ova", "docker", "compressed")
VISIBILITIES = ("public", "private", "shared", "community")

# Properties a client may set on create and change with PATCH.
MUTABLE = ("name", "visibility", "protected", "os_hidden", "min_disk", "min_ram",
           "disk_format", "container_format", "tags")
# Properties only the service sets.
READ_ONLY = ("id", "status", "checksum", "os_hash_algo", "os_hash_value", "size",
             "virtual_size", "created_at", "updated_at", "self", "file", "schema",
             "direct_url", "locations", "stores")
# Names Glance keeps for itself: never image properties.
RESERVED = ("location", "deleted", "deleted_at")
# Settable by admin only (owner), or on create by anyone for their own project.
ADMIN_SETTABLE = ("owner",)
# Glance's reserved namespace for extra properties.
RESERVED_PREFIX = "os_glance"
BASE_PROPERTIES = MUTABLE + READ_ONLY + ADMIN_SETTABLE


# -- Import tasks (Glance's ``api_image_import``) --------------------------

TASK_RUNNING = ("pending", "processing")
TASK_TIME_TO_LIVE = datetime.timedelta(hours=48)  # Glance's task_time_to_live


def method_of(task):
    """The import method a task runs."""
    try:
        return task["input"]["import_req"]["method"]["name"]
    except (KeyError, TypeError):
        return None


def final_task(now, status, message="", result=None):
    """The changes that end a task at ``now``; it expires TASK_TIME_TO_LIVE later."""
    then = datetime.datetime.strptime(now, "%Y-%m-%dT%H:%M:%SZ")
    expires = (then + TASK_TIME_TO_LIVE).strftime("%Y-%m-%dT%H:%M:%SZ")
    return {"status": status, "message": message, "result": result, "worker": None,
            "updated_at": now, "expires_at": expires}


def utcnow():
    return datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def new_record(image_id, owner, values, now=None):
    """A fresh ``queued`` image row with defaults applied, created ``now``."""
    now = utcnow() if now is None else now
    record = {
        "id": image_id, "name": None, "status": "queued", "visibility": "shared",
        "protected": False, "os_hidden": False, "checksum": None, "os_hash_algo": None,
        "os_hash_value": None, "size": None, "virtual_size": None, "min_disk": 0,
        "min_ram": 0, "disk_format": None, "container_format": None, "owner": owner,
        "tags": [], "properties": {}, "worker": None, "created_at": now, "updated_at": now,
    }
    record.update(values)
    return record


def view(record):
    """The API representation of an image row (links are relative, as in Glance)."""
    image = {key: record[key] for key in (
        "id", "name", "status", "visibility", "protected", "os_hidden", "checksum",
        "os_hash_algo", "os_hash_value", "size", "virtual_size", "min_disk", "min_ram",
        "disk_format", "container_format", "owner", "created_at", "updated_at")}
    image["tags"] = list(record["tags"])
    image.update(record["properties"])
    image["self"] = "/v2/images/%s" % record["id"]
    image["file"] = "/v2/images/%s/file" % record["id"]
    image["schema"] = "/v2/schemas/image"
    return image


# -- Which process is working on an image ------------------------------------
#
# A row in a transient state (saving, importing) records the process that
# moved it there as "host|pid|start time|claim token". If that process is gone (killed,
# or its server stopped without draining), any other process can tell, and
# return the image to a retryable state.

def _process_start_time(pid):
    try:
        with open("/proc/%d/stat" % pid, "rb") as fp:
            fields = fp.read().rsplit(b")", 1)[1].split()
        return fields[19].decode()
    except (OSError, IndexError):
        return None


_HOST = socket.gethostname()


def worker_id(pid=None):
    pid = os.getpid() if pid is None else pid
    return "%s|%d|%s" % (_HOST, pid, _process_start_time(pid) or "?")


def claim_id():
    """A worker id for one claim: this process, and a token no other claim has."""
    return "%s|%s" % (worker_id(), os.urandom(6).hex())


def on_this_host(worker):
    """Whether ``worker`` names a process of this host."""
    return worker.split("|", 1)[0] == _HOST


def worker_alive(worker):
    """False only when ``worker`` surely names a process that has gone (a
    process of another host is :mod:`glancelet.lease`'s to judge)."""
    if not worker:
        return False
    try:
        host, pid, started = worker.split("|")[:3]
        pid = int(pid)
    except ValueError:
        return False
    if host != _HOST:
        return True  # another host: cannot tell, assume alive
    if _process_start_time(pid) != started:
        return False
    return True
