"""The lean lead list: identical to the serializer's output, constant queries."""

import datetime

import pytest
from django.utils import timezone

from config.renderers import ORJSONRenderer
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


def test_agent_list_costs_three_queries_whatever_the_page(
    auth, agent, make_lead, django_assert_num_queries
):
    client = auth(agent)
    for _ in range(3):
        make_lead(agent=agent)
    # auth (user + agent profile), count, page
    with django_assert_num_queries(3):
        assert client.get("/api/v1/leads/").status_code == 200
    for _ in range(30):
        make_lead(agent=agent)
    with django_assert_num_queries(3):
        assert len(client.get("/api/v1/leads/").json()["results"]) == 33


def test_orjson_renderer_handles_lazy_strings_and_decimals():
    from decimal import Decimal

    from django.utils.translation import gettext_lazy

    assert ORJSONRenderer().render({"m": gettext_lazy("Not found."), "d": Decimal("1.5")}) == (
        b'{"m":"Not found.","d":"1.5"}'
    )
