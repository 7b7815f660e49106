"""Distribution at insert: an import plans its leads' agents before inserting them."""

import io
import threading
from collections import Counter

import pytest
from django.db import OperationalError, connection, connections, transaction
from django.utils import timezone

from assignments import services
from assignments.models import Assignment, Reason, RotationState
from assignments.planning import plan_new_leads, preview_counts
from assignments.results import NoEligibleAgent
from assignments.writers import record_import_assignments
from imports.selectors import LeadTimeline
from imports.services import import_file
from leads.models import ImportBatch, Lead, LeadActivity

from .helpers import assert_assignment_invariants, open_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(make_agent):
    return [make_agent() for _ in range(5)]


def history_and_cursor():
    state = RotationState.objects.get()
    return (
        list(Assignment.objects.values_list("id", "lead_id", "agent_id", "ended_at")),
        LeadActivity.objects.count(),
        (state.last_agent_id, state.weights),
    )


def import_csv(n, *, name, first_phone=0, actor=None):
    """Import ``n`` new leads through the real import path (commit at once)."""
    data = "FirstName,Phone\n" + "".join(
        f"P{i},98{i:08d}\n" for i in range(first_phone, first_phone + n)
    )
    return import_file(file=io.BytesIO(data.encode()), file_name=name, actor=actor).batch


def insert_planned(batch, agents, start=0):
    """Insert one lead per planned position, as the import pipeline does."""
    Lead.objects.bulk_create(
        Lead(first_name=f"P{start + i}", phone=f"+9197{start + i:08d}", batch=batch, agent_id=a)
        for i, a in enumerate(agents)
    )


def test_chunked_plans_equal_one_plan_and_persist_the_cursor(five):
    preview = preview_counts(n_leads=23)
    plan, seen = None, Counter()
    for count in (7, 8, 8):
        plan = plan_new_leads(count=count, previous=plan)
        seen.update(a for a in plan.agents if a is not None)
    assert dict(seen) == {k: v for k, v in preview.per_agent.items() if v}
    assert sorted(seen.values(), reverse=True) == [5, 5, 5, 4, 4]
    assert RotationState.objects.get().last_agent_id == plan.agents[-1]
    # The next import continues where this one stopped: the remainder rotates.
    after = plan_new_leads(count=23)
    assert sorted(Counter(after.agents).values(), reverse=True) == [5, 5, 5, 4, 4]
    assert Counter(after.agents) != seen


def test_capacity_leaves_the_tail_unassigned(make_agent):
    make_agent(capacity=2)
    make_agent(capacity=1)
    first = plan_new_leads(count=2, strategy="balanced")
    rest = plan_new_leads(count=3, previous=first)
    assert first.assigned == 2 and first.unplaced_positions == ()
    assert (rest.assigned, rest.unplaced_positions) == (1, (1, 2))
    assert rest.agents[1:] == [None, None]


def test_no_eligible_agent_is_an_error_and_moves_nothing(make_agent):
    make_agent(accepts_leads=False)
    with pytest.raises(NoEligibleAgent):
        plan_new_leads(count=3)
    assert RotationState.objects.filter(last_agent_id__isnull=False).count() == 0


def test_record_opens_one_assignment_per_planned_lead(five, manager):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x")
    now = timezone.now()
    plan = plan_new_leads(count=12, strategy="weighted")
    insert_planned(batch, plan.agents[:10])
    insert_planned(batch, [None, None], start=10)  # e.g. nobody had room
    floor = Lead.objects.order_by("-id").values_list("id", flat=True)[0]
    assigned = record_import_assignments(
        batch=batch, strategy=plan.strategy, actor=manager, now=now
    )
    assert assigned == 10
    rows = Assignment.objects.filter(batch=batch)
    assert rows.count() == 10
    assert set(rows.values_list("reason", "strategy", "assigned_by")) == {
        (Reason.IMPORT, "weighted", manager.pk)
    }
    assert all(row.assigned_at == now and row.ended_at is None for row in rows)
    assert_assignment_invariants()
    # Only the leads above ``after_id`` are recorded by a later call.
    more = plan_new_leads(count=2, previous=plan)
    insert_planned(batch, more.agents, start=20)
    assert record_import_assignments(batch=batch, strategy="weighted", after_id=floor) == 2
    assert_assignment_invariants()


