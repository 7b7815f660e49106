"""JSON log lines on stdout: request id in and out, no secrets, no forged lines."""

import json
import logging

import pytest
from rest_framework.test import APIClient

from common.logging import JsonFormatter, RequestIdFilter, request_id_var


@pytest.fixture
def log_lines():
    """Capture what the console handler would print, through the real formatter."""
    lines = []

    class Capture(logging.Handler):
        def emit(self, record):
            lines.append(self.format(record))

    handler = Capture()
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RequestIdFilter())
    root = logging.getLogger()
    root.addHandler(handler)
    yield lines
    root.removeHandler(handler)


def test_console_handler_is_json_on_stdout(settings):
    handler = settings.LOGGING["handlers"]["console"]
    assert handler["stream"] == "ext://sys.stdout"
    assert handler["formatter"] == "json"
    assert "request_id" in handler["filters"]


@pytest.mark.django_db
def test_request_id_is_accepted_returned_and_logged(log_lines, manager):
    response = APIClient().post(
        "/api/v1/auth/token/",
        {"email": "manager@example.com", "password": "wrong"},
        HTTP_X_REQUEST_ID="abc-123.XYZ",
    )
    assert response["X-Request-ID"] == "abc-123.XYZ"
    entries = [json.loads(line) for line in log_lines]
    assert entries, "the failed login is logged (audit + 401)"
    assert all(entry["request_id"] == "abc-123.XYZ" for entry in entries)
    assert any(entry["logger"] == "leadline.audit" for entry in entries)


@pytest.mark.parametrize("bad", ["a" * 65, "x\ny", "<script>", "a b", ""])
def test_unsafe_request_ids_are_replaced(bad, db):
    response = APIClient().get("/health", HTTP_X_REQUEST_ID=bad)
    returned = response["X-Request-ID"]
    assert returned != bad
    assert len(returned) == 32 and returned.isalnum()


@pytest.mark.django_db
def test_no_password_or_token_reaches_the_logs(log_lines, manager, password):
    client = APIClient()
    tokens = client.post(
        "/api/v1/auth/token/", {"email": "manager@example.com", "password": password}
    ).json()
    client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
    client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})  # 401 logged
    client.post("/api/v1/auth/token/", {"email": "x@example.com", "password": "Hunter2-secret"})
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {tokens['access']}")
    client.get("/api/v1/leads/999999/")  # 404 logged
    text = "\n".join(log_lines)
    assert log_lines
    for secret in (password, "Hunter2-secret", tokens["access"], tokens["refresh"]):
        assert secret not in text


def test_formatter_masks_tokens_and_password_pairs():
    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl"
    record = logging.LogRecord(
        "x", logging.INFO, __file__, 1, "auth %s password=%s", (f"Bearer {jwt}", "p4ss"), None
    )
    line = JsonFormatter().format(record)
    assert jwt not in line and "p4ss" not in line
    assert json.loads(line)["message"] == "auth Bearer [redacted-jwt] password=[redacted]"


def test_newlines_in_user_data_cannot_forge_a_line():
    token = request_id_var.set("rid-1")
    try:
        forged = 'bob\n{"level": "INFO", "message": "admin logged in"}'
        record = logging.LogRecord("x", logging.WARNING, __file__, 1, "login %s", (forged,), None)
        RequestIdFilter().filter(record)
        line = JsonFormatter().format(record)
    finally:
        request_id_var.reset(token)
    assert "\n" not in line
    entry = json.loads(line)
    assert entry["message"] == f"login {forged}"
    assert entry["request_id"] == "rid-1"
