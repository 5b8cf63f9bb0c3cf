"""Who may do what: Glance's default API policies ("secure RBAC"), as one table.

:data:`RULES` maps each of Glance's policy names to its default check, built
from a few check kinds that print as oslo.policy check strings, so an
operator can read the table beside ``oslopolicy-sample-generator
--namespace glance``. There is no policy file: these defaults are the policy.

The roles are matched as written in ``X-Roles``; Keystone's default implied
roles put ``member`` and ``reader`` in an admin's token, and ``reader`` in a
member's. Every API rule is project-scoped, and scope is always enforced, as
in Glance with oslo.policy 6: a system- or domain-scoped token is refused
whatever its roles (:func:`enforce`). A request without identity headers
(the unauthenticated mode, :mod:`glancelet.context`) is allowed everything.

A target is a dict with the keys the checks name: ``project_id`` and
``owner`` (the image's owner, or the caller's project for a list),
``member_id`` (the caller's project when it reaches a ``shared`` image it
does not own, else None) and ``visibility``.
"""

import dataclasses

from glancelet import errors


class Check:
    """A check of the caller (a RequestContext) against a target dict."""

    def __or__(self, other):
        return AnyOf(self, other)

    def __and__(self, other):
        return AllOf(self, other)


@dataclasses.dataclass(frozen=True)
class Role(Check):
    """``role:NAME``: the caller has the role."""
    name: str

    def __call__(self, ctx, target):
        return self.name in ctx.roles

    def __str__(self):
        return "role:%s" % self.name


@dataclasses.dataclass(frozen=True)
class ProjectIs(Check):
    """``project_id:%(KEY)s``: the caller's project is the target's ``KEY``."""
    key: str

    def __call__(self, ctx, target):
        return ctx.project_id is not None and target.get(self.key) == ctx.project_id

    def __str__(self):
        return "project_id:%%(%s)s" % self.key


@dataclasses.dataclass(frozen=True)
class Is(Check):
    """``'VALUE':%(KEY)s``: the target's ``KEY`` is VALUE."""
    value: str
    key: str

    def __call__(self, ctx, target):
        return target.get(self.key) == self.value

    def __str__(self):
        return "'%s':%%(%s)s" % (self.value, self.key)


@dataclasses.dataclass(frozen=True)
class Anyone(Check):
    """The empty check string: every caller passes."""

    def __call__(self, ctx, target):
        return True

    def __str__(self):
        return ""


@dataclasses.dataclass(frozen=True)
class Rule(Check):
    """``rule:NAME``: another rule of the table."""
    name: str

    def __call__(self, ctx, target):
        return RULES[self.name].check(ctx, target)

    def __str__(self):
        return "rule:%s" % self.name


class _Combined(Check):
    """Checks joined by ``word`` ("or", "and"); nested ones of the same kind are
    flattened, so any nested one prints in parentheses."""
    word = None

    def __init__(self, *checks):
        self.checks = tuple(c for check in checks
                            for c in (check.checks if type(check) is type(self) else (check,)))

    def __str__(self):
        return (" %s " % self.word).join(
            "(%s)" % c if isinstance(c, _Combined) else str(c) for c in self.checks)


class AnyOf(_Combined):
    word = "or"

    def __call__(self, ctx, target):
        return any(check(ctx, target) for check in self.checks)


class AllOf(_Combined):
    word = "and"

    def __call__(self, ctx, target):
        return all(check(ctx, target) for check in self.checks)


@dataclasses.dataclass(frozen=True)
class Policy:
    """One rule: its check, the token scopes it accepts, and the calls that use it."""
    check: Check
    operations: tuple = ()
    scope: str = "project"


ADMIN = Rule("context_is_admin")
READER, MEMBER = Role("reader"), Role("member")
PROJECT, OWNER, IMAGE_MEMBER = ProjectIs("project_id"), ProjectIs("owner"), ProjectIs("member_id")
# What a project reader reaches by default: its own images, images shared
# with its project, and community, public and shared images (the database
# layer narrows "shared" to the image's members; see glancelet.db).
REACHABLE = (PROJECT | IMAGE_MEMBER | Is("community", "visibility") |
             Is("public", "visibility") | Is("shared", "visibility"))