def test_an_import_stores_no_activity_and_each_timeline_names_its_agent(
    five, manager, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    batch = import_csv(7, name="a.csv", actor=manager)
    assert (batch.created, batch.assigned) == (7, 7)
    assert not LeadActivity.objects.filter(lead__batch=batch).exists()
    for lead in Lead.objects.filter(batch=batch).select_related("agent"):
        timeline = LeadTimeline(lead)
        assert timeline.count() == 1
        (entry,) = timeline[0:1]
        assert entry.kind == LeadActivity.Kind.CREATED
        assert entry.new_value == f"import #{batch.pk}, assigned to {lead.agent.email}"
        assert (entry.actor, entry.created_at) == (manager, lead.created_at)
    assert_assignment_invariants()


def test_three_uploads_of_23_leave_every_agent_with_13_or_14(five, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    for upload in range(3):
        import_csv(23, name=f"u{upload}.csv", first_phone=100 * upload)
    counts = open_counts()
    assert sorted(counts.values()) == [13, 14, 14, 14, 14]
    assert set(counts) == {a.pk for a in five}
    assert Assignment.objects.filter(reason=Reason.IMPORT).count() == 69
    assert_assignment_invariants()


def test_preview_counts_match_what_the_import_then_does(five, make_leads, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    make_leads(3)
    services.distribute()  # the cursor is no longer at the start
    before = history_and_cursor()

    preview = preview_counts(n_leads=23)

    assert preview.assigned == 23 and preview.unplaced_positions == ()
    assert history_and_cursor() == before
    batch = import_csv(23, name="b.csv")
    assert batch.per_agent == {str(agent_id): n for agent_id, n in preview.per_agent.items()}


def test_preview_counts_reports_the_positions_that_do_not_fit(make_agent):
    full = make_agent(capacity=2)
    preview = preview_counts(n_leads=5, strategy="balanced")
    assert preview.per_agent == {full.pk: 2}
    assert preview.unplaced_positions == (2, 3, 4)
    assert preview.agents == [full.pk, full.pk, None, None, None]
    empty = preview_counts(n_leads=0)
    assert (empty.per_agent, empty.assigned) == ({}, 0)


needs_mariadb = pytest.mark.skipif(
    connection.vendor != "mysql", reason="MariaDB's foreign-key checks and row locks"
)


@needs_mariadb
@pytest.mark.django_db(transaction=True)
def test_the_import_history_skips_per_row_checks_but_holds_the_actor_until_commit(five, manager):
    """The assignment rows are written without per-row foreign-key checks; the one
    reference the leads do not already hold, the actor, is share-locked as a check would."""
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x")
    blocked = []

    def edit_the_actor():
        with connections["default"].cursor() as cursor:
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
            try:
                cursor.execute(
                    "UPDATE accounts_user SET first_name = 'Changed' WHERE id = %s", [manager.pk]
                )
                blocked.append(False)
            except OperationalError as exc:
                blocked.append(exc.args[0] == 1205)  # lock wait timeout
        connections["default"].close()

    with transaction.atomic():
        plan = plan_new_leads(count=6, strategy="round_robin")
        insert_planned(batch, plan.agents)
        assert record_import_assignments(batch=batch, strategy=plan.strategy, actor=manager) == 6
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.foreign_key_checks")
            assert cursor.fetchone()[0] == 1  # the session's checks are back on
        thread = threading.Thread(target=edit_the_actor)
        thread.start()
        thread.join()
    assert blocked == [True]
    rows = Assignment.objects.filter(batch=batch)
    assert set(rows.values_list("assigned_by", "batch", "reason")) == {
        (manager.pk, batch.pk, Reason.IMPORT)
    }
    assert sorted(rows.values_list("lead_id", "agent_id")) == sorted(
        Lead.objects.filter(batch=batch).values_list("id", "agent_id")
    )
    assert_assignment_invariants()


@needs_mariadb
def test_an_actor_deleted_before_the_history_is_written_is_recorded_as_nobody(five, manager):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x")
    plan = plan_new_leads(count=3, strategy="round_robin")
    insert_planned(batch, plan.agents)
    gone = type(manager).objects.get(pk=manager.pk)
    type(manager).objects.filter(pk=manager.pk).delete()
    assert record_import_assignments(batch=batch, strategy=plan.strategy, actor=gone) == 3
    assert (
        list(Assignment.objects.filter(batch=batch).values_list("assigned_by", flat=True))
        == [None] * 3
    )
