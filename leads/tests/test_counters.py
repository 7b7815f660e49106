"""The dashboard's counters equal a full recount after every kind of write.

Each write path goes through its real service (or command, or admin page) on
the real database; then the stored counters are compared with a recount of
the leads and assignments (``counters.recount_tally``), and the dashboard with
what a user would count by hand.
"""

import io
from datetime import UTC, datetime, timedelta

import pytest
from django.core.management import call_command
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assignments import services as assignment_services
from imports.services import commit_batch, import_file, undo_batch
from leads import counters, services
from leads.models import NO_AGENT, DayCount, Lead, LeadCount, LeadStatus
from reports.selectors import compute_dashboard

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PHONE_DEFAULT_REGION = "IN"


def assert_counters_match():
    """The stored counters are exactly what a full recount gives (no drift)."""
    stored, counted = counters.stored_tally(), counters.recount_tally()
    assert counters.differences(stored, counted) == []
    assert not LeadCount.objects.filter(count__lt=0).exists()
    assert not DayCount.objects.filter(created__lt=0).exists()
    assert not DayCount.objects.filter(assigned__lt=0).exists()


def csv_file(first, count):
    lines = ["FirstName,Phone,Notes"]
    lines += [f"Person{n},98{n:08d},note {n}" for n in range(first, first + count)]
    return io.BytesIO(("\n".join(lines) + "\n").encode())


def run_import(manager, first, count, **options):
    return import_file(
        file=csv_file(first, count), file_name=f"list{first}.csv", actor=manager, **options
    )


def desk_totals():
    data = compute_dashboard()
    return data["totals"], {row["agent_id"]: row["by_status"] for row in data["per_agent"]}


def test_a_created_lead_is_counted_unassigned_and_created_today(manager):
    services.lead_create(actor=manager, first_name="Ana", phone="+919800000001")
    assert_counters_match()
    data = compute_dashboard()
    assert data["totals"]["new"] == 1
    assert data["unassigned"] == 1
    assert data["series"][-1]["created"] == 1


def test_a_status_change_moves_one_lead_between_statuses(manager, agent, make_lead):
    lead = make_lead(agent=agent)
    make_lead(agent=agent)
    services.lead_update(lead=lead, actor=manager, status=LeadStatus.CONTACTED)
    assert_counters_match()
    _totals, per_agent = desk_totals()
    assert per_agent[agent.pk]["new"] == 1
    assert per_agent[agent.pk]["contacted"] == 1
    # The same status again, and a change of notes only: nothing moves.
    services.lead_update(lead=lead, actor=manager, status=LeadStatus.CONTACTED, notes="called")
    assert_counters_match()


def test_distribute_counts_leads_and_assignments(manager, agent, other_agent, make_lead):
    for _ in range(5):
        make_lead()
    result = assignment_services.distribute(actor=manager)
    assert result.assigned == 5
    assert_counters_match()
    data = compute_dashboard()
    assert data["unassigned"] == 0
    assert data["series"][-1]["assigned"] == 5
    open_leads = {row["agent_id"]: row["open"] for row in data["per_agent"]}
    assert sorted(open_leads) == sorted([agent.pk, other_agent.pk])
    assert sorted(open_leads.values()) == [2, 3]


def test_reassign_moves_counts_and_adds_an_assignment(manager, agent, other_agent, make_lead):
    leads = [make_lead(agent=agent, status=status) for status in LeadStatus]
    assignment_services.reassign(lead_ids=[lead.pk for lead in leads], agent=other_agent)
    assert_counters_match()
    _totals, per_agent = desk_totals()
    assert per_agent[other_agent.pk] == {status.value: 1 for status in LeadStatus}
    assert sum(per_agent.get(agent.pk, {}).values()) == 0
    assert compute_dashboard()["series"][-1]["assigned"] == 10  # 5 by the fixture, 5 moves


def test_redistribute_and_deactivation_with_leads_left_unassigned(manager, make_agent, make_lead):
    leaving, staying = make_agent(), make_agent(capacity=2)
    for _ in range(5):
        make_lead(agent=leaving)
    make_lead(agent=leaving, status=LeadStatus.CONVERTED)  # closed: stays with its agent
    result = assignment_services.agent_deactivate(agent=leaving, actor=manager)
    assert (result.assigned, len(result.unplaced_ids)) == (2, 3)
    assert_counters_match()
    data = compute_dashboard()
    assert data["unassigned"] == 3
    assert assignment_services.redistribute_agent(agent=staying, allow_none=True).assigned == 0
    assert_counters_match()
    assert compute_dashboard()["unassigned"] == 5


def test_sla_move_keeps_counts(manager, agent, other_agent, make_lead):
    ids = [make_lead(agent=agent).pk for _ in range(4)]
    assert assignment_services.move_leads_from_owners(lead_ids=ids).assigned == 4
    assert_counters_match()
    assert desk_totals()[1][other_agent.pk]["new"] == 4


@pytest.mark.parametrize("distribute", [True, False])
def test_import_counts_its_leads_and_assignments(manager, agent, other_agent, distribute):
    result = run_import(manager, 0, 30, distribute=distribute)
    assert result.batch.created == 30
    assert_counters_match()
    data = compute_dashboard()
    assert data["totals"]["all"] == 30
    assert data["unassigned"] == (0 if distribute else 30)
    assert data["series"][-1] == {
        "date": timezone.localdate().isoformat(),
        "created": 30,
        "assigned": 30 if distribute else 0,
    }


def test_preview_counts_nothing_and_its_commit_counts_it_all(manager, agent):
    preview = run_import(manager, 0, 10, preview=True)
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 0
    commit_batch(batch=preview.batch, actor=manager)
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 10


