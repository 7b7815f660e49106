"""JWT races and revocations: rotation under concurrency, role/password changes by every path."""

import io
import threading
from datetime import timedelta

import jwt
import pytest
from django.apps import apps
from django.contrib.auth.hashers import PBKDF2PasswordHasher
from django.core import checks
from django.core.checks.registry import registry
from django.core.management import call_command
from django.db import connection
from django.test import override_settings
from django.utils import timezone
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.audit import Action
from accounts.checks import check_secrets, check_token_blacklist
from accounts.models import AuditLog, Role, User

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
ME = "/api/v1/auth/me/"


def login(email, password):
    response = APIClient().post(TOKEN, {"email": email, "password": password}, format="json")
    assert response.status_code == 200, response.content
    return response.json()


def me(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(ME)


def jti(raw):
    return jwt.decode(raw, options={"verify_signature": False})["jti"]


def refresh(raw):
    return APIClient().post(REFRESH, {"refresh": raw}, format="json")


def _race(raw, racers):
    barrier = threading.Barrier(racers)
    statuses = []
    lock = threading.Lock()

    def race():
        try:
            barrier.wait(timeout=10)
            response = refresh(raw)
            with lock:
                statuses.append((response.status_code, response.json()))
        finally:
            connection.close()

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return statuses


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("racers", [2, 6])
def test_concurrent_refreshes_with_one_token_exactly_one_wins(manager, password, racers):
    if connection.vendor != "mysql":
        pytest.skip("row locks are what is tested: needs MariaDB (SQLite locks the whole file)")
    tokens = login("manager@example.com", password)
    statuses = _race(tokens["refresh"], racers)
    codes = sorted(status for status, _body in statuses)
    assert codes == [200] + [401] * (racers - 1), statuses
    winner = next(body for status, body in statuses if status == 200)
    losers = [body["error"]["code"] for status, body in statuses if status != 200]
    assert set(losers) <= {"token_reused", "token_not_valid"}
    # The old token is blacklisted exactly once; the winner's pair works.
    old = OutstandingToken.objects.get(jti=jti(tokens["refresh"]))
    assert BlacklistedToken.objects.filter(token=old).count() == 1
    assert winner["refresh"] != tokens["refresh"]


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
@override_settings(JWT_REFRESH_REUSE_GRACE_SECONDS=60)
def test_with_a_reuse_grace_the_race_winner_keeps_its_session(manager, password):
    if connection.vendor != "mysql":
        pytest.skip("row locks are what is tested: needs MariaDB (SQLite locks the whole file)")
    tokens = login("manager@example.com", password)
    statuses = _race(tokens["refresh"], 6)
    assert sorted(status for status, _body in statuses) == [200] + [401] * 5
    winner = next(body for status, body in statuses if status == 200)
    assert me(winner["access"]).status_code == 200
    assert refresh(winner["refresh"]).status_code == 200


@pytest.mark.django_db
def test_reuse_after_the_grace_revokes_everything(manager, password):
    tokens = login("manager@example.com", password)
    second = refresh(tokens["refresh"]).json()
    BlacklistedToken.objects.update(blacklisted_at=timezone.now() - timedelta(minutes=5))
    with override_settings(JWT_REFRESH_REUSE_GRACE_SECONDS=60):
        assert refresh(tokens["refresh"]).json()["error"]["code"] == "token_reused"
    assert me(second["access"]).status_code == 401
    assert refresh(second["refresh"]).status_code == 401


def _admin_change_form(client, user, **over):
    data = {
        "email": user.email,
        "first_name": user.first_name,
        "last_name": user.last_name,
        "role": user.role,
        "is_active": "on",
        **over,
    }
    return client.post(f"/admin/accounts/user/{user.pk}/change/", data)


def _admin_password_form(client, user, new_password):
    return client.post(
        f"/admin/accounts/user/{user.pk}/password/",
        {"password1": new_password, "password2": new_password},
    )


@pytest.mark.django_db
def test_role_change_in_the_admin_ends_tokens_and_is_audited_as_the_admin(
    client, admin_user, manager, password
):
    tokens = login("manager@example.com", password)
    client.force_login(admin_user)
    assert client.get(f"/admin/accounts/user/{manager.pk}/change/").status_code == 200
    response = _admin_change_form(client, manager, role=Role.AGENT)
    assert response.status_code == 302, response.content[:2000]
    manager.refresh_from_db()
    assert manager.role == Role.AGENT
    assert me(tokens["access"]).status_code == 401
    assert refresh(tokens["refresh"]).status_code == 401
    fresh = login("manager@example.com", password)
    assert me(fresh["access"]).json()["role"] == "agent"
    entry = AuditLog.objects.get(action=Action.ROLE_CHANGED)  # exactly one
    assert entry.actor == admin_user
    assert entry.actor_email == "admin@example.com"
    assert entry.target == "manager@example.com"
    assert entry.data == {"old": "manager", "new": "agent"}


@pytest.mark.django_db
def test_password_change_in_the_admin_ends_tokens_and_is_audited_as_the_admin(
    client, admin_user, manager, password
):
    tokens = login("manager@example.com", password)
    client.force_login(admin_user)
    assert client.get(f"/admin/accounts/user/{manager.pk}/password/").status_code == 200
    response = _admin_password_form(client, manager, "brand-new-passphrase-77")
    assert response.status_code == 302, response.content[:2000]
    assert me(tokens["access"]).status_code == 401
    assert refresh(tokens["refresh"]).status_code == 401
    assert me(login("manager@example.com", "brand-new-passphrase-77")["access"]).status_code == 200
    entry = AuditLog.objects.get(action=Action.PASSWORD_CHANGED)  # exactly one
    assert entry.actor == admin_user
    assert entry.target == "manager@example.com"
    assert "brand-new-passphrase-77" not in str(list(AuditLog.objects.values()))


@pytest.mark.django_db
def test_admin_password_form_runs_the_validators(client, admin_user, manager, password):
    tokens = login("manager@example.com", password)
    client.force_login(admin_user)
    response = _admin_password_form(client, manager, "12345678")
    assert response.status_code == 200
    assert response.context["form"].errors["password2"]
    manager.refresh_from_db()
    assert manager.check_password(password)
    assert me(tokens["access"]).status_code == 200
    assert not AuditLog.objects.filter(action=Action.PASSWORD_CHANGED).exists()


@pytest.mark.django_db
def test_admin_edit_without_a_role_change_keeps_sessions(client, admin_user, manager, password):
    tokens = login("manager@example.com", password)
    client.force_login(admin_user)
    response = _admin_change_form(client, manager, first_name="Mona")
    assert response.status_code == 302, response.content[:2000]
    manager.refresh_from_db()
    assert manager.first_name == "Mona"
    assert me(tokens["access"]).status_code == 200
    assert not AuditLog.objects.filter(
        action__in=[Action.ROLE_CHANGED, Action.PASSWORD_CHANGED]
    ).exists()


@pytest.mark.django_db
def test_changepassword_command_ends_tokens_and_is_audited_without_an_actor(
    manager, password, monkeypatch
):
    tokens = login("manager@example.com", password)
    monkeypatch.setattr("getpass.getpass", lambda prompt="": "a-new-long-passphrase-42")
    call_command("changepassword", "manager@example.com", stdout=io.StringIO())
    assert me(tokens["access"]).status_code == 401
    assert refresh(tokens["refresh"]).status_code == 401
    assert me(login("manager@example.com", "a-new-long-passphrase-42")["access"]).status_code == 200
    entry = AuditLog.objects.get(action=Action.PASSWORD_CHANGED)  # exactly one
    assert entry.actor is None and entry.actor_email == ""
    assert entry.target == "manager@example.com"


@pytest.mark.django_db
def test_a_role_saved_outside_any_service_ends_tokens_and_is_audited_without_an_actor(
    manager, password
):
    tokens = login("manager@example.com", password)
    user = User.objects.get(pk=manager.pk)  # as a shell would
    user.role = Role.AGENT
    user.save()
    assert me(tokens["access"]).status_code == 401
    assert refresh(tokens["refresh"]).status_code == 401
    entry = AuditLog.objects.get(action=Action.ROLE_CHANGED)
    assert entry.actor is None
    assert entry.data == {"old": "manager", "new": "agent"}


@pytest.mark.django_db
def test_other_edits_and_hasher_upgrades_keep_sessions(make_user, password):
    # A user whose hash came from an older hasher: login upgrades it in place.
    user = make_user(Role.MANAGER, email="old@example.com")
    user.password = PBKDF2PasswordHasher().encode(password, PBKDF2PasswordHasher().salt())
    User.objects.filter(pk=user.pk).update(password=user.password)
    tokens = login("old@example.com", password)
    user.refresh_from_db()
    assert user.password.startswith("argon2")  # upgraded by that login
    assert me(tokens["access"]).status_code == 200
    user.first_name = "Renamed"
    user.save()
    assert me(tokens["access"]).status_code == 200
    assert not AuditLog.objects.filter(
        action__in=[Action.ROLE_CHANGED, Action.PASSWORD_CHANGED]
    ).exists()


def test_startup_check_fails_when_rotating_without_the_blacklist_app():
    assert check_token_blacklist(None) == []
    installed = [a.name for a in apps.get_app_configs()]
    without = [name for name in installed if name != "rest_framework_simplejwt.token_blacklist"]
    with override_settings(INSTALLED_APPS=without):
        errors = check_token_blacklist(None)
    assert [e.id for e in errors] == ["accounts.E001"]
    assert errors[0].level == checks.ERROR


def test_checks_are_registered():
    assert check_token_blacklist in registry.get_checks()
    assert check_secrets in registry.get_checks(include_deployment_checks=True)
    assert check_secrets not in registry.get_checks()  # a deploy check only


@pytest.mark.django_db
def test_flushexpiredtokens_removes_only_expired_tokens(manager, password):
    live = login("manager@example.com", password)
    expired = OutstandingToken.objects.get(jti=jti(live["refresh"]))
    stale = OutstandingToken.objects.create(
        user=manager,
        jti="stale-jti",
        token="stale",
        created_at=timezone.now() - timedelta(days=30),
        expires_at=timezone.now() - timedelta(days=23),
    )
    BlacklistedToken.objects.create(token=stale)
    call_command("flushexpiredtokens")
    assert OutstandingToken.objects.filter(pk=expired.pk).exists()
    assert not OutstandingToken.objects.filter(pk=stale.pk).exists()


@pytest.mark.django_db
def test_admin_password_page_can_disable_password_login(client, admin_user, manager):
    client.force_login(admin_user)
    response = client.post(
        f"/admin/accounts/user/{manager.pk}/password/",
        {"usable_password": "false", "unset-password": "1"},
    )
    assert response.status_code == 302, response.content[:2000]
    manager.refresh_from_db()
    assert not manager.has_usable_password()
