"""Requests the middleware answers before any view: a missing trailing slash (308, the
method and body kept), a Content-Length that is not a number (400)."""

import pytest

from leads.models import Lead

pytestmark = pytest.mark.django_db


@pytest.mark.parametrize("debug", [False, True])
def test_a_post_without_the_slash_is_redirected_keeping_the_method(auth, manager, settings, debug):
    settings.DEBUG = debug  # Django's own middleware raised here under DEBUG
    client = auth(manager)
    body = {"first_name": "Asha", "phone": "+919876543210"}
    response = client.post("/api/v1/leads?source=form", body, format="json")

    assert response.status_code == 308
    assert response["Location"] == "/api/v1/leads/?source=form"
    assert not Lead.objects.exists()  # a 301 followed as a GET would have listed them

    followed = client.post(response["Location"], body, format="json")
    assert followed.status_code == 201
    assert Lead.objects.get().phone == "+919876543210"


def test_a_get_without_the_slash_is_redirected_too(auth, manager):
    response = auth(manager).get("/api/v1/leads")

    assert response.status_code == 308
    assert response["Location"] == "/api/v1/leads/"


def test_a_path_that_exists_nowhere_is_still_a_404(auth, manager):
    response = auth(manager).post("/api/v1/nothing-here", {}, format="json")

    assert response.status_code == 404


def test_a_content_length_that_is_not_a_number_is_a_400_off_the_api_too(client):
    response = client.post("/admin/login/", {}, CONTENT_LENGTH="lots")

    assert response.status_code == 400
    assert response.content == b"The Content-Length header is not a number."
