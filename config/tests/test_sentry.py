"""Sentry: env-driven options, and secrets scrubbed before anything is sent."""

import json

import pytest
import sentry_sdk
from django.test import override_settings
from django.urls import path
from django.views.decorators.csrf import csrf_exempt
from sentry_sdk.transport import Transport

from config import sentry


class CapturingTransport(Transport):
    """Keeps envelopes in memory instead of sending them anywhere."""

    def __init__(self, options=None):
        super().__init__(options)
        self.envelopes = []

    def capture_envelope(self, envelope):
        self.envelopes.append(envelope)

    def events(self):
        found = []
        for envelope in self.envelopes:
            for item in envelope.items:
                if item.type == "event":
                    found.append(json.loads(item.payload.get_bytes()))
        return found


@csrf_exempt
def boom(request):
    password = request.POST.get("password")  # noqa: F841 - a local the SDK would ship
    raise RuntimeError("boom")


urlpatterns = [path("boom/", boom)]


@pytest.fixture
def transport():
    capture = CapturingTransport()
    sentry.init(
        dsn="https://public@sentry.invalid/1",
        environment="staging",
        release="leadline@1.2.3",
        traces_sample_rate=0.25,
        transport=capture,
    )
    yield capture
    sentry_sdk.get_client().close()
    sentry_sdk.init()  # back to a disabled client


def test_options_come_from_the_arguments(transport):
    options = sentry_sdk.get_client().options
    assert options["environment"] == "staging"
    assert options["release"] == "leadline@1.2.3"
    assert options["traces_sample_rate"] == 0.25
    # Personal data stays off by the SDK's default, and its scrubber is on.
    assert sentry_sdk.get_client().should_send_default_pii() is False
    assert options["event_scrubber"] is not None


def _wsgi_post(path, query, body, headers):
    # Through the real WSGI handler, which the SDK wraps to record the request.
    from io import BytesIO
    from wsgiref.util import setup_testing_defaults

    from django.core.handlers.wsgi import WSGIHandler

    environ = {
        "REQUEST_METHOD": "POST",
        "PATH_INFO": path,
        "QUERY_STRING": query,
        "CONTENT_TYPE": "application/x-www-form-urlencoded",
        "CONTENT_LENGTH": str(len(body)),
        "wsgi.input": BytesIO(body),
        "HTTP_HOST": "testserver",
        **headers,
    }
    setup_testing_defaults(environ)
    status = []
    WSGIHandler()(environ, lambda s, h, exc_info=None: status.append(s))
    return status[0]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=__name__, ALLOWED_HOSTS=["testserver"])
def test_unhandled_error_is_sent_without_secrets(transport):
    from urllib.parse import urlencode

    jwt = "eyJhbGciOiJIUzI1NiJ9.eyJ1c2VyX2lkIjoxfQ.c2lnbmF0dXJlLXZhbHVl"
    body = urlencode({"email": "a@example.com", "password": "Hunter2-secret", "refresh": jwt})
    status = _wsgi_post(
        "/boom/",
        f"refresh={jwt}&page=2",
        body.encode(),
        {"HTTP_AUTHORIZATION": f"Bearer {jwt}", "HTTP_COOKIE": "sessionid=abc123"},
    )
    assert status.startswith("500")
    sentry_sdk.flush()
    events = transport.events()
    assert len(events) == 1
    event = events[0]
    raw = json.dumps(event)
    assert "Hunter2-secret" not in raw
    assert jwt not in raw
    assert "abc123" not in raw
    assert event["environment"] == "staging"
    assert event["release"] == "leadline@1.2.3"
    request = event["request"]
    assert request["url"].endswith("/boom/")
    assert request["headers"].get("Authorization") in (None, sentry.FILTERED)
    assert request["query_string"] == "refresh=[Filtered]&page=2"
    assert request["data"]["password"] == sentry.FILTERED
    assert request["data"]["email"] == "a@example.com"


def test_before_send_scrubs_nested_values():
    event = {
        "request": {
            "headers": {"Authorization": "Bearer x", "X-Request-ID": "r1"},
            "data": {"user": {"password": "p", "name": "n"}, "tokens": ["a"]},
            "query_string": "access=abc&q=1",
            "cookies": {"sessionid": "s"},
        },
        "exception": {"values": [{"stacktrace": {"frames": [{"vars": {"secret": "s"}}]}}]},
        "extra": {"refresh_token": "r"},
    }
    out = sentry.before_send(event, {})
    assert out["request"]["headers"] == {"Authorization": "[Filtered]", "X-Request-ID": "r1"}
    assert out["request"]["data"] == {
        "user": {"password": "[Filtered]", "name": "n"},
        "tokens": "[Filtered]",
    }
    assert out["request"]["query_string"] == "access=[Filtered]&q=1"
    assert "cookies" not in out["request"]
    assert out["exception"]["values"][0]["stacktrace"]["frames"][0]["vars"] == {
        "secret": "[Filtered]"
    }
    assert out["extra"] == {"refresh_token": "[Filtered]"}
