"""Distribution at insert: an import plans its leads' agents before inserting them."""

import io
from collections import Counter

import pytest
from django.utils import timezone

from assignments import services
from assignments.models import Assignment, Reason, RotationState
from imports.services import import_file
from leads.models import ImportBatch, Lead, LeadActivity

from .helpers import assert_assignment_invariants

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(make_agent):
    return [make_agent() for _ in range(5)]


def insert_planned(batch, agents, start=0):
    """Insert one lead per planned position, as the import pipeline does."""
    Lead.objects.bulk_create(
        Lead(first_name=f"P{start + i}", phone=f"+9197{start + i:08d}", batch=batch, agent_id=a)
        for i, a in enumerate(agents)
    )


def test_chunked_plans_equal_one_plan_and_persist_the_cursor(five):
    preview = services.preview_counts(n_leads=23)
    plan, seen = None, Counter()
    for count in (7, 8, 8):
        plan = services.plan_new_leads(count=count, previous=plan)
        seen.update(a for a in plan.agents if a is not None)
    assert dict(seen) == {k: v for k, v in preview.per_agent.items() if v}
    assert sorted(seen.values(), reverse=True) == [5, 5, 5, 4, 4]
    assert RotationState.objects.get().last_agent_id == plan.agents[-1]
    # The next import continues where this one stopped: the remainder rotates.
    after = services.plan_new_leads(count=23)
    assert sorted(Counter(after.agents).values(), reverse=True) == [5, 5, 5, 4, 4]
    assert Counter(after.agents) != seen


def test_capacity_leaves_the_tail_unassigned(make_agent):
    make_agent(capacity=2)
    make_agent(capacity=1)
    first = services.plan_new_leads(count=2, strategy="balanced")
    rest = services.plan_new_leads(count=3, previous=first)
    assert first.assigned == 2 and first.unassigned == ()
    assert (rest.assigned, rest.unassigned) == (1, (1, 2))
    assert rest.agents[1:] == [None, None]


def test_no_eligible_agent_is_an_error_and_moves_nothing(make_agent):
    make_agent(accepts_leads=False)
    with pytest.raises(services.NoEligibleAgent):
        services.plan_new_leads(count=3)
    assert RotationState.objects.filter(last_agent_id__isnull=False).count() == 0


def test_record_opens_one_assignment_per_planned_lead(five, manager):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x")
    now = timezone.now()
    plan = services.plan_new_leads(count=12, strategy="weighted")
    insert_planned(batch, plan.agents[:10])
    insert_planned(batch, [None, None], start=10)  # e.g. nobody had room
    floor = Lead.objects.order_by("-id").values_list("id", flat=True)[0]
    assigned = services.record_import_assignments(
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
    more = services.plan_new_leads(count=2, previous=plan)
    insert_planned(batch, more.agents, start=20)
    assert services.record_import_assignments(batch=batch, strategy="weighted", after_id=floor) == 2
    assert_assignment_invariants()


def test_an_import_logs_one_activity_per_lead_naming_its_agent(five, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    data = "FirstName,Phone\n" + "".join(f"P{i},98{i:08d}\n" for i in range(7))
    batch = import_file(file=io.BytesIO(data.encode()), file_name="a.csv", actor=manager).batch
    assert (batch.created, batch.assigned) == (7, 7)
    activity = LeadActivity.objects.filter(lead__batch=batch)
    assert set(activity.values_list("kind", flat=True)) == {LeadActivity.Kind.CREATED}
    assert activity.count() == 7
    for entry in activity.select_related("lead__agent"):
        assert entry.new_value == f"import #{batch.pk}, assigned to {entry.lead.agent.email}"
        assert entry.actor == manager
    assert_assignment_invariants()
