"""Who audits a role/password change: the service that acts, or the save hook with no actor."""

import pytest

from accounts import security, services
from accounts.audit import Action
from accounts.models import AuditLog, Role, User

pytestmark = pytest.mark.django_db


def test_a_caller_audits_only_the_user_it_names_and_tokens_still_end(make_user):
    named = make_user(Role.AGENT)
    other = make_user(Role.AGENT)
    stamps = {u.pk: u.tokens_valid_after for u in (named, other)}
    with security.audited_by_caller(named) as changes:
        named.role = Role.MANAGER
        named.save()
        other.role = Role.MANAGER
        other.save()
    assert changes == [security.Change(Action.ROLE_CHANGED, {"old": "agent", "new": "manager"})]
    # The other user's change was not the caller's: audited at once, with no actor.
    entry = AuditLog.objects.get(action=Action.ROLE_CHANGED)
    assert (entry.target, entry.actor) == (other.email, None)
    # Both users' tokens ended on the save, whoever audits.
    for user in User.objects.filter(pk__in=stamps):
        assert user.tokens_valid_after > stamps[user.pk]


def test_the_caller_block_ends_with_its_scope(make_user):
    user = make_user(Role.AGENT)
    with pytest.raises(RuntimeError), security.audited_by_caller(user):
        raise RuntimeError
    user.role = Role.MANAGER
    user.save()
    assert AuditLog.objects.get(action=Action.ROLE_CHANGED).actor is None


def test_user_update_audits_a_role_change_once_with_its_actor(make_user, admin_user):
    user = make_user(Role.AGENT)
    services.user_update(user=user, actor=admin_user, role=Role.MANAGER, first_name="Ann")
    user = User.objects.get(pk=user.pk)
    assert (user.role, user.first_name, user.is_staff) == (Role.MANAGER, "Ann", True)
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target) == (
        Action.ROLE_CHANGED,
        admin_user,
        user.email,
    )


def test_user_update_without_a_role_change_audits_nothing(make_user, admin_user):
    user = make_user(Role.AGENT)
    services.user_update(user=user, actor=admin_user, last_name="Lee")
    services.user_update(user=user, actor=admin_user)
    assert User.objects.get(pk=user.pk).last_name == "Lee"
    assert not AuditLog.objects.exists()


@pytest.mark.parametrize("changes", [{"password": "x"}, {"is_superuser": True}, {"role": "boss"}])
def test_user_update_refuses_what_it_does_not_edit(make_user, admin_user, changes):
    user = make_user(Role.AGENT)
    with pytest.raises(ValueError):
        services.user_update(user=user, actor=admin_user, **changes)
    assert User.objects.get(pk=user.pk).role == Role.AGENT


def test_user_change_password_audits_once_with_its_actor(make_user, admin_user):
    user = make_user(Role.AGENT)
    services.user_change_password(user=user, password="a-new-long-passphrase-42", actor=admin_user)
    assert User.objects.get(pk=user.pk).check_password("a-new-long-passphrase-42")
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor) == (Action.PASSWORD_CHANGED, admin_user)
