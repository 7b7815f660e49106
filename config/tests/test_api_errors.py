"""Under /api/ every error is the JSON envelope, with the right status; the admin
keeps Django's pages.

The attack: a bad ``Host`` header or a JSON body over
``DATA_UPLOAD_MAX_MEMORY_SIZE`` under /api/ got Django's HTML 400. Now: 400
``invalid_host`` and 413 ``request_too_large``; CSRF failures, bare 405s and
other plain-view errors under /api/ are the envelope too.
"""

import json

import pytest
from django.conf import settings
from django.test import Client, override_settings
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from assignments.models import Assignment
from leads.models import Lead

TOKEN = "/api/v1/auth/token/"
TEST_URLS = "config.tests.urls_errors"


def _assert_envelope(response, status, code):
    assert response.status_code == status, response.content
    assert response["Content-Type"] == "application/json"
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) >= {"code", "message", "fields"}
    assert body["error"]["code"] == code
    assert body["error"]["message"]
    return body


def _assert_html(response, status):
    assert response.status_code == status
    assert response["Content-Type"].startswith("text/html")


# --- Bad Host -----------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("method", "url"),
    [("post", TOKEN), ("get", "/api/v1/leads/"), ("get", "/api/nowhere/"), ("get", "/api/schema/")],
)
def test_a_host_outside_allowed_hosts_is_a_json_400_under_api(method, url):
    # Before: 400 text/html (Django's "Bad Request (400)" page).
    response = getattr(Client(), method)(url, HTTP_HOST="evil.example")
    _assert_envelope(response, 400, "invalid_host")
    assert "X-Request-ID" in response


@pytest.mark.django_db
def test_a_bad_host_on_the_admin_keeps_djangos_page():
    _assert_html(Client().get("/admin/login/", HTTP_HOST="evil.example"), 400)


# --- Body over DATA_UPLOAD_MAX_MEMORY_SIZE --------------------------------------


def _too_big():
    # Valid JSON, one byte over the limit.
    padding = settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1 - len('{"email": ""}')
    return '{"email": "' + "a" * padding + '"}'


@pytest.mark.django_db
def test_a_json_body_over_the_limit_is_a_413_on_the_login():
    # Before: 400 text/html. After: 413 request_too_large.
    body = _assert_envelope(
        Client().post(TOKEN, _too_big(), content_type="application/json"),
        413,
        "request_too_large",
    )
    assert str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE) in body["error"]["message"]


@pytest.mark.django_db
def test_a_json_body_over_the_limit_changes_nothing(manager, agent, other_agent, make_lead, auth):
    lead = make_lead(agent=agent)
    padding = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
    body = json.dumps({"lead_ids": [lead.pk], "agent": other_agent.pk, "pad": "x" * padding})
    response = auth(manager).post("/api/v1/reassign/", body, content_type="application/json")
    _assert_envelope(response, 413, "request_too_large")
    lead.refresh_from_db()
    assert lead.agent_id == agent.pk
    assert Assignment.objects.filter(lead=lead).count() == 1


@pytest.mark.django_db
def test_a_declared_length_over_the_limit_is_a_413_without_reading():
    response = Client().post(
        TOKEN,
        "{}",
        content_type="application/json",
        CONTENT_LENGTH=str(settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1),
    )
    _assert_envelope(response, 413, "request_too_large")


@pytest.mark.django_db
def test_a_form_over_the_limit_on_the_admin_keeps_djangos_page():
    padding = "a" * (settings.DATA_UPLOAD_MAX_MEMORY_SIZE + 1)
    response = Client().post(
        "/admin/login/",
        f"username=x&password={padding}",
        content_type="application/x-www-form-urlencoded",
    )
    _assert_html(response, 400)


# --- CSRF, 403, 405, 404, 500 and the rest ---------------------------------------


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_a_csrf_failure_under_api_is_the_envelope():
    # Before: Django's HTML 403 page.
    response = Client(enforce_csrf_checks=True).post("/api/test/post-only/")
    _assert_envelope(response, 403, "csrf_failed")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_a_csrf_failure_outside_api_keeps_djangos_page():
    _assert_html(Client(enforce_csrf_checks=True).post("/plain/post-only/"), 403)
    _assert_html(Client(enforce_csrf_checks=True).post("/admin/login/", {"username": "x"}), 403)


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_a_plain_views_405_under_api_is_the_envelope_and_keeps_allow():
    # Before: 405 with an empty text/html body.
    response = Client().get("/api/test/post-only/")
    body = _assert_envelope(response, 405, "method_not_allowed")
    assert response["Allow"] == "POST"
    assert body["error"]["message"] == 'Method "GET" not allowed.'
    assert Client().get("/plain/post-only/")["Content-Type"].startswith("text/html")


