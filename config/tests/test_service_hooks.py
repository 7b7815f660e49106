"""The services report to the audit log and the metrics, and retry deadlocks."""

import io

import pytest
from django.core.cache import caches
from django.test import override_settings
from django.urls import include, path
from prometheus_client import REGISTRY

from accounts.models import AuditLog
from assignments import services

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_distribution_is_audited_and_counted(make_agent, make_lead, manager):
    make_agent()
    make_agent()
    leads = [make_lead() for _ in range(5)]
    before = _sample("leadline_leads_assigned_total", strategy="round_robin")
    result = services.distribute(strategy="round_robin", actor=manager)
    assert result.assigned == 5
    entry = AuditLog.objects.get(action="distribution")
    assert entry.actor == manager
    assert entry.data["assigned"] == 5
    assert entry.data["strategy"] == "round_robin"
    assert _sample("leadline_leads_assigned_total", strategy="round_robin") == before + 5
    assert len(leads) == 5


def test_dry_run_distribution_is_neither_audited_nor_counted(make_agent, make_lead, manager):
    make_agent()
    make_lead()
    before = _sample("leadline_leads_assigned_total", strategy="round_robin")
    services.distribute(strategy="round_robin", actor=manager, dry_run=True)
    assert not AuditLog.objects.filter(action="distribution").exists()
    assert _sample("leadline_leads_assigned_total", strategy="round_robin") == before


def test_reassignment_is_audited(make_agent, make_lead, manager):
    first, second = make_agent(), make_agent()
    lead = make_lead(agent=first)
    services.reassign(lead_ids=[lead.pk], agent=second, actor=manager)
    entry = AuditLog.objects.get(action="reassignment")
    assert entry.actor == manager
    assert entry.target == f"agent:{second.pk}"
    assert entry.data["lead_ids"] == [lead.pk]


def test_distribution_entry_points_retry_deadlocks():
    for name in ("distribute", "reassign", "redistribute_agent", "redistribute_leads"):
        assert getattr(getattr(services, name), "retries_deadlocks", False), name


# The upload view mounted on its own, whether or not config/urls.py has it yet.
urlpatterns = [path("api/v1/", include("imports.api.urls"))]


@override_settings(RATELIMIT_UPLOAD="2/d")
@pytest.mark.urls(__name__)
def test_import_upload_is_rate_limited_per_user(auth, manager):
    caches["ratelimit"].clear()
    client = auth(manager)

    def upload():
        data = io.BytesIO(b"not a spreadsheet")
        data.name = "x.csv"
        return client.post("/api/v1/imports/", {"file": data}, format="multipart")

    assert upload().status_code != 429
    assert upload().status_code != 429
    refused = upload()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "throttled"