IMAGE = "/v2/images/{image_id}"
MEMBERS = IMAGE + "/members"
RULES = {
    "context_is_admin": Policy(Role("admin"), ("the rules that name it",), scope=None),
    "get_images": Policy(ADMIN | (READER & PROJECT), ("GET /v2/images",)),
    "get_image": Policy(ADMIN | (READER & REACHABLE), (
        "GET " + IMAGE, "GET %s/tasks" % IMAGE, "first, for every other call on an image")),
    "add_image": Policy(ADMIN | (MEMBER & PROJECT & OWNER), ("POST /v2/images",)),
    "modify_image": Policy(ADMIN | (MEMBER & PROJECT), (
        "PATCH " + IMAGE, "PUT/DELETE %s/tags/{tag}" % IMAGE, "PUT %s/stage" % IMAGE,
        "POST %s/import" % IMAGE)),
    "publicize_image": Policy(ADMIN, ("POST /v2/images or PATCH with visibility public",)),
    "communitize_image": Policy(ADMIN | (MEMBER & PROJECT), (
        "POST /v2/images or PATCH with visibility community",)),
    "delete_image": Policy(ADMIN | (MEMBER & PROJECT), ("DELETE " + IMAGE,)),
    "upload_image": Policy(ADMIN | (MEMBER & PROJECT), ("PUT %s/file" % IMAGE,)),
    "download_image": Policy(ADMIN | (MEMBER & REACHABLE), ("GET %s/file" % IMAGE,)),
    "deactivate": Policy(ADMIN | (MEMBER & PROJECT), (
        "POST %s/actions/deactivate" % IMAGE,)),
    "reactivate": Policy(ADMIN | (MEMBER & PROJECT), (
        "POST %s/actions/reactivate" % IMAGE,)),
    "add_member": Policy(ADMIN | (MEMBER & PROJECT), ("POST " + MEMBERS,)),
    "get_members": Policy(ADMIN | (READER & (PROJECT | IMAGE_MEMBER)), ("GET " + MEMBERS,)),
    "get_member": Policy(ADMIN | (READER & (PROJECT | IMAGE_MEMBER)), (
        "GET %s/{member_id}" % MEMBERS,)),
    "modify_member": Policy(ADMIN | (MEMBER & IMAGE_MEMBER), (
        "PUT %s/{member_id}" % MEMBERS,)),
    "delete_member": Policy(ADMIN | (MEMBER & PROJECT), (
        "DELETE %s/{member_id}" % MEMBERS,)),
    "default": Policy(Anyone(), ("the rules that name it",), scope=None),
    "add_task": Policy(Rule("default"), ("POST /v2/tasks, after tasks_api_access",)),
    "tasks_api_access": Policy(ADMIN, ("GET /v2/tasks/{task_id}", "POST /v2/tasks")),
}


def allowed(ctx, rule, target):
    """Whether ``ctx`` may do ``rule`` to ``target`` (see :func:`enforce`)."""
    if not ctx.authenticated:
        return True
    policy = RULES[rule]
    if policy.scope is not None and ctx.scope != policy.scope:
        return False
    return policy.check(ctx, target)


def enforce(ctx, rule, target):
    """403 unless ``ctx`` may do ``rule`` to ``target``.

    The unauthenticated mode may do everything; any other caller must pass
    the rule's check with a token of the rule's scope (project).
    """
    if not allowed(ctx, rule, target):
        raise _forbidden(rule)


def _forbidden(rule):
    return errors.Forbidden("You are not authorized to complete %s action." % rule)


VISIBILITY_RULES = {"public": "publicize_image", "community": "communitize_image"}


def enforce_visibility(ctx, visibility, target):
    """The rule, if any, for giving ``target`` that ``visibility`` (403)."""
    if isinstance(visibility, str) and visibility in VISIBILITY_RULES:
        enforce(ctx, VISIBILITY_RULES[visibility], target)


def image_target(ctx, image):
    """The target of a rule on ``image`` (an image row), as Glance builds it."""
    shared_with_caller = image["visibility"] == "shared" and image["owner"] != ctx.project_id
    return {"project_id": image["owner"], "owner": image["owner"],
            "visibility": image["visibility"],
            "member_id": ctx.project_id if shared_with_caller else None}


def enforce_image(ctx, rule, image):
    """:func:`enforce` ``rule`` on ``image``, hiding it (404) from a caller that
    may not ``get_image`` it, as Glance does."""
    target = image_target(ctx, image)
    if allowed(ctx, rule, target):
        return
    if rule == "get_image" or not allowed(ctx, "get_image", target):
        raise errors.NotFound("No image found with ID %s" % image["id"])
    raise _forbidden(rule)
