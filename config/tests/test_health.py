"""/healthz, /readyz and the seed's /health."""

import pytest
from django.test import Client

from config import health


def test_healthz_needs_nothing(django_assert_num_queries, db):
    with django_assert_num_queries(0):
        response = Client().get("/healthz")
    assert response.status_code == 200
    assert response.json() == {"status": "ok"}
    assert "no-cache" in response["Cache-Control"]


@pytest.mark.django_db
def test_readyz_reports_each_part():
    response = Client().get("/readyz")
    assert response.status_code == 200
    assert response.json() == {
        "status": "ok",
        "checks": {"database": "ok", "cache": "ok", "migrations": "ok"},
        "failed": [],
    }


@pytest.mark.django_db
def test_readyz_names_unapplied_migrations(monkeypatch):
    from django.db.migrations.executor import MigrationExecutor

    monkeypatch.setattr(health, "_migrations_applied", False)
    # Pretend one migration is missing by asking for a plan to a node not yet applied.
    real_plan = MigrationExecutor.migration_plan
    monkeypatch.setattr(
        MigrationExecutor,
        "migration_plan",
        lambda self, targets, clean_start=False: real_plan(self, [("accounts", None)]),
    )
    response = Client().get("/readyz")
    assert response.status_code == 503
    assert response.json()["failed"] == ["migrations"]
    assert response.json()["checks"]["migrations"].startswith("error")


@pytest.mark.django_db
def test_health_has_the_seed_shape():
    body = Client().get("/health").json()
    assert set(body) == {"uptime", "message", "timestamp", "database", "memory"}
    assert body["message"] == "OK" and body["database"] == "ok"
    assert body["uptime"] >= 0 and body["timestamp"] > 1_600_000_000_000
    assert body["memory"]["rss_bytes"] > 0


def test_probes_reject_writes(db):
    assert Client().post("/healthz").status_code == 405


@pytest.mark.parametrize("path", ["/healthz", "/readyz"])
def test_probes_answer_whatever_the_host_header(client, settings, db, path):
    # Kubernetes probes by pod IP; that host is not (and must not be) allowed.
    settings.ALLOWED_HOSTS = ["leadline.example.com"]
    response = client.get(path, HTTP_HOST="10.1.2.3:8000")
    assert response.status_code == 200
    refused = client.get("/api/v1/auth/me/", HTTP_HOST="10.1.2.3:8000")
    assert refused.status_code == 400
