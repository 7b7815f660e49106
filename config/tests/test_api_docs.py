"""The OpenAPI schema and its docs pages, served from the project itself (no CDN)."""

import pytest

pytestmark = pytest.mark.django_db


def test_openapi_schema_and_docs_served_locally(manager, auth):
    client = auth(manager)
    schema = client.get("/api/schema/?format=json")
    assert schema.status_code == 200
    paths = schema.json()["paths"]
    for path in [
        "/api/v1/auth/token/",
        "/api/v1/leads/",
        "/api/v1/leads/{id}/activity/",
        "/api/v1/agents/",
        "/api/v1/assignments/",
    ]:
        assert path in paths
    docs = client.get("/api/docs/")
    assert docs.status_code == 200
    assert b"cdn" not in docs.content.lower()
