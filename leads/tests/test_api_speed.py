"""The lean lead list: identical to the serializer's output, constant queries."""

import datetime

import pytest
from django.utils import timezone

from common import dataversion
from leads.api.serializers import LeadOutput
from leads.models import Lead

pytestmark = pytest.mark.django_db


def test_lean_list_matches_the_serializer_exactly(auth, agent, make_lead):
    lead = make_lead(agent=agent, notes="line1\nline2 ünïcode", extra={"city": "Pune", "n": 2})
    lead.next_follow_up = timezone.now() + datetime.timedelta(days=1)
    lead.save()
    make_lead(agent=agent)
    response = auth(agent).get("/api/v1/leads/")
    assert response.status_code == 200
    expected = LeadOutput(Lead.objects.select_related("agent").order_by("-id"), many=True).data
    assert response.json()["results"] == [dict(row) for row in expected]


@pytest.mark.parametrize("tz", ["UTC", "Asia/Kolkata"])
def test_lean_list_renders_datetimes_like_drf(auth, agent, make_lead, settings, tz):
    settings.TIME_ZONE = tz
    make_lead(agent=agent)
    row = auth(agent).get("/api/v1/leads/").json()["results"][0]
    expected = LeadOutput(Lead.objects.get(pk=row["id"])).data
    assert row["created_at"] == expected["created_at"]
    assert row["updated_at"] == expected["updated_at"]


def test_agent_list_costs_three_queries_then_two_whatever_the_page(
    auth, agent, make_lead, django_assert_num_queries
):
    client = auth(agent)
    for _ in range(3):
        make_lead(agent=agent)
    # auth (user + agent profile), count, page
    with django_assert_num_queries(3):
        assert client.get("/api/v1/leads/").json()["count"] == 3
    for _ in range(30):
        make_lead(agent=agent)
    dataversion.bump()  # what every service that writes leads does
    with django_assert_num_queries(3):
        body = client.get("/api/v1/leads/").json()
    assert body["count"] == 33 and len(body["results"]) == 33
    # The total is now cached under the data version: auth and page only.
    with django_assert_num_queries(2):
        assert client.get("/api/v1/leads/").json()["count"] == 33


def test_cached_total_follows_service_writes(auth, manager, agent, make_agent, make_lead):
    from assignments import services

    lead = make_lead(agent=agent)
    client = auth(agent)
    assert client.get("/api/v1/leads/").json()["count"] == 1
    other = make_agent()
    services.reassign(lead_ids=[lead.pk], agent=other, actor=manager)
    assert client.get("/api/v1/leads/").json()["count"] == 0
    assert auth(other).get("/api/v1/leads/").json()["count"] == 1
    assert auth(manager).get("/api/v1/leads/").json()["count"] == 1


def test_a_status_total_is_the_counters_until_the_next_write(
    auth, agent, make_lead, django_assert_num_queries
):
    client = auth(agent)
    make_lead(agent=agent, status="new")
    assert client.get("/api/v1/leads/?status=new").json()["count"] == 1
    make_lead(agent=agent, status="new")
    dataversion.bump()  # as every service that writes leads does
    # user, the counters' sum, the page
    with django_assert_num_queries(3):
        assert client.get("/api/v1/leads/?status=new").json()["count"] == 2
    with django_assert_num_queries(2):
        assert client.get("/api/v1/leads/?status=new&page_size=1").json()["count"] == 2


def test_page_past_the_end_is_404_with_a_cached_total(auth, agent, make_lead):
    make_lead(agent=agent)
    client = auth(agent)
    assert client.get("/api/v1/leads/").json()["count"] == 1
    response = client.get("/api/v1/leads/?page=9")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    second = client.get("/api/v1/leads/?page_size=1&page=1").json()
    assert second["count"] == 1 and second["next"] is None
