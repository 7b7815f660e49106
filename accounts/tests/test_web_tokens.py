"""The web app's token flow: the refresh token in an HttpOnly, SameSite=Strict cookie.

What the browser gets (cookie attributes), what the SPA does with it (refresh,
rotation, logout), what a stolen or stale cookie gets (401 and the cookie
cleared), what a page of another site can make a browser do with it (nothing),
and that the JSON clients did not change.
"""

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import pytest
from django.test import override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.api.web_client import REFRESH_COOKIE
from accounts.tokens import AccessToken, RefreshToken

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"
WEB = {"HTTP_X_LEADLINE_CLIENT": "web"}

BASE_DIR = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.django_db


def web_login(client, email, password, **extra):
    return client.post(TOKEN, {"email": email, "password": password}, format="json", **WEB, **extra)


def jti(refresh):
    return RefreshToken(refresh, verify=False)["jti"]


def me(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get(ME)


@pytest.fixture
def browser(manager, password):
    """A client that signed in as the web app does; it keeps its cookies like a browser."""
    client = APIClient()
    response = web_login(client, "manager@example.com", password)
    assert response.status_code == 200
    return client


def assert_cleared(response):
    cookie = response.cookies[REFRESH_COOKIE]
    assert cookie.value == ""
    assert cookie["max-age"] == 0
    assert cookie["path"] == "/api/v1/auth/"
    assert cookie["httponly"] and cookie["samesite"] == "Strict"


def test_web_login_sets_the_refresh_cookie_and_answers_the_access_token_only(manager, password):
    client = APIClient()
    response = web_login(client, "manager@example.com", password)
    assert response.status_code == 200
    assert set(response.json()) == {"access"}
    assert me(response.json()["access"]).json()["email"] == "manager@example.com"
    cookie = response.cookies[REFRESH_COOKIE]
    assert cookie["httponly"] is True
    assert cookie["samesite"] == "Strict"
    assert cookie["path"] == "/api/v1/auth/"
    assert cookie["max-age"] == 7 * 24 * 3600
    assert not cookie["secure"]  # DEBUG (tests) over plain HTTP
    assert OutstandingToken.objects.filter(jti=jti(cookie.value), user=manager).exists()
    assert response["Cache-Control"] == "no-store"


@override_settings(JWT_REFRESH_COOKIE_SECURE=True)
def test_the_cookie_is_secure_when_configured(manager, password):
    response = web_login(APIClient(), "manager@example.com", password, secure=True)
    assert response.cookies[REFRESH_COOKIE]["secure"] is True
    refreshed = APIClient()
    refreshed.cookies[REFRESH_COOKIE] = response.cookies[REFRESH_COOKIE].value
    rotated = refreshed.post(REFRESH, {}, format="json", secure=True, **WEB)
    assert rotated.status_code == 200
    assert rotated.cookies[REFRESH_COOKIE]["secure"] is True


def test_refresh_with_the_cookie_rotates_it(browser):
    first = browser.cookies[REFRESH_COOKIE].value
    response = browser.post(REFRESH, {}, format="json", **WEB)
    assert response.status_code == 200
    assert set(response.json()) == {"access"}
    assert me(response.json()["access"]).status_code == 200
    second = response.cookies[REFRESH_COOKIE]
    assert second.value and second.value != first
    assert second["httponly"] and second["samesite"] == "Strict"
    assert second["path"] == "/api/v1/auth/" and second["max-age"] == 7 * 24 * 3600
    assert BlacklistedToken.objects.filter(token__jti=jti(first)).exists()
    # The browser now holds the rotated cookie: it refreshes again.
    assert browser.post(REFRESH, {}, format="json", **WEB).status_code == 200


def test_reusing_an_old_cookie_is_401_clears_it_and_ends_the_family(browser):
    old = browser.cookies[REFRESH_COOKIE].value
    rotated = browser.post(REFRESH, {}, format="json", **WEB)
    access = rotated.json()["access"]

    thief = APIClient()
    thief.cookies[REFRESH_COOKIE] = old
    response = thief.post(REFRESH, {}, format="json", **WEB)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_reused"
    assert_cleared(response)
    # Reuse is theft: the rotated cookie and its access token end too.
    assert browser.post(REFRESH, {}, format="json", **WEB).status_code == 401
    assert me(access).status_code == 401


@pytest.mark.parametrize("value", ["garbage", "eyJhbGciOiJIUzI1NiJ9.e30.x"])
def test_a_forged_cookie_is_401_and_cleared(db, value):
    client = APIClient()
    client.cookies[REFRESH_COOKIE] = value
    response = client.post(REFRESH, {}, format="json", **WEB)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert_cleared(response)


def test_an_expired_cookie_is_401_and_cleared(manager):
    token = RefreshToken.for_user(manager)
    token["tva"] = manager.tokens_valid_after.timestamp()
    token.set_exp(lifetime=timedelta(seconds=-10))
    client = APIClient()
    client.cookies[REFRESH_COOKIE] = str(token)
    response = client.post(REFRESH, {}, format="json", **WEB)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"
    assert_cleared(response)


def test_no_cookie_at_all_is_401(db):
    response = APIClient().post(REFRESH, {}, format="json", **WEB)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"
    assert_cleared(response)


def test_logout_revokes_the_cookie_and_clears_it(browser, manager):
    access = browser.post(REFRESH, {}, format="json", **WEB).json()["access"]
    cookie = browser.cookies[REFRESH_COOKIE].value
    response = browser.post(LOGOUT, {}, format="json", **WEB)
    assert response.status_code == 204
    assert_cleared(response)
    assert BlacklistedToken.objects.filter(token__jti=jti(cookie)).exists()
    assert me(access).status_code == 401
    replay = APIClient()
    replay.cookies[REFRESH_COOKIE] = cookie
    assert replay.post(REFRESH, {}, format="json", **WEB).status_code == 401


def test_logout_with_a_dead_cookie_still_clears_it(db):
    client = APIClient()
    client.cookies[REFRESH_COOKIE] = "garbage"
    response = client.post(LOGOUT, {}, format="json", **WEB)
    assert response.status_code == 401
    assert_cleared(response)


# --- cross-site --------------------------------------------------------------


def test_the_cookie_without_the_header_is_refused(browser):
    """A form or a simple fetch from another site can send the cookie, not the header."""
    cookie = browser.cookies[REFRESH_COOKIE].value
    for path in (REFRESH, LOGOUT):
        response = browser.post(path, {}, format="json", HTTP_ORIGIN="https://evil.example")
        assert response.status_code == 403, path
        assert response.json()["error"]["code"] == "csrf_failed"
        assert REFRESH_COOKIE not in response.cookies
    # Nothing happened to the session: the cookie still works for the web app.
    assert not BlacklistedToken.objects.filter(token__jti=jti(cookie)).exists()
    assert browser.post(REFRESH, {}, format="json", **WEB).status_code == 200


def test_the_cookie_without_the_header_is_refused_even_same_origin(browser):
    response = browser.post(REFRESH, {}, format="json")
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "csrf_failed"


def test_a_foreign_origin_is_refused_even_with_the_header(browser, manager, password):
    cookie = browser.cookies[REFRESH_COOKIE].value
    for path in (REFRESH, LOGOUT):
        response = browser.post(path, {}, format="json", HTTP_ORIGIN="https://evil.example", **WEB)
        assert response.status_code == 403
        assert response.json()["error"]["code"] == "csrf_failed"
    login = web_login(
        APIClient(), "manager@example.com", password, HTTP_ORIGIN="https://evil.example"
    )
    assert login.status_code == 403
    assert REFRESH_COOKIE not in login.cookies
    assert not BlacklistedToken.objects.filter(token__jti=jti(cookie)).exists()


def test_the_own_origin_is_accepted(browser):
    response = browser.post(REFRESH, {}, format="json", HTTP_ORIGIN="http://testserver", **WEB)
    assert response.status_code == 200


@override_settings(CSRF_TRUSTED_ORIGINS=["https://app.example.com"])
def test_a_trusted_origin_is_accepted(browser):
    response = browser.post(
        REFRESH, {}, format="json", HTTP_ORIGIN="https://app.example.com", **WEB
    )
    assert response.status_code == 200


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
@pytest.mark.parametrize("origin", ["https://evil.example", "https://app.example.com"])
def test_no_cors_preflight_lets_another_origin_send_the_header(db, origin):
    """The header cannot be sent cross-origin: the browser's preflight is not allowed."""
    response = APIClient().options(
        REFRESH,
        HTTP_ORIGIN=origin,
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
        HTTP_ACCESS_CONTROL_REQUEST_HEADERS="content-type,x-leadline-client",
    )
    allowed = response.get("Access-Control-Allow-Headers", "").lower()
    assert "x-leadline-client" not in allowed
    if origin == "https://evil.example":
        assert "Access-Control-Allow-Origin" not in response
    # Credentials are never shared cross-origin: no cookie would be sent or stored.
    assert "Access-Control-Allow-Credentials" not in response


def test_an_unknown_client_value_is_400(db):
    response = APIClient().post(REFRESH, {}, format="json", HTTP_X_LEADLINE_CLIENT="mobile")
    assert response.status_code == 400
    assert "X-Leadline-Client" in response.json()["error"]["fields"]


# --- JSON clients ------------------------------------------------------------


def test_json_clients_are_unchanged(manager, password):
    client = APIClient()
    pair = client.post(TOKEN, {"email": "manager@example.com", "password": password}, format="json")
    assert set(pair.json()) == {"access", "refresh"}
    assert REFRESH_COOKIE not in pair.cookies
    rotated = client.post(REFRESH, {"refresh": pair.json()["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert set(rotated.json()) == {"access", "refresh"}
    assert REFRESH_COOKIE not in rotated.cookies
    assert client.post(REFRESH, {}, format="json").json()["error"]["fields"] == {
        "refresh": ["This field is required."]
    }
    out = client.post(LOGOUT, {"refresh": rotated.json()["refresh"]}, format="json")
    assert out.status_code == 204
    assert REFRESH_COOKIE not in out.cookies


def test_a_json_refresh_ignores_a_stray_cookie(browser, manager, password):
    pair = APIClient().post(
        TOKEN, {"email": "manager@example.com", "password": password}, format="json"
    )
    cookie = browser.cookies[REFRESH_COOKIE].value
    response = browser.post(REFRESH, {"refresh": pair.json()["refresh"]}, format="json")
    assert response.status_code == 200
    assert set(response.json()) == {"access", "refresh"}
    assert not BlacklistedToken.objects.filter(token__jti=jti(cookie)).exists()


def test_web_refresh_is_rate_limited_like_the_json_one(browser, settings):
    settings.RATELIMIT_REFRESH = "2/m"
    statuses = [browser.post(REFRESH, {}, format="json", **WEB).status_code for _ in range(3)]
    assert statuses == [200, 200, 429]


# --- settings ------------------------------------------------------------------


def _settings_in(env_changes, code):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_SETTINGS_MODULE="config.settings",
        **env_changes,
    )
    result = subprocess.run(  # noqa: S603 - our own interpreter
        [
            sys.executable,
            "-c",
            "import django;django.setup();from django.conf import settings;" + code,
        ],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.strip()


def test_the_cookie_is_secure_in_production_and_not_under_debug():
    code = "print(settings.JWT_REFRESH_COOKIE_SECURE)"
    assert _settings_in({}, code) == "True"
    assert _settings_in({"DJANGO_DEBUG": "true"}, code) == "False"
    assert _settings_in({"DJANGO_DEBUG": "true", "JWT_REFRESH_COOKIE_SECURE": "true"}, code) == (
        "True"
    )


def test_access_lifetime_in_seconds_wins_over_minutes():
    code = "print(settings.SIMPLE_JWT['ACCESS_TOKEN_LIFETIME'].total_seconds())"
    assert _settings_in({}, code) == "900.0"
    assert _settings_in({"JWT_ACCESS_MINUTES": "5"}, code) == "300.0"
    assert _settings_in({"JWT_ACCESS_MINUTES": "5", "JWT_ACCESS_SECONDS": "2"}, code) == "2.0"


def test_a_short_access_lifetime_is_honoured(manager, password, settings):
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": timedelta(seconds=2)}
    access = web_login(APIClient(), "manager@example.com", password).json()["access"]
    payload = AccessToken(access)
    assert payload["exp"] - payload["iat"] == 2
    refresh_lifetime = timedelta(hours=1)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "REFRESH_TOKEN_LIFETIME": refresh_lifetime}
    response = web_login(APIClient(), "manager@example.com", password)
    assert response.cookies[REFRESH_COOKIE]["max-age"] == 3600
    refresh = RefreshToken(response.cookies[REFRESH_COOKIE].value, verify=False)
    assert refresh["exp"] - refresh["iat"] == 3600
