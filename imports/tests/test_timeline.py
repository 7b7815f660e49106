"""An imported lead's "created" entry: derived from its batch, shown as the stored row was.

The import writes no timeline row per lead (``imports.selectors.LeadTimeline``
derives it); these tests read it through the API and the admin, page across
it, and check the old stored rows are still shown alone.
"""

import io

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from rest_framework.fields import DateTimeField

from assignments.services import reassign
from imports.selectors import DERIVED_ID, LeadTimeline
from imports.services import import_file, undo_batch
from leads import services as lead_services
from leads.models import Lead, LeadActivity

from .conftest import leads_csv

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/{}/activity/"


def run_import(actor, count=2, start=0, **options):
    return import_file(
        file=io.BytesIO(leads_csv(count, start)),
        file_name=f"leads-{start}.csv",
        actor=actor,
        **options,
    ).batch


def created_body(lead, new_value, actor):
    """The "created" entry as the API showed the stored row, but for its id."""
    return {
        "kind": "created",
        "old_value": "",
        "new_value": new_value,
        "actor": actor.email if actor else None,
        "created_at": iso(lead.created_at),
    }


def iso(value):
    return DateTimeField().to_representation(value)


def without_id(row):
    return {name: value for name, value in row.items() if name != "id"}


def test_imported_lead_gets_its_created_entry_from_the_batch(manager, agent, auth):
    batch = run_import(manager, count=1)
    lead = Lead.objects.get(batch=batch)
    assert lead.agent == agent
    assert not LeadActivity.objects.exists()
    response = auth(manager).get(URL.format(lead.pk))
    assert response.status_code == 200
    body = response.json()
    assert (body["count"], body["next"], body["previous"]) == (1, None, None)
    assert body["results"] == [
        {
            "id": DERIVED_ID,
            **created_body(lead, f"import #{batch.pk}, assigned to asha@example.com", manager),
        }
    ]


def test_derived_entry_reads_as_the_row_the_import_used_to_store(manager, agent, auth):
    """A lead imported before the change keeps its stored row, and only that one."""
    batch = run_import(manager, count=2)
    derived_lead, stored_lead = Lead.objects.filter(batch=batch).order_by("id")
    # What the import wrote per lead before: its "created" row, at the lead's time.
    stored = LeadActivity.objects.create(
        lead=stored_lead,
        actor=manager,
        kind=LeadActivity.Kind.CREATED,
        new_value=f"import #{batch.pk}, assigned to asha@example.com",
    )
    LeadActivity.objects.filter(pk=stored.pk).update(created_at=stored_lead.created_at)
    client = auth(manager)
    old = client.get(URL.format(stored_lead.pk)).json()
    assert old["count"] == 1
    assert old["results"][0]["id"] == stored.pk
    new = client.get(URL.format(derived_lead.pk)).json()
    assert new["count"] == 1
    assert without_id(new["results"][0]) == without_id(old["results"][0])


def test_derived_entry_is_the_oldest_and_pages_at_any_size(manager, agent, auth):
    batch = run_import(manager, count=1)
    lead = Lead.objects.get(batch=batch)
    lead_services.lead_update(lead=lead, actor=agent.user, status="contacted")
    lead_services.lead_update(lead=lead, actor=agent.user, notes="call back")
    client = auth(agent)
    whole = client.get(URL.format(lead.pk), {"page_size": 100}).json()
    assert whole["count"] == 3
    assert [row["kind"] for row in whole["results"]] == ["note", "status", "created"]
    assert whole["results"][-1]["id"] == DERIVED_ID

    by_one = [client.get(URL.format(lead.pk), {"page_size": 1, "page": n}) for n in (1, 2, 3)]
    assert all(page.status_code == 200 for page in by_one)
    assert all(page.json()["count"] == 3 for page in by_one)
    assert [page.json()["results"] for page in by_one] == [[row] for row in whole["results"]]
    assert by_one[1].json()["next"] is not None and by_one[2].json()["next"] is None
    past = client.get(URL.format(lead.pk), {"page_size": 1, "page": 4})
    assert past.status_code == 404

    first, second = (
        client.get(URL.format(lead.pk), {"page_size": 2, "page": n}).json() for n in (1, 2)
    )
    assert (first["count"], second["count"]) == (3, 3)
    assert first["results"] == whole["results"][:2]
    assert second["results"] == whole["results"][2:]
    assert second["next"] is None
    last = client.get(URL.format(lead.pk), {"page_size": 2, "page": "last"}).json()
    assert last["results"] == second["results"]


def test_derived_entry_keeps_its_place_among_older_stored_rows(manager, agent):
    """Not the last entry if a stored row is older than the lead (clocks, back-dating)."""
    lead = Lead.objects.get(batch=run_import(manager, count=1))
    newer = LeadActivity.objects.create(lead=lead, kind=LeadActivity.Kind.NOTE, new_value="a")
    older = LeadActivity.objects.create(lead=lead, kind=LeadActivity.Kind.NOTE, new_value="b")
    LeadActivity.objects.filter(pk=older.pk).update(created_at=lead.created_at.replace(year=2000))
    timeline = LeadTimeline(lead)
    assert timeline.count() == 3
    ids = [entry.id for entry in timeline[0:3]]
    assert ids == [newer.pk, DERIVED_ID, older.pk]
    assert [[entry.id for entry in timeline[n : n + 1]] for n in range(3)] == [[i] for i in ids]
    assert [entry.id for entry in timeline[1:3]] == ids[1:]
    assert [entry.id for entry in timeline[2:3]] == ids[2:]


