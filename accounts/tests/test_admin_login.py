# ruff: noqa: RUF001 - lookalike and full-width letters are the subject
"""The admin sign-in (``/admin/login/``): the API login's limits and audit.

The attack: 30 wrong passwords in a row at ``/admin/login/`` all got a 200
form, and nothing was audited. The admin login now counts in the same
limiter buckets as ``POST /api/v1/auth/token/`` (per IP and per email, in
the shared "ratelimit" cache), answers a refused attempt with 429 and
``Retry-After`` without checking the password, fails closed (503) when the
limiter's cache is down, and writes ``login_failed`` / ``login_succeeded``.
"""

import pytest
from django.core.cache import caches
from django.test import Client, override_settings
from rest_framework.test import APIClient

from accounts.audit import Action
from accounts.models import AuditLog, Role

LOGIN = "/admin/login/"
IP = "198.51.100.23"
# Day-long windows, so that a window never ends in the middle of a test; the
# counts are the defaults (RATELIMIT_LOGIN_EMAIL=10/m, RATELIMIT_LOGIN_IP=20/m).
LIMITS = {"RATELIMIT_LOGIN_EMAIL": "10/d", "RATELIMIT_LOGIN_IP": "20/d"}

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_limiter():
    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


def admin_login(username, password="wrong-password", ip=IP, client=None):
    client = client or Client()
    return client.post(
        LOGIN, {"username": username, "password": password, "next": "/admin/"}, REMOTE_ADDR=ip
    )


def _assert_429(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    assert b"Too many sign-in attempts" in response.content
    assert b'name="password"' not in response.content


@override_settings(**LIMITS)
def test_thirty_wrong_passwords_hit_the_limit_at_the_configured_count(admin_user, password):
    statuses = [admin_login("admin@example.com").status_code for _ in range(30)]
    assert statuses == [200] * 10 + [429] * 20
    _assert_429(admin_login("admin@example.com"))
    # Refused attempts are not checked: the right password waits too ...
    _assert_429(admin_login("admin@example.com", password, ip="203.0.113.50"))
    # ... and only the checked ones were audited, as failures, with the client's IP.
    failed = AuditLog.objects.filter(action=Action.LOGIN_FAILED)
    assert failed.count() == 10
    assert set(failed.values_list("target", "ip", "actor")) == {("admin@example.com", IP, None)}
    assert not AuditLog.objects.filter(action=Action.LOGIN_SUCCEEDED).exists()


@override_settings(**LIMITS)
def test_the_limit_per_ip_spans_emails(admin_user):
    statuses = [admin_login(f"guess{n}@example.com").status_code for n in range(21)]
    assert statuses == [200] * 20 + [429]
    # Another client is not affected.
    assert admin_login("guess@example.com", ip="198.51.100.24").status_code == 200


@override_settings(**LIMITS)
def test_the_email_limit_counts_case_and_width_variants_together(admin_user):
    for variant in ["admin@example.com", "ADMIN@example.com", "ａｄｍｉｎ@ＥＸＡＭＰＬＥ.com"] * 4:
        admin_login(variant, ip="203.0.113.7")
    _assert_429(admin_login(" Admin@Example.COM ", ip="203.0.113.8"))


@override_settings(**LIMITS)
def test_admin_and_api_logins_share_one_budget(admin_user):
    for _ in range(10):
        response = APIClient().post(
            "/api/v1/auth/token/",
            {"email": "admin@example.com", "password": "wrong-password"},
            format="json",
            REMOTE_ADDR="203.0.113.9",
        )
        assert response.status_code == 401
    _assert_429(admin_login("admin@example.com", ip="203.0.113.10"))


@override_settings(**LIMITS)
def test_a_successful_admin_login_is_audited(admin_user, password):
    client = Client()
    response = admin_login("Admin@Example.com", password, client=client)
    assert response.status_code == 302
    assert response["Location"] == "/admin/"
    assert client.get("/admin/").status_code == 200
    entry = AuditLog.objects.get()
    assert (entry.action, entry.actor, entry.target, entry.ip) == (
        Action.LOGIN_SUCCEEDED,
        admin_user,
        "admin@example.com",
        IP,
    )
    assert entry.data == {"via": "admin"}


@override_settings(**LIMITS)
def test_refused_admin_logins_are_audited_without_the_password(agent, password, make_user):
    inactive = make_user(Role.MANAGER, email="gone@example.com", is_active=False)
    assert admin_login("nobody@example.com", "Sup3r-secret-guess").status_code == 200
    # Right password, but an agent is not staff; and an inactive user.
    assert admin_login(agent.user.email, password).status_code == 200
    assert admin_login(inactive.email, password).status_code == 200
    entries = list(AuditLog.objects.filter(action__startswith="login_").order_by("id"))
    assert [e.action for e in entries] == [Action.LOGIN_FAILED] * 3
    assert [e.target for e in entries] == [
        "nobody@example.com",
        "asha@example.com",
        "gone@example.com",
    ]
    assert all(e.actor is None and e.ip == IP and e.data == {"via": "admin"} for e in entries)
    assert "Sup3r-secret-guess" not in str(list(AuditLog.objects.values()))


def test_a_limiter_outage_fails_closed_with_503(admin_user, password):
    down = {
        "default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"},
        "ratelimit": {
            "BACKEND": "django_redis.cache.RedisCache",
            # Nothing listens on port 1: every limiter call fails at once.
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.5, "SOCKET_TIMEOUT": 0.5},
        },
    }
    with override_settings(CACHES=down, RATELIMIT_UNAVAILABLE_RETRY_AFTER=7):
        client = Client()
        response = admin_login("admin@example.com", password, client=client)
        assert response.status_code == 503
        assert response["Retry-After"] == "7"
        assert b"temporarily unavailable" in response.content
        # The page itself still opens; only the password check waits.
        assert client.get(LOGIN).status_code == 200
    assert not AuditLog.objects.exists()
    assert "_auth_user_id" not in client.session


def test_the_login_page_still_renders_and_signs_in(admin_user, password):
    page = Client().get(LOGIN)
    assert page.status_code == 200
    assert b'name="username"' in page.content
    assert admin_login("admin@example.com", password).status_code == 302