def test_a_failed_import_leaves_the_counters_as_they_were(manager, agent):
    run_import(manager, 0, 5)
    bad = io.BytesIO(b"FirstName,Phone\nAna,9800000100\n,not-a-phone\n")
    with pytest.raises(Exception):  # noqa: B017 (any refusal; the counters are the point)
        import_file(file=bad, file_name="bad.csv", actor=manager, strict=True)
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 5


def test_undo_removes_the_counts_of_removed_leads_only(manager, agent, other_agent):
    batch = run_import(manager, 0, 12).batch
    worked = Lead.objects.filter(batch=batch).order_by("id").first()
    services.lead_update(lead=worked, actor=manager, status=LeadStatus.QUALIFIED)
    result = undo_batch(batch=batch, actor=manager)
    assert (result.removed, result.kept) == (11, [worked.pk])
    assert_counters_match()
    data = compute_dashboard()
    assert data["totals"]["all"] == 1
    assert data["totals"]["qualified"] == 1
    assert data["series"][-1]["created"] == 1
    assert data["series"][-1]["assigned"] == 1


def test_deleting_leads_in_the_admin_uncounts_them(client, admin_user, make_lead):
    # The admin deletes only leads without history (assignments and timeline
    # rows cannot be deleted there): hand-made ones, never assigned.
    leads = [make_lead(), make_lead(status="contacted"), make_lead(status="lost")]
    client.force_login(admin_user)
    response = client.post(
        "/admin/leads/lead/",
        {
            "action": "delete_selected",
            "_selected_action": [leads[0].pk, leads[1].pk],
            "post": "yes",
        },
    )
    assert response.status_code == 302
    assert list(Lead.objects.values_list("pk", flat=True)) == [leads[2].pk]
    assert_counters_match()
    response = client.post(f"/admin/leads/lead/{leads[2].pk}/delete/", {"post": "yes"})
    assert response.status_code == 302
    assert not Lead.objects.exists()
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 0


def test_seed_demo_counts_its_leads(settings):
    call_command("seed_demo", leads=25, stdout=io.StringIO())
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 25


def test_days_are_local_days_of_time_zone(settings, manager, agent):
    # 20:00 UTC is 01:30 the next day in India: counted on the local day.
    settings.TIME_ZONE = "Asia/Kolkata"
    late = datetime(2026, 3, 1, 20, 0, tzinfo=UTC)
    lead = services.lead_create(actor=manager, first_name="Late", phone="+919800000002")
    counters.leads_deleted([lead.pk])  # moved behind the counters' back, then recounted
    Lead.objects.filter(pk=lead.pk).update(created_at=late)
    counters.leads_added([lead.pk])
    assert (
        DayCount.objects.exclude(created=0).get(agent_key=NO_AGENT).day.isoformat() == "2026-03-02"
    )
    assert_counters_match()
    data = compute_dashboard(now=late + timedelta(hours=1))
    assert data["series"][-1] == {"date": "2026-03-02", "created": 1, "assigned": 0}


def test_rebuild_command_reports_and_fixes_corrupted_counters(agent, make_lead):
    for status in ("new", "new", "contacted"):
        make_lead(agent=agent, status=status)
    make_lead()
    LeadCount.objects.filter(agent_key=agent.pk, status="new").update(count=7)
    LeadCount.objects.filter(agent_key=NO_AGENT).delete()
    DayCount.objects.filter(agent_key=agent.pk).update(assigned=0)
    LeadCount.objects.create(agent_key=agent.pk, status="lost", count=-2)

    out = io.StringIO()
    call_command("rebuild_counters", dry_run=True, stdout=out)
    assert "4 counters differ from a full recount (dry run)." in out.getvalue()
    assert f"lead agent {agent.pk} new: 7 -> 2" in out.getvalue()
    assert LeadCount.objects.get(agent_key=agent.pk, status="new").count == 7  # untouched

    out = io.StringIO()
    call_command("rebuild_counters", stdout=out)
    assert "Fixed 4 counters." in out.getvalue()
    assert "lead unassigned new: 0 -> 1" in out.getvalue()
    assert f"assigned agent {agent.pk}" in out.getvalue()
    assert_counters_match()
    assert compute_dashboard()["totals"]["all"] == 4

    out = io.StringIO()
    call_command("rebuild_counters", stdout=out)
    assert "nothing to fix" in out.getvalue()


def test_the_dashboard_reads_only_counters_in_a_constant_number_of_queries(
    agent, other_agent, make_lead
):
    for n in range(20):
        make_lead(agent=(agent, other_agent, None)[n % 3], status=list(LeadStatus)[n % 5])
    with CaptureQueriesContext(connection) as desk:
        compute_dashboard()
    with CaptureQueriesContext(connection) as own:
        compute_dashboard(owner=agent)
    # Lead counters, agents, day counters (+ the latest imports for the desk).
    assert len(desk) == 4
    assert len(own) == 3
    table = connection.ops.quote_name(Lead._meta.db_table)
    for query in [*desk.captured_queries, *own.captured_queries]:
        assert table not in query["sql"]  # never a count over the leads


def test_a_routed_import_counts_its_leads_and_assignments(manager, agent, other_agent):
    from routing.services import rule_create, team_create

    team = team_create(name="India desk", members=[other_agent.pk])
    rule_create(
        name="Indian numbers",
        conditions=[{"field": "phone_country", "op": "eq", "value": "IN"}],
        team=team.pk,
    )
    result = run_import(manager, 0, 20)
    assert result.batch.created == 20
    assert Lead.objects.filter(agent=other_agent).count() == 20
    assert_counters_match()
    assert compute_dashboard()["series"][-1]["assigned"] == 20