@pytest.mark.django_db
def test_drf_405_is_the_envelope():
    response = Client().get(TOKEN)
    _assert_envelope(response, 405, "method_not_allowed")
    assert "POST" in response["Allow"]


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_permission_denied_in_a_plain_view():
    _assert_envelope(Client().get("/api/test/refuse/"), 403, "permission_denied")
    _assert_html(Client().get("/plain/refuse/"), 403)


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_a_plain_bad_request_response_under_api_is_the_envelope():
    _assert_envelope(Client().get("/api/test/bad-request/"), 400, "bad_request")


@pytest.mark.django_db
@override_settings(ROOT_URLCONF=TEST_URLS)
def test_a_crash_under_api_is_a_json_500():
    response = Client(raise_request_exception=False).get("/api/test/crash/")
    _assert_envelope(response, 500, "server_error")


@pytest.mark.django_db
def test_unknown_paths():
    _assert_envelope(Client().get("/api/nowhere/"), 404, "not_found")
    _assert_envelope(Client().post("/api/v1/nowhere/"), 404, "not_found")
    # Outside /api/ (and the web app's routes, config/webapp.py): Django's page.
    _assert_html(Client().get("/static/nowhere/"), 404)


@pytest.mark.django_db
@override_settings(DEBUG=True)
def test_debug_pages_under_api_are_the_envelope_too():
    _assert_envelope(Client().get("/api/nowhere/"), 404, "not_found")
    _assert_envelope(Client().get("/api/v1/leads/", HTTP_HOST="evil.example"), 400, "bad_request")
    # Outside /api/ (and the web app's routes, config/webapp.py): Django's page.
    _assert_html(Client().get("/static/nowhere/"), 404)


class _BrokenStream:
    """A request body that fails half way, as when the client goes away."""

    def read(self, *args):
        raise OSError("connection reset by peer")

    readline = read


@pytest.mark.django_db
def test_an_unreadable_body_is_a_400_not_a_500():
    # Before: 500 (UnreadablePostError).
    client = APIClient(raise_request_exception=False)
    response = client.post(
        TOKEN,
        "{}",
        content_type="application/json",
        **{"wsgi.input": _BrokenStream(), "CONTENT_LENGTH": "100"},
    )
    _assert_envelope(response, 400, "bad_request")


# --- Charsets --------------------------------------------------------------------


@pytest.mark.django_db
def test_a_quadratic_charset_on_a_json_body_is_refused_before_it_is_read(agent, password):
    # Python decodes punycode in quadratic time (160,000 characters: ~25 s of
    # CPU). Before: accepted, this login succeeded. After: 415, nothing read.
    text = json.dumps({"email": agent.user.email, "password": password})
    outstanding = OutstandingToken.objects.count()
    response = APIClient().post(
        "/api/v1/auth/token/",
        text.encode("punycode"),
        content_type="application/json; charset=punycode",
    )
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_media_type"
    assert OutstandingToken.objects.count() == outstanding


@pytest.mark.django_db
def test_a_quadratic_charset_on_the_admin_form_is_refused_before_it_is_read():
    # Before: Django decoded the form in punycode (quadratic) to check CSRF and
    # log in. After: 415 before anything reads the body.
    response = Client().post(
        "/admin/login/",
        b"username=x&password=y",
        content_type="application/x-www-form-urlencoded; charset=punycode",
    )
    assert response.status_code == 415
    assert response["Content-Type"].startswith("text/plain")


@pytest.mark.django_db
def test_a_quadratic_charset_on_a_multipart_api_body_is_refused(manager, auth):
    response = auth(manager).post(
        "/api/v1/distribute/",
        b'--b\r\nContent-Disposition: form-data; name="dry_run"\r\n\r\ntrue\r\n--b--\r\n',
        content_type="multipart/form-data; boundary=b; charset=punycode",
    )
    _assert_envelope(response, 415, "unsupported_media_type")
    assert Lead.objects.count() == 0


@pytest.mark.django_db
def test_a_charset_without_a_body_is_ignored(manager, auth):
    response = auth(manager).get("/api/v1/leads/", CONTENT_TYPE="text/plain; charset=punycode")
    assert response.status_code == 200


@pytest.mark.django_db
def test_a_form_body_to_a_json_endpoint_is_refused_and_changes_nothing(manager, auth, make_lead):
    lead = make_lead()
    response = auth(manager).patch(
        f"/api/v1/leads/{lead.pk}/",
        b'--b\r\nContent-Disposition: form-data; name="notes"\r\n\r\nhi\r\n--b--\r\n',
        content_type="multipart/form-data; boundary=b",
    )
    _assert_envelope(response, 415, "unsupported_media_type")
    lead.refresh_from_db()
    assert lead.notes == ""