def test_reassigned_lead_still_names_the_agent_the_import_gave_it(manager, agent, make_agent, auth):
    batch = run_import(manager, count=1)
    lead = Lead.objects.get(batch=batch)
    other_agent = make_agent(email="ravi@example.com")
    reassign(lead_ids=[lead.pk], agent=other_agent, actor=manager)
    results = auth(manager).get(URL.format(lead.pk)).json()["results"]
    assert [(row["kind"], row["old_value"], row["new_value"]) for row in results] == [
        ("assigned", "asha@example.com", "ravi@example.com"),
        ("created", "", f"import #{batch.pk}, assigned to asha@example.com"),
    ]
    # The new owner sees the same history.
    assert auth(other_agent).get(URL.format(lead.pk)).json()["results"] == results


def test_unassigned_import_says_only_the_import(manager, agent, auth):
    batch = run_import(manager, count=1, distribute=False)
    lead = Lead.objects.get(batch=batch)
    assert lead.agent is None
    results = auth(manager).get(URL.format(lead.pk)).json()["results"]
    assert results == [{"id": DERIVED_ID, **created_body(lead, f"import #{batch.pk}", manager)}]


def test_import_without_a_user_has_no_actor(agent, auth, manager):
    batch = run_import(None, count=1)
    lead = Lead.objects.get(batch=batch)
    (row,) = auth(manager).get(URL.format(lead.pk)).json()["results"]
    assert (row["new_value"], row["actor"]) == (
        f"import #{batch.pk}, assigned to asha@example.com",
        None,
    )


def test_lead_created_through_the_api_keeps_its_stored_row(manager, auth):
    client = auth(manager)
    created = client.post(
        "/api/v1/leads/", {"first_name": "Api", "phone": "9876500001"}, format="json"
    )
    assert created.status_code == 201
    lead = Lead.objects.get(pk=created.json()["id"])
    stored = LeadActivity.objects.get(lead=lead)
    body = client.get(URL.format(lead.pk)).json()
    assert body["count"] == 1
    assert body["results"] == [
        {"id": stored.pk, **created_body(lead, "", manager), "created_at": iso(stored.created_at)}
    ]


def test_agent_reads_only_its_own_imported_leads_timelines(manager, agent, other_agent, auth):
    batch = run_import(manager, count=2)
    mine = Lead.objects.get(batch=batch, agent=agent)
    theirs = Lead.objects.get(batch=batch, agent=other_agent)
    client = auth(agent)
    assert client.get(URL.format(mine.pk)).status_code == 200
    response = client.get(URL.format(theirs.pk))
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"
    assert client.get(URL.format(theirs.pk), {"page": "last"}).status_code == 404


def test_timeline_query_count_is_flat(manager, agent, auth, django_assert_num_queries):
    batch = run_import(manager, count=1)
    lead = Lead.objects.get(batch=batch)
    client = auth(agent)
    derived = {
        "id": DERIVED_ID,
        **created_body(lead, f"import #{batch.pk}, assigned to asha@example.com", manager),
    }
    # user (with its agent profile), lead, count, derived entry (batch, actor and
    # the import's agent in one); no stored rows to read.
    with django_assert_num_queries(4):
        assert client.get(URL.format(lead.pk)).json()["results"] == [derived]
    for count in (30, 60):
        for n in range(count - LeadActivity.objects.filter(lead=lead).count()):
            lead_services.lead_update(lead=lead, actor=agent.user, notes=f"call {count}.{n}")
        # ... and one query for the page's stored rows, however many there are.
        with django_assert_num_queries(5):
            page = client.get(URL.format(lead.pk), {"page_size": 100}).json()
        assert (page["count"], len(page["results"])) == (count + 1, count + 1)
        assert page["results"][-1] == derived
    # A page before the derived entry does not look it up; the page of it alone reads no rows.
    with django_assert_num_queries(4):
        page = client.get(URL.format(lead.pk), {"page_size": 10}).json()
    assert len(page["results"]) == 10 and DERIVED_ID not in {row["id"] for row in page["results"]}
    with django_assert_num_queries(4):
        page = client.get(URL.format(lead.pk), {"page_size": 10, "page": "last"}).json()
    assert page["results"] == [derived]


def test_admin_lead_page_shows_the_derived_entry(console, manager, agent):
    batch = run_import(manager, count=1)
    lead = Lead.objects.get(batch=batch)
    lead_services.lead_update(lead=lead, actor=manager, status="contacted")
    url = f"/admin/leads/lead/{lead.pk}/change/"
    console.get(url)  # the session's first page reads more (permissions)
    with CaptureQueriesContext(connection) as few:
        page = console.get(url)
    assert page.status_code == 200
    body = page.content.decode()
    assert "Activity timeline" in body
    label = f"import #{batch.pk}, assigned to asha@example.com"
    assert body.count(label) == 1
    assert body.index("Status changed") < body.index(label)
    for n in range(20):
        lead_services.lead_update(lead=lead, actor=manager, notes=f"call {n}")
    with CaptureQueriesContext(connection) as many:
        assert console.get(url).content.decode().count("Notes changed") == 20
    assert len(many) == len(few)


def test_undo_keeps_worked_leads_with_their_derived_entry(manager, agent, auth):
    batch = run_import(manager, count=2)
    worked, untouched = Lead.objects.filter(batch=batch).order_by("id")
    lead_services.lead_update(lead=worked, actor=agent.user, notes="called")
    result = undo_batch(batch=batch, actor=manager)
    assert (result.kept, result.removed) == ([worked.pk], 1)
    assert not Lead.objects.filter(pk=untouched.pk).exists()
    results = auth(manager).get(URL.format(worked.pk)).json()["results"]
    assert [row["kind"] for row in results] == ["note", "created"]
    assert results[-1]["new_value"] == f"import #{batch.pk}, assigned to asha@example.com"
