"""The policy table prints Glance's default check strings, and evaluates them."""

import pytest

from glancelet import context, errors, policy

# Glance's defaults (glance/policies/*.py, secure RBAC), as oslopolicy-sample-generator
# prints them, for the rules whose check is more than one word.
GLANCE_DEFAULTS = {
    "get_images": "rule:context_is_admin or (role:reader and project_id:%(project_id)s)",
    "get_image": "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or "
                 "project_id:%(member_id)s or 'community':%(visibility)s or "
                 "'public':%(visibility)s or 'shared':%(visibility)s))",
    "add_image": "rule:context_is_admin or (role:member and project_id:%(project_id)s and "
                 "project_id:%(owner)s)",
    "delete_image": "rule:context_is_admin or (role:member and project_id:%(project_id)s)",
    "publicize_image": "rule:context_is_admin",
    "modify_member": "rule:context_is_admin or (role:member and project_id:%(member_id)s)",
    "get_member": "rule:context_is_admin or (role:reader and (project_id:%(project_id)s or "
                  "project_id:%(member_id)s))",
    "tasks_api_access": "rule:context_is_admin",
    "add_task": "rule:default",
    "default": "",
}


@pytest.mark.parametrize("rule", sorted(GLANCE_DEFAULTS))
def test_rules_print_as_glance_writes_them(rule):
    assert str(policy.RULES[rule].check) == GLANCE_DEFAULTS[rule]


def test_every_api_rule_is_project_scoped():
    scoped = {name for name, rule in policy.RULES.items() if rule.scope == "project"}
    assert scoped == set(policy.RULES) - {"context_is_admin", "default"}


def _ctx(project, roles, scope="project"):
    return context.RequestContext(project_id=project, roles=roles, scope=scope)


IMAGE = {"id": "i", "owner": "alice", "visibility": "shared"}


def test_image_targets_and_outcomes():
    member_of_image = _ctx("bob", ["member", "reader"])
    assert policy.image_target(member_of_image, IMAGE)["member_id"] == "bob"
    assert policy.image_target(_ctx("alice", ["reader"]), IMAGE)["member_id"] is None
    policy.enforce_image(member_of_image, "modify_member", IMAGE)
    with pytest.raises(errors.HTTPError) as raised:
        policy.enforce_image(member_of_image, "modify_image", IMAGE)
    assert raised.value.status == 403
    with pytest.raises(errors.HTTPError) as raised:
        policy.enforce_image(_ctx(None, ["admin"], scope="system"), "modify_image", IMAGE)
    assert raised.value.status == 404
    unauthenticated = context.RequestContext(authenticated=False)
    assert all(policy.allowed(unauthenticated, rule, {}) for rule in policy.RULES)
