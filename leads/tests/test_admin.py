import csv
import io

import pytest
from django.contrib.messages import get_messages

from assignments.models import Assignment, Reason
from common.admin import CappedCountPaginator
from leads.models import ImportBatch, Lead, LeadActivity, LeadStatus

CHANGELIST = "/admin/leads/lead/"


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _act(console, action, leads, url=CHANGELIST, **extra):
    data = {"action": action, "_selected_action": [lead.pk for lead in leads], **extra}
    return console.post(url, data, follow=True)


def _bulk(n, start=0, **fields):
    Lead.objects.bulk_create(
        [
            Lead(first_name=f"Bulk{i}", phone=f"+9196{i:08d}", **fields)
            for i in range(start, start + n)
        ]
    )


def test_changelist_query_count_does_not_grow_with_the_table(
    console, agent, other_agent, django_assert_num_queries
):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x" * 64)
    _bulk(150, agent=agent, batch=batch)
    # session, user, permissions, agent filter choices, batch filter choices,
    # capped count, page of rows (agent and batch joined).
    with django_assert_num_queries(8) as ctx:
        response = console.get(CHANGELIST, {"status__exact": "new", "agent__id__exact": agent.pk})
    assert response.status_code == 200
    assert len(response.context["cl"].result_list) == 100
    counts = [q["sql"] for q in ctx.captured_queries if "COUNT(" in q["sql"].upper()]
    assert len(counts) == 1 and "LIMIT" in counts[0].upper()  # never a full-table count
    _bulk(50, start=1000, agent=other_agent, batch=batch, status=LeadStatus.LOST)
    with django_assert_num_queries(8):
        console.get(CHANGELIST, {"status__exact": "new", "agent__id__exact": agent.pk})


def test_changelist_says_more_than_past_the_count_cap(console, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 20)
    _bulk(30)
    response = console.get(CHANGELIST)
    assert response.context["cl"].result_count == 20
    assert "more than 20 leads" in response.content.decode()


def test_search_finds_a_phone_typed_in_any_format(console, make_lead):
    lead = make_lead(phone="+919876543210", first_name="Kavya")
    make_lead(phone="+919876543211")
    for query in ["098765 43210", "+91 98765-43210", "9876543210"]:
        rows = list(console.get(CHANGELIST, {"q": query}).context["cl"].result_list)
        assert rows == [lead], query
    assert list(console.get(CHANGELIST, {"q": "kavya"}).context["cl"].result_list) == [lead]


def test_filters_by_status_agent_batch_and_follow_up(console, agent, make_lead):
    from datetime import timedelta

    from django.utils import timezone

    batch = ImportBatch.objects.create(file_name="june.csv", sha256="j" * 64)
    due = make_lead(agent=agent, next_follow_up=timezone.now() - timedelta(hours=1))
    in_batch = make_lead(batch=batch, status=LeadStatus.CONTACTED)
    make_lead()

    def rows(**params):
        return set(console.get(CHANGELIST, params).context["cl"].result_list)

    assert rows(agent__id__exact=agent.pk) == {due}
    assert rows(batch=batch.pk) == {in_batch}
    assert rows(status__exact="contacted") == {in_batch}
    assert rows(follow_up="due") == {due}
    assert len(rows(agent__isnull="True")) == 2


def test_change_page_shows_history_and_timeline_read_only(console, agent, other_agent, make_lead):
    lead = make_lead(agent=agent)
    _act(console, "reassign_to", [lead], apply="1", agent=other_agent.pk)
    response = console.get(f"/admin/leads/lead/{lead.pk}/change/")
    assert response.status_code == 200
    body = response.content.decode()
    assert "Assignment history" in body and "Activity timeline" in body
    assert "Manual reassignment" in body
    assert "ravi@example.com" in body  # the activity's new owner
    inline_formsets = response.context["inline_admin_formsets"]
    assert all(not formset.has_add_permission for formset in inline_formsets)


def test_editing_a_lead_goes_through_the_service(console, agent, make_lead):
    lead = make_lead(agent=agent)
    response = console.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "first_name": lead.first_name,
            "phone": lead.phone,
            "status": "contacted",
            "notes": "called",
            "agent": agent.pk,
            "extra": "{}",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    lead.refresh_from_db()
    assert lead.status == "contacted"
    kinds = set(LeadActivity.objects.filter(lead=lead).values_list("kind", flat=True))
    assert {"status", "note"} <= kinds


