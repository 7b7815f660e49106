import pytest
from django.contrib.auth.models import Group
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from accounts.models import PendingEmail, Role, User
from accounts.roles import MANAGER_GROUP, MANAGER_PERMISSIONS, setup_roles

# Every admin page of the console, by who may open it.
STAFF_PAGES = [
    "/admin/",
    "/admin/agents/agent/",
    "/admin/agents/agent/add/",
    "/admin/leads/lead/",
    "/admin/leads/lead/add/",
    "/admin/leads/importbatch/",
    "/admin/leads/leadactivity/",
    "/admin/assignments/assignment/",
    "/admin/assignments/rotationstate/",
]
ADMIN_ONLY_PAGES = [
    "/admin/accounts/user/",
    "/admin/accounts/user/add/",
    "/admin/auth/group/",
    "/admin/accounts/auditlog/",
    "/admin/accounts/pendingemail/",
]


@pytest.fixture
def browser(client):
    def login(user):
        client.force_login(user)
        return client

    return login


@pytest.mark.parametrize("page", STAFF_PAGES + ADMIN_ONLY_PAGES)
def test_admin_sees_every_page(browser, admin_user, page):
    assert browser(admin_user).get(page).status_code == 200


@pytest.mark.parametrize("page", STAFF_PAGES)
def test_manager_sees_the_desk(browser, manager, page):
    assert browser(manager).get(page).status_code == 200


@pytest.mark.parametrize("page", ADMIN_ONLY_PAGES)
def test_manager_cannot_open_users_groups_or_audit(browser, manager, page):
    assert browser(manager).get(page).status_code == 403


def test_admin_lists_the_kept_emails(browser, admin_user, agent):
    PendingEmail.objects.create(
        task="agents.tasks.send_assignment_email",
        args=[agent.pk, 3],
        next_attempt_at=timezone.now(),
        last_error="ConnectionRefusedError: [Errno 111] Connection refused",
    )
    body = browser(admin_user).get("/admin/accounts/pendingemail/").content.decode()
    assert "agents.tasks.send_assignment_email" in body
    assert "ConnectionRefusedError" in body


def test_manager_index_does_not_list_users(browser, manager):
    body = browser(manager).get("/admin/").content.decode()
    assert "/admin/accounts/user/" not in body
    assert "/admin/auth/group/" not in body
    assert "/admin/leads/lead/" in body


def test_manager_cannot_make_anyone_admin(browser, manager, make_user):
    someone = make_user(Role.AGENT)
    client = browser(manager)
    response = client.post(
        f"/admin/accounts/user/{someone.pk}/change/",
        {"email": someone.email, "role": Role.ADMIN, "is_active": "on"},
    )
    assert response.status_code == 403
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "new@example.com",
            "role": Role.ADMIN,
            "password1": "x" * 20,
            "password2": "x" * 20,
        },
    )
    assert response.status_code == 403
    someone.refresh_from_db()
    assert someone.role == Role.AGENT
    assert not User.objects.filter(email="new@example.com").exists()


@pytest.mark.parametrize("page", ["/admin/", *STAFF_PAGES[1:], *ADMIN_ONLY_PAGES])
def test_agent_is_sent_to_the_login_page(browser, agent, page):
    response = browser(agent.user).get(page)
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_anonymous_is_sent_to_the_login_page(client):
    response = client.get("/admin/leads/lead/")
    assert response.status_code == 302
    assert response["Location"].startswith("/admin/login/")


def test_admin_can_change_a_role(browser, admin_user, make_user):
    someone = make_user(Role.AGENT, email="promote@example.com")
    response = browser(admin_user).post(
        f"/admin/accounts/user/{someone.pk}/change/",
        {"email": someone.email, "role": Role.MANAGER, "is_active": "on"},
    )
    assert response.status_code == 302
    someone.refresh_from_db()
    assert someone.role == Role.MANAGER
    assert someone.is_staff and not someone.is_superuser
    assert someone.groups.filter(name=MANAGER_GROUP).exists()


def test_managers_group_has_exactly_the_role_permissions(db):
    group = Group.objects.get(name=MANAGER_GROUP)  # created by post_migrate
    got = {f"{p.content_type.app_label}.{p.codename}" for p in group.permissions.all()}
    wanted = {
        f"{label.split('.')[0]}.{action}_{label.split('.')[1]}"
        for label, actions in MANAGER_PERMISSIONS.items()
        for action in actions
    }
    assert got == wanted
    assert not any(name.startswith(("accounts.", "auth.")) for name in got)


def test_role_changes_move_users_in_and_out_of_the_group(make_user):
    user = make_user(Role.MANAGER)  # created as a manager
    assert user.groups.filter(name=MANAGER_GROUP).exists()
    assert user.has_perm("leads.change_lead")
    assert not user.has_perm("accounts.change_user")
    user.role = Role.AGENT
    user.save()
    user = User.objects.get(pk=user.pk)  # fresh permission cache
    assert not user.groups.exists()
    assert not user.has_perm("leads.view_lead")
    user.role = Role.MANAGER  # an existing user saved as a manager joins
    user.save(update_fields=["role"])
    user = User.objects.get(pk=user.pk)
    assert list(user.groups.values_list("name", flat=True)) == [MANAGER_GROUP]
    assert user.has_perm("leads.change_lead")
    user.role = Role.ADMIN  # and leaves again for any other role
    user.save()
    assert not User.objects.get(pk=user.pk).groups.exists()


def test_setup_roles_repairs_drift_and_is_idempotent(make_user):
    manager = make_user(Role.MANAGER)
    agent_user = make_user(Role.AGENT)
    group = Group.objects.get(name=MANAGER_GROUP)
    group.permissions.clear()
    group.user_set.remove(manager)
    group.user_set.add(agent_user)  # drift: an agent slipped in by hand
    setup_roles()
    setup_roles()
    assert set(group.user_set.all()) == {manager}
    assert group.permissions.count() == sum(len(a) for a in MANAGER_PERMISSIONS.values())


def test_setup_roles_command_reports(make_user, capsys):
    make_user(Role.MANAGER)
    Group.objects.filter(name=MANAGER_GROUP).delete()
    call_command("setup_roles")
    out = capsys.readouterr().out
    assert 'Group "Managers"' in out and "1 manager(s)" in out
    assert Group.objects.get(name=MANAGER_GROUP).user_set.count() == 1


def test_setup_roles_command_refuses_an_unknown_database(db):
    with pytest.raises(CommandError, match="Unknown database"):
        call_command("setup_roles", "--database", "nope")


def test_admin_adds_a_manager_who_joins_the_group(browser, admin_user):
    response = browser(admin_user).post(
        "/admin/accounts/user/add/",
        {
            "email": "New.Manager@Example.com",
            "role": Role.MANAGER,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-31",
            "password2": "a-long-enough-passphrase-31",
        },
    )
    assert response.status_code == 302, response.content[:2000]
    user = User.objects.get(email="new.manager@example.com")
    assert user.is_staff and user.check_password("a-long-enough-passphrase-31")
    assert user.groups.filter(name=MANAGER_GROUP).exists()
