from datetime import timedelta

import pytest
from django.utils import timezone

from leads.models import Lead, LeadActivity

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/"


def test_agent_lists_only_own_leads(auth, agent, other_agent, make_lead):
    mine = [make_lead(agent=agent) for _ in range(3)]
    make_lead(agent=other_agent)
    make_lead()
    response = auth(agent).get(URL)
    assert response.status_code == 200
    assert response.json()["count"] == 3
    assert {row["id"] for row in response.json()["results"]} == {lead.pk for lead in mine}


def test_agent_cannot_read_other_agents_lead(auth, agent, other_agent, make_lead):
    theirs = make_lead(agent=other_agent)
    unassigned = make_lead()
    client = auth(agent)
    for lead in (theirs, unassigned):
        url = f"{URL}{lead.pk}/"
        assert client.get(url).status_code == 404
        assert client.patch(url, {"status": "lost"}, format="json").status_code == 404
        assert client.put(url, {"status": "lost"}, format="json").status_code == 404
        assert client.delete(url).status_code == 404
        assert client.get(f"{url}activity/").status_code == 404
    theirs.refresh_from_db()
    assert theirs.status == "new"


def test_missing_lead_is_404_envelope(auth, manager):
    response = auth(manager).get(f"{URL}999999/")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_agent_updates_status_notes_follow_up_and_activity_is_logged(auth, agent, make_lead):
    lead = make_lead(agent=agent)
    follow = (timezone.now() + timedelta(days=1)).replace(microsecond=0)
    response = auth(agent).patch(
        f"{URL}{lead.pk}/",
        {"status": "contacted", "notes": "Called, call back", "next_follow_up": follow.isoformat()},
        format="json",
    )
    assert response.status_code == 200, response.json()
    lead.refresh_from_db()
    assert lead.status == "contacted"
    assert lead.next_follow_up == follow
    kinds = set(LeadActivity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert kinds == {"status", "note", "follow_up"}
    status_entry = LeadActivity.objects.get(lead=lead, kind="status")
    assert (status_entry.old_value, status_entry.new_value) == ("new", "contacted")
    assert status_entry.actor == agent.user

    timeline = auth(agent).get(f"{URL}{lead.pk}/activity/")
    assert timeline.status_code == 200
    assert {row["kind"] for row in timeline.json()["results"]} == kinds


def test_unchanged_values_log_nothing(auth, agent, make_lead):
    lead = make_lead(agent=agent, notes="same")
    auth(agent).patch(f"{URL}{lead.pk}/", {"notes": "same"}, format="json")
    assert not LeadActivity.objects.filter(lead=lead).exists()


@pytest.mark.parametrize(
    "change",
    [{"first_name": "X"}, {"phone": "+919999999999"}, {"agent": 1}, {"extra": {"a": 1}}],
)
def test_agent_may_not_change_other_fields(auth, agent, make_lead, change):
    lead = make_lead(agent=agent)
    response = auth(agent).patch(f"{URL}{lead.pk}/", change, format="json")
    assert response.status_code == 400
    assert set(change) <= set(response.json()["error"]["fields"])
    refreshed = Lead.objects.get(pk=lead.pk)
    assert (refreshed.first_name, refreshed.phone, refreshed.agent_id) == (
        lead.first_name,
        lead.phone,
        lead.agent_id,
    )


@pytest.mark.parametrize(
    "body",
    [{"status": "won"}, {"next_follow_up": "tomorrow"}, {"notes": "x" * 5001}, {"status": None}],
)
def test_bad_values_are_400(auth, agent, make_lead, body):
    lead = make_lead(agent=agent)
    response = auth(agent).patch(f"{URL}{lead.pk}/", body, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_non_object_json_body_is_400(auth, agent, make_lead):
    lead = make_lead(agent=agent)
    response = auth(agent).patch(f"{URL}{lead.pk}/", data="[1, 2]", content_type="application/json")
    assert response.status_code == 400


def test_manager_creates_lead_with_e164_phone(auth, manager):
    response = auth(manager).post(
        URL, {"first_name": "=cmd|' /C calc'!A0", "phone": "098765 43210"}, format="json"
    )
    assert response.status_code == 201, response.json()
    lead = Lead.objects.get()
    assert lead.phone == "+919876543210"
    assert lead.first_name == "=cmd|' /C calc'!A0"  # stored verbatim: it is data
    assert LeadActivity.objects.filter(lead=lead, kind="created").exists()


def test_duplicate_phone_in_any_format_is_400(auth, manager, make_lead):
    make_lead(phone="+919876543210")
    response = auth(manager).post(
        URL, {"first_name": "Dup", "phone": "+91 98765-43210"}, format="json"
    )
    assert response.status_code == 400
    assert "phone" in response.json()["error"]["fields"]
    assert Lead.objects.count() == 1


def test_invalid_lead_phone_is_400_naming_the_field(auth, manager):
    response = auth(manager).post(URL, {"first_name": "A", "phone": "12"}, format="json")
    assert response.status_code == 400
    assert "phone" in response.json()["error"]["fields"]


def test_agent_cannot_create_leads(auth, agent):
    response = auth(agent).post(URL, {"first_name": "A", "phone": "9876543210"}, format="json")
    assert response.status_code == 403
    assert not Lead.objects.exists()


def test_filters_search_and_ordering(auth, manager, agent, other_agent, make_lead):
    a = make_lead(agent=agent, first_name="Zoya", phone="+919876543210")
    b = make_lead(agent=agent, first_name="Amit", status="contacted")
    c = make_lead(agent=other_agent, first_name="Kiran", status="lost")
    d = make_lead(first_name="Nobody", next_follow_up=timezone.now() - timedelta(hours=1))
    client = auth(manager)

    def ids(query):
        response = client.get(URL + query)
        assert response.status_code == 200, response.json()
        return [row["id"] for row in response.json()["results"]]

    assert set(ids(f"?agent={agent.pk}")) == {a.pk, b.pk}
    assert set(ids("?status=contacted&status=lost")) == {b.pk, c.pk}
    assert ids("?unassigned=true") == [d.pk]
    assert ids("?follow_up_due=true") == [d.pk]
    assert ids("?search=098765%2043210") == [a.pk]
    assert ids("?search=+91%2098765-43210") == [a.pk]
    assert ids("?search=kir") == [c.pk]
    assert ids("?ordering=first_name")[:2] == [b.pk, c.pk]
    since = (timezone.now() - timedelta(minutes=5)).isoformat()
    assert len(ids(f"?created_after={since.replace('+', '%2B')}")) == 4


@pytest.mark.parametrize(
    "query",
    [
        "?status=won",
        "?agent=abc",
        "?created_after=yesterday",
        "?follow_up_due=maybe",
        "?page=abc",
        "?page=99999999999999999999",
        "?page_size=-5",
        "?ordering=password",
        "?batch=1e99",
    ],
)
def test_bad_query_strings_never_500(auth, manager, make_lead, query):
    make_lead()
    response = auth(manager).get(URL + query)
    assert response.status_code in (200, 400, 404)
    if response.status_code != 200:
        assert "error" in response.json()


def test_agent_list_query_count_is_constant(auth, agent, make_lead, django_assert_num_queries):
    for _ in range(30):
        make_lead(agent=agent)
    client = auth(agent)
    # user+profile, count, page
    with django_assert_num_queries(3):
        response = client.get(URL)
    assert len(response.json()["results"]) == 30


def test_manager_list_query_count_is_constant(
    auth, manager, make_agent, make_lead, django_assert_num_queries
):
    for _ in range(5):
        a = make_agent()
        for _ in range(5):
            make_lead(agent=a)
    client = auth(manager)
    with django_assert_num_queries(3):
        response = client.get(URL + "?page_size=100")
    assert len(response.json()["results"]) == 25
    assert all(row["agent_name"] for row in response.json()["results"])


def test_manager_updates_any_field_but_not_owner(auth, manager, agent, make_lead):
    lead = make_lead(agent=agent)
    response = auth(manager).patch(
        f"{URL}{lead.pk}/", {"first_name": "Renamed", "phone": "+44 20 7946 0958"}, format="json"
    )
    assert response.status_code == 200, response.json()
    lead.refresh_from_db()
    assert (lead.first_name, lead.phone) == ("Renamed", "+442079460958")
    response = auth(manager).patch(f"{URL}{lead.pk}/", {"agent": None}, format="json")
    assert response.status_code == 400


def test_lead_output_fields_are_the_list_fields_read_from_the_same_paths():
    from leads.api.serializers import LeadOutput
    from leads.selectors import LEAD_LIST_FIELDS

    fields = LeadOutput().fields
    assert list(fields) == list(LEAD_LIST_FIELDS)
    for name, path in LEAD_LIST_FIELDS.items():
        source = fields[name].source
        # "agent" reads the foreign key's column (agent_id), "agent_name" agent.name.
        read = source.replace(".", "__") if "." in source else Lead._meta.get_field(source).attname
        assert read == path, name


def _as_serializer_renders(lead):
    import json

    from rest_framework.renderers import JSONRenderer

    from leads.api.serializers import LeadOutput

    lead = Lead.objects.select_related("agent").get(pk=lead.pk)
    return json.loads(JSONRenderer().render(LeadOutput(lead).data))


@pytest.mark.parametrize("time_zone", ["UTC", "Asia/Kolkata", "America/New_York"])
@pytest.mark.parametrize("query", ["", "?status=new", "?page=1&page_size=10"])
def test_list_rows_are_exactly_what_the_serializer_renders(
    auth, agent, manager, make_lead, settings, time_zone, query
):
    settings.TIME_ZONE = time_zone
    soon = timezone.now() + timedelta(days=2, microseconds=123456)
    leads = [
        make_lead(agent=agent, next_follow_up=soon, extra={"city": "Pune", "nested": [1, "ü"]}),
        make_lead(agent=agent, notes='=HYPERLINK("x")', extra={}),
        make_lead(),  # unassigned: agent and agent_name null for the manager
    ]
    expected = {lead.pk: _as_serializer_renders(lead) for lead in leads}
    for user, visible in ((agent, leads[:2]), (manager, leads)):
        response = auth(user).get(URL + query)
        assert response.status_code == 200
        rows = {row["id"]: row for row in response.json()["results"]}
        assert rows == {lead.pk: expected[lead.pk] for lead in visible}
    # Not vacuous: a follow-up with microseconds is in the comparison.
    assert expected[leads[0].pk]["next_follow_up"].count(".") == 1


def test_default_list_pages_in_order_with_links(auth, agent, other_agent, make_lead):
    mine = [make_lead(agent=agent).pk for _ in range(23)]
    make_lead(agent=other_agent)
    client = auth(agent)
    newest_first = sorted(mine, reverse=True)
    seen = []
    url = URL + "?page_size=10"
    while url:
        response = client.get(url)
        assert response.status_code == 200
        body = response.json()
        assert body["count"] == 23
        seen += [row["id"] for row in body["results"]]
        url = body["next"]
    assert seen == newest_first
    response = client.get(URL + "?page=3&page_size=10")
    assert [row["id"] for row in response.json()["results"]] == newest_first[20:]
    assert response.json()["previous"].endswith("page=2&page_size=10")
    response = client.get(URL + "?page=4&page_size=10")
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_default_list_of_an_agent_without_leads_is_empty(auth, agent):
    response = auth(agent).get(URL)
    assert response.status_code == 200
    assert response.json() == {"count": 0, "next": None, "previous": None, "results": []}


def test_default_list_sees_a_reassignment_at_once(auth, agent, other_agent, manager, make_lead):
    lead = make_lead(agent=agent)
    assert auth(agent).get(URL).json()["count"] == 1
    response = auth(manager).post(
        "/api/v1/reassign/", {"lead_ids": [lead.pk], "agent": other_agent.pk}, format="json"
    )
    assert response.status_code == 200, response.json()
    assert auth(agent).get(URL).json() == {
        "count": 0,
        "next": None,
        "previous": None,
        "results": [],
    }
    assert [row["id"] for row in auth(other_agent).get(URL).json()["results"]] == [lead.pk]