def test_a_refused_save_is_an_error_message_and_changes_nothing(
    console, agent, make_agent, make_lead
):
    full = make_agent(capacity=1)
    make_lead(agent=full)
    lead = make_lead(agent=agent)
    response = console.post(
        f"/admin/leads/lead/{lead.pk}/change/",
        {
            "first_name": lead.first_name,
            "phone": lead.phone,
            "status": "contacted",
            "agent": full.pk,
            "extra": "{}",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    assert any("capacity of 1" in m for m in _messages(response))
    lead.refresh_from_db()
    assert (lead.agent, lead.status) == (agent, "new")  # the form's save was rolled back


def test_adding_a_lead_normalizes_the_phone_and_assigns(console, agent):
    response = console.post(
        "/admin/leads/lead/add/",
        {
            "first_name": "Farhan",
            "phone": "098765 00001",
            "status": "new",
            "agent": agent.pk,
            "extra": "{}",
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 302
    lead = Lead.objects.get(phone="+919876500001")
    assert lead.agent == agent
    assert Assignment.objects.get(lead=lead, ended_at__isnull=True).agent == agent


@pytest.mark.parametrize(
    ("extra", "message"),
    [
        ('{"id": 123456789012345678901234567890}', "Whole numbers must be between"),
        ("[" * 40 + "]" * 40, "At most 32 levels of nested objects and lists."),
        ('{"notes": "' + "x" * 20_000 + '"}', "bytes are kept per lead."),
    ],
)
def test_the_lead_form_refuses_an_extra_every_list_could_not_carry(console, extra, message):
    response = console.post(
        "/admin/leads/lead/add/",
        {
            "first_name": "Farhan",
            "phone": "098765 00001",
            "status": "new",
            "extra": extra,
            "assignments-TOTAL_FORMS": "0",
            "assignments-INITIAL_FORMS": "0",
            "activities-TOTAL_FORMS": "0",
            "activities-INITIAL_FORMS": "0",
        },
    )
    assert response.status_code == 200  # the form again, with the error
    assert message in response.content.decode()
    assert not Lead.objects.exists()


def test_distribute_selected(console, agent, other_agent, make_lead):
    leads = [make_lead() for _ in range(4)]
    response = _act(console, "distribute_selected", leads)
    assert "4 lead(s) distributed." in _messages(response)
    assert Lead.objects.filter(agent=agent).count() == 2
    assert Lead.objects.filter(agent=other_agent).count() == 2


def test_distribute_selected_without_agents_shows_the_error(console, make_lead):
    response = _act(console, "distribute_selected", [make_lead()])
    assert any("No agent is eligible" in m for m in _messages(response))


def test_reassign_to_asks_for_the_agent_then_moves_the_leads(
    console, agent, other_agent, make_lead
):
    leads = [make_lead(agent=agent) for _ in range(2)]
    page = _act(console, "reassign_to", leads)
    assert page.status_code == 200
    assert b"Give the selected leads to" in page.content
    assert Lead.objects.filter(agent=agent).count() == 2  # nothing moved yet
    response = _act(console, "reassign_to", leads, apply="1", agent=other_agent.pk)
    assert "2 lead(s) reassigned to Ravi Agent." in _messages(response)
    assert Lead.objects.filter(agent=other_agent).count() == 2
    assert Assignment.objects.filter(agent=other_agent, reason=Reason.MANUAL).count() == 2


def test_reassign_over_capacity_is_refused_with_a_message(console, agent, make_agent, make_lead):
    full = make_agent(capacity=1)
    make_lead(agent=full)
    lead = make_lead(agent=agent)
    response = _act(console, "reassign_to", [lead], apply="1", agent=full.pk)
    assert any("capacity of 1" in m for m in _messages(response))
    lead.refresh_from_db()
    assert lead.agent == agent


def test_export_selected_as_csv(console, make_lead):
    a = make_lead(first_name="=HYPERLINK(1)")
    b = make_lead(first_name="Plain")
    make_lead()
    response = _act(console, "export_csv", [a, b])
    assert response["Content-Type"].startswith("text/csv")
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    rows = list(csv.DictReader(io.StringIO(text)))
    assert [row["first_name"] for row in rows] == ["'=HYPERLINK(1)", "Plain"]
    assert rows[0]["phone"] == a.phone


def test_lead_activity_and_history_admins_are_read_only(console, agent, make_lead):
    lead = make_lead(agent=agent)
    assert console.get("/admin/leads/leadactivity/").status_code == 200
    assert console.get("/admin/assignments/assignment/").status_code == 200
    assignment = Assignment.objects.get(lead=lead)
    page = console.get(f"/admin/assignments/assignment/{assignment.pk}/change/")
    assert page.status_code == 200
    assert b'name="_save"' not in page.content
    assert console.post(f"/admin/assignments/assignment/{assignment.pk}/delete/").status_code == 403


def test_assignment_history_filters(console, agent, other_agent, make_lead):
    make_lead(agent=agent)
    make_lead(agent=other_agent)
    url = "/admin/assignments/assignment/"
    rows = console.get(url, {"agent__id__exact": agent.pk}).context["cl"].result_list
    assert [row.agent for row in rows] == [agent]
    assert len(console.get(url, {"reason__exact": "manual"}).context["cl"].result_list) == 2
    assert len(console.get(url, {"strategy__exact": "balanced"}).context["cl"].result_list) == 0


def test_manager_cannot_delete_leads(console, make_lead):
    lead = make_lead()
    assert console.get(f"/admin/leads/lead/{lead.pk}/delete/").status_code == 403


def test_index_shows_the_dashboard(console, agent, make_lead):
    make_lead(agent=agent)
    make_lead()
    response = console.get("/admin/")
    body = response.content.decode()
    assert 'id="leadline-dashboard"' in body
    assert '<b id="dash-unassigned">1</b>' in body
    assert "Asha Agent" in body
    assert body.count('class="created"') == 30
    assert "<script" not in body.split('id="leadline-dashboard"')[1].split("</svg>")[0]


def test_select_all_says_matching_when_the_count_is_capped(console, monkeypatch):
    monkeypatch.setattr(CappedCountPaginator, "CAP", 120)
    _bulk(130)
    body = console.get(CHANGELIST).content.decode()
    assert "Select all matching (120+) leads" in body
