"""Gzip for JSON where accepted, never for responses that carry tokens (BREACH)."""

import gzip
import json

import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db


def test_json_lists_are_gzipped_when_accepted(auth, manager, make_lead):
    for _ in range(10):
        make_lead()
    client = auth(manager)
    response = client.get("/api/v1/leads/", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip"
    assert "Accept-Encoding" in response["Vary"]
    assert json.loads(gzip.decompress(response.content))["count"] == 10
    plain = client.get("/api/v1/leads/")
    assert not plain.has_header("Content-Encoding")
    assert plain.json()["count"] == 10


def test_token_responses_are_never_compressed(manager, password):
    client = APIClient()
    login = client.post(
        "/api/v1/auth/token/",
        {"email": "manager@example.com", "password": password},
        HTTP_ACCEPT_ENCODING="gzip, deflate, br",
    )
    assert login.status_code == 200
    assert not login.has_header("Content-Encoding")
    assert login["Cache-Control"] == "no-store"
    refreshed = client.post(
        "/api/v1/auth/token/refresh/",
        {"refresh": login.json()["refresh"]},
        HTTP_ACCEPT_ENCODING="gzip",
    )
    assert refreshed.status_code == 200
    assert not refreshed.has_header("Content-Encoding")
    assert refreshed["Cache-Control"] == "no-store"
    assert set(refreshed.json()) == {"access", "refresh"}


def test_whitenoise_serves_precompressed_static_in_production(settings):
    assert settings.STORAGES["staticfiles"]["BACKEND"] in (
        "whitenoise.storage.CompressedManifestStaticFilesStorage",
        "django.contrib.staticfiles.storage.StaticFilesStorage",  # DEBUG only
    )
    # whitenoise's middleware, extended for the web app's hashed files (config/webapp.py).
    assert "config.webapp.StaticFilesMiddleware" in settings.MIDDLEWARE
