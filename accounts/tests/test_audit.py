"""The audit log: logins (success and failure, with IP), never a password."""

import datetime

import pytest
from django.contrib.auth.models import AnonymousUser
from rest_framework.test import APIClient

from accounts import audit
from accounts.models import AuditLog

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"

pytestmark = pytest.mark.django_db


def test_successful_login_is_audited_with_ip_and_request_id(manager, password):
    response = APIClient().post(
        TOKEN,
        {"email": "manager@example.com", "password": password},
        REMOTE_ADDR="198.51.100.4",
        HTTP_X_REQUEST_ID="req-123",
    )
    assert response.status_code == 200
    entry = AuditLog.objects.get()
    assert entry.action == audit.Action.LOGIN_SUCCEEDED
    assert entry.actor == manager
    assert entry.actor_email == "manager@example.com"
    assert entry.ip == "198.51.100.4"
    assert entry.request_id == "req-123"


def test_failed_logins_are_audited_without_the_password(manager):
    for email in ("manager@example.com", "Nobody@Example.com"):
        APIClient().post(
            TOKEN, {"email": email, "password": "Sup3r-secret-guess"}, REMOTE_ADDR="203.0.113.9"
        )
    entries = list(AuditLog.objects.order_by("id"))
    assert [e.action for e in entries] == [audit.Action.LOGIN_FAILED] * 2
    assert [e.target for e in entries] == ["manager@example.com", "nobody@example.com"]
    assert all(e.actor is None and e.ip == "203.0.113.9" for e in entries)
    assert "Sup3r-secret-guess" not in str(list(AuditLog.objects.values()))


def test_reuse_of_a_rotated_refresh_token_is_audited(manager, password):
    tokens = APIClient().post(TOKEN, {"email": manager.email, "password": password}).json()
    APIClient().post(REFRESH, {"refresh": tokens["refresh"]})
    APIClient().post(REFRESH, {"refresh": tokens["refresh"]})
    assert AuditLog.objects.filter(action=audit.Action.TOKEN_REUSED).count() == 1


def test_record_drops_secret_keys_and_stores_json(admin_user):
    entry = audit.record(
        audit.Action.DISTRIBUTION,
        actor=admin_user,
        target="batch:7",
        password="x",
        refresh="y",
        assigned=12,
        at=datetime.date(2026, 1, 2),
    )
    entry.refresh_from_db()
    assert entry.data == {"assigned": 12, "at": "2026-01-02"}
    assert entry.target == "batch:7"
    assert entry.ip is None


def test_anonymous_actor_is_stored_as_none():
    entry = audit.record(audit.Action.BACKUP, actor=AnonymousUser(), target="s3://b/k")
    assert entry.actor is None and entry.actor_email == ""
