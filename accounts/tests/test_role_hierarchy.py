"""The role order (admin > manager > agent) in the accounts services.

``accounts.services.ensure_may_manage`` is the one rule; the user services and
the agent services (``agents.services``, ``assignments.services.agent_deactivate``)
call it before they write. See agents/tests/test_role_hierarchy.py for the
API and console paths.
"""

import pytest
from django.contrib.auth.models import AnonymousUser

from accounts import services
from accounts.models import AuditLog, Role, User
from common.errors import DomainError

pytestmark = pytest.mark.django_db


def _refused(call):
    with pytest.raises(DomainError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")
    return caught.value


@pytest.mark.parametrize(
    "changes",
    [
        {"email": "mallory@attacker.example"},
        {"first_name": "Not"},
        {"is_active": False},
        {"role": Role.AGENT},
    ],
)
def test_a_manager_cannot_edit_an_admin(manager, admin_user, changes):
    _refused(lambda: services.user_update(user=admin_user, actor=manager, **changes))
    admin = User.objects.get(pk=admin_user.pk)
    assert (admin.email, admin.first_name, admin.is_active, admin.role) == (
        "admin@example.com",
        "",
        True,
        Role.ADMIN,
    )
    assert not AuditLog.objects.exists()


def test_a_manager_cannot_set_an_admins_password(manager, admin_user, password):
    _refused(
        lambda: services.user_change_password(
            user=admin_user, password="mallory-chose-this-one-77", actor=manager
        )
    )
    _refused(lambda: services.user_change_password(user=admin_user, password=None, actor=manager))
    admin = User.objects.get(pk=admin_user.pk)
    assert admin.check_password(password)
    assert admin.tokens_valid_after == admin_user.tokens_valid_after


def test_nobody_grants_a_role_above_their_own(manager, make_user):
    someone = make_user(Role.AGENT)
    _refused(lambda: services.user_update(user=someone, actor=manager, role=Role.ADMIN))
    assert User.objects.get(pk=someone.pk).role == Role.AGENT
    # Up to their own role is within their station.
    services.user_update(user=someone, actor=manager, role=Role.MANAGER)
    assert User.objects.get(pk=someone.pk).role == Role.MANAGER


def test_an_agent_changes_nobody_above_it(make_user, manager):
    agent_user = make_user(Role.AGENT)
    _refused(lambda: services.user_update(user=manager, actor=agent_user, last_name="X"))
    # Someone not signed in is no role at all: refused even for an agent.
    _refused(lambda: services.ensure_may_manage(AnonymousUser(), agent_user))


def test_admins_and_the_system_may_change_anyone(admin_user, make_user):
    other_admin = make_user(Role.ADMIN)
    services.user_update(user=other_admin, actor=admin_user, first_name="Eve")
    services.user_update(user=other_admin, actor=None, last_name="Ops")
    services.user_change_password(user=other_admin, password="an-admin-set-this-88", actor=None)
    other_admin = User.objects.get(pk=other_admin.pk)
    assert (other_admin.first_name, other_admin.last_name) == ("Eve", "Ops")
    assert other_admin.check_password("an-admin-set-this-88")


def test_the_target_role_is_read_from_the_database(manager, make_user):
    someone = make_user(Role.AGENT)
    stale = User.objects.get(pk=someone.pk)
    User.objects.filter(pk=someone.pk).update(role=Role.ADMIN)
    _refused(lambda: services.user_update(user=stale, actor=manager, email="m@attacker.example"))
    assert User.objects.get(pk=someone.pk).email == someone.email
