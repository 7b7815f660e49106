"""Passwords: breached-password check (local fake range API), no user enumeration."""

import hashlib
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import hashers
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.validators import BreachedPasswordValidator

BREACHED = "breached-password-2024"
VALIDATORS = [{"NAME": "accounts.validators.BreachedPasswordValidator"}]


class _RangeAPI(BaseHTTPRequestHandler):
    """The HaveIBeenPwned range API's contract: GET /range/<5 hex> → SUFFIX:COUNT lines."""

    requested = []

    def do_GET(self):
        prefix = self.path.rsplit("/", 1)[-1]
        type(self).requested.append((prefix, self.headers.get("Add-Padding")))
        digest = hashlib.sha1(BREACHED.encode()).hexdigest().upper()  # noqa: S324
        lines = ["0018A45C4D1DEF81644B54AB7F969B88D65:3", "00D4F6E8FA6EECAD2A3AA415EEC418D38EC:0"]
        if digest.startswith(prefix):
            lines.append(f"{digest[5:]}:1542")
        body = "\r\n".join(lines).encode()
        self.send_response(200)
        self.send_header("Content-Type", "text/plain")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args):
        pass


@pytest.fixture
def range_api():
    _RangeAPI.requested = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _RangeAPI)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/range/"
    server.shutdown()
    server.server_close()


def test_breached_password_is_refused_and_only_a_prefix_leaves(range_api):
    with override_settings(PASSWORD_BREACH_API_URL=range_api, AUTH_PASSWORD_VALIDATORS=VALIDATORS):
        with pytest.raises(ValidationError) as refused:
            validate_password(BREACHED)
        assert refused.value.error_list[0].code == "password_breached"
        validate_password("a-perfectly-fresh-passphrase-91")
    digest = hashlib.sha1(BREACHED.encode()).hexdigest().upper()  # noqa: S324
    assert _RangeAPI.requested[0] == (digest[:5], "true")
    assert all(len(prefix) == 5 for prefix, _ in _RangeAPI.requested)


def test_unreachable_range_api_accepts_the_password(caplog):
    with override_settings(
        PASSWORD_BREACH_API_URL="http://127.0.0.1:9/range/", PASSWORD_BREACH_TIMEOUT=0.5
    ):
        BreachedPasswordValidator().validate(BREACHED)
    assert "breached-password check unavailable" in caplog.text


def test_breach_check_is_off_by_default(settings):
    assert settings.PASSWORD_BREACH_CHECK is False
    names = [v["NAME"] for v in settings.AUTH_PASSWORD_VALIDATORS]
    assert "accounts.validators.BreachedPasswordValidator" not in names
    assert "django.contrib.auth.password_validation.CommonPasswordValidator" in names


@pytest.fixture
def count_hashing(monkeypatch):
    """Count password-hash computations (the slow part an attacker would time)."""
    calls = []
    original = hashers.Argon2PasswordHasher.encode

    def encode(self, password, salt):
        calls.append(password)
        return original(self, password, salt)

    monkeypatch.setattr(hashers.Argon2PasswordHasher, "encode", encode)
    original_verify = hashers.Argon2PasswordHasher.verify

    def verify(self, password, encoded):
        calls.append(password)
        return original_verify(self, password, encoded)

    monkeypatch.setattr(hashers.Argon2PasswordHasher, "verify", verify)
    return calls


@pytest.mark.django_db
def test_unknown_email_costs_the_same_hashing_as_a_wrong_password(manager, count_hashing):
    client = APIClient()
    wrong = client.post("/api/v1/auth/token/", {"email": manager.email, "password": "nope-1"})
    wrong_calls = len(count_hashing)
    count_hashing.clear()
    unknown = client.post("/api/v1/auth/token/", {"email": "ghost@example.com", "password": "n"})
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong_calls == len(count_hashing) == 1
