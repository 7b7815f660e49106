"""The distribution service on the real database: invariants, fairness, history."""

from datetime import timedelta

import pytest
from django.utils import timezone

from agents.models import Agent
from assignments import services
from assignments.models import Assignment, Reason, RotationState, Strategy
from assignments.services import agent_deactivate
from common.errors import DomainError
from leads.models import ImportBatch, Lead, LeadActivity, LeadStatus

from .helpers import assert_assignment_invariants, open_counts

pytestmark = pytest.mark.django_db


@pytest.fixture
def five(make_agent):
    return [make_agent() for _ in range(5)]


def cursor_row():
    state = RotationState.objects.filter(pool="default").first()
    return None if state is None else (state.last_agent_id, state.weights)


def snapshot():
    return (
        list(Assignment.objects.values_list("id", "lead_id", "agent_id", "ended_at")),
        list(Lead.objects.values_list("id", "agent_id")),
        LeadActivity.objects.count(),
        cursor_row(),
    )


# --- who may receive leads ----------------------------------------------------


def test_only_active_accepting_present_agents_receive_leads(make_agent, make_leads):
    now = timezone.now()
    ok = make_agent()
    back = make_agent(away_until=now - timedelta(hours=1))
    make_agent(accepts_leads=False)
    make_agent(away_until=now + timedelta(days=1))
    off = make_agent()
    Agent.objects.filter(pk=off.pk).update(is_active=False)
    locked_out = make_agent()
    locked_out.user.is_active = False
    locked_out.user.save()
    make_leads(10)

    result = services.distribute(now=now)

    assert result.assigned == 10
    assert set(result.per_agent) == {ok.pk, back.pk}
    assert open_counts() == {ok.pk: 5, back.pk: 5}
    assert_assignment_invariants()


def test_capacity_is_never_exceeded_and_the_rest_is_reported(make_agent, make_lead, make_leads):
    small = make_agent(capacity=2)
    make_lead(agent=small)
    tiny = make_agent(capacity=1)
    leads = make_leads(5)

    result = services.distribute(strategy="balanced")

    assert result.per_agent == {small.pk: 1, tiny.pk: 1}
    assert result.assigned == 2
    assert result.unplaced_ids == tuple(lead.pk for lead in leads[2:])
    assert open_counts() == {small.pk: 2, tiny.pk: 1}
    assert Lead.objects.filter(agent=None).count() == 3
    assert_assignment_invariants()


def test_no_eligible_agent_is_an_error_and_changes_nothing(make_agent, make_leads):
    make_agent(accepts_leads=False)
    make_leads(3)
    before = snapshot()

    with pytest.raises(DomainError) as caught:
        services.distribute()

    assert caught.value.code == "no_eligible_agent"
    assert snapshot() == before


def test_nothing_to_do_is_not_an_error(make_agent):
    result = services.distribute()  # no leads and no agents either
    assert (result.assigned, result.unplaced_ids, result.per_agent) == (0, (), {})


def test_unknown_strategy_is_a_validation_error(make_agent, make_leads):
    make_agent()
    make_leads(1)
    with pytest.raises(DomainError) as caught:
        services.distribute(strategy="random")
    assert caught.value.code == "validation_error"
    assert "strategy" in caught.value.fields
    assert Assignment.objects.count() == 0


# --- fairness -------------------------------------------------------------------


def test_23_leads_to_5_agents_is_5_5_5_4_4_in_id_order(five, make_leads):
    make_leads(23)
    result = services.distribute()
    assert [result.per_agent[a.pk] for a in five] == [5, 5, 5, 4, 4]
    assert [open_counts()[a.pk] for a in five] == [5, 5, 5, 4, 4]
    assert RotationState.objects.get().last_agent_id == five[2].pk
    assert_assignment_invariants()


def test_weighted_three_to_one_over_400_leads_is_300_100(make_agent, make_leads):
    heavy = make_agent(weight=3)
    light = make_agent(weight=1)
    make_leads(400)
    result = services.distribute(strategy="weighted")
    assert result.per_agent == {heavy.pk: 300, light.pk: 100}
    assert open_counts() == {heavy.pk: 300, light.pk: 100}
    assert RotationState.objects.get().weights == {str(heavy.pk): 0, str(light.pk): 0}


def test_weighted_rotation_continues_across_calls(make_agent, make_leads):
    heavy = make_agent(weight=3)
    light = make_agent(weight=1)
    for _ in range(4):  # 4 calls of one lead each: a a b a, as one call would do
        make_leads(1)
        services.distribute(strategy="weighted")
    assert open_counts() == {heavy.pk: 3, light.pk: 1}


def test_balanced_fills_the_least_loaded_and_breaks_ties_by_id(make_agent, make_lead, make_leads):
    busy = make_agent()
    first = make_agent()
    second = make_agent()
    for _ in range(3):
        make_lead(agent=busy)
    make_lead(agent=busy, status=LeadStatus.CONVERTED)  # closed leads are no load
    leads = make_leads(7)

    result = services.distribute(strategy="balanced")

    owners = dict(
        Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("id", "agent")
    )
    assert owners[leads[0].pk] == first.pk  # tie at zero: lower id first
    assert owners[leads[6].pk] == busy.pk  # all at three: lowest id
    assert result.per_agent == {busy.pk: 1, first.pk: 3, second.pk: 3}
    assert_assignment_invariants()


# --- what is distributed and what is written ---------------------------------


def test_history_and_timeline_record_actor_strategy_and_reason(manager, make_agent, make_leads):
    target = make_agent()
    leads = make_leads(2)
    now = timezone.now()

    services.distribute(actor=manager, strategy="balanced", now=now)

    rows = list(Assignment.objects.order_by("lead_id"))
    assert [(r.lead_id, r.agent_id) for r in rows] == [(lead.pk, target.pk) for lead in leads]
    for row in rows:
        assert (row.assigned_by, row.strategy, row.reason) == (manager, "balanced", "distribute")
        assert row.assigned_at == now and row.ended_at is None and row.batch is None
    activity = LeadActivity.objects.filter(kind=LeadActivity.Kind.ASSIGNED)
    assert sorted(activity.values_list("lead_id", flat=True)) == [lead.pk for lead in leads]
    assert {(a.actor, a.new_value) for a in activity} == {(manager, target.email)}


def test_selected_ids_skip_owned_closed_and_missing_leads(
    agent, other_agent, make_lead, make_leads
):
    owned = make_lead(agent=other_agent)
    closed = make_lead(status=LeadStatus.LOST)
    fresh = make_leads(2)
    untouched = make_leads(1)[0]
    requested = [fresh[1].pk, owned.pk, closed.pk, 999_999, fresh[0].pk]

    result = services.distribute(lead_ids=requested, strategy="balanced")

    assert result.assigned == 2
    assert not Lead.objects.filter(pk__in=[lead.pk for lead in fresh], agent=None).exists()
    assert result.skipped == (owned.pk, closed.pk, 999_999)
    assert Lead.objects.get(pk=owned.pk).agent == other_agent
    assert Lead.objects.get(pk=closed.pk).agent is None
    assert Lead.objects.get(pk=untouched.pk).agent is None
    assert_assignment_invariants()


def test_one_batch_only_and_the_assignment_names_it(agent, make_leads):
    batch = ImportBatch.objects.create(file_name="a.csv", sha256="a")
    inside = make_leads(3, batch=batch)
    outside = make_leads(2)

    result = services.distribute(batch=batch)

    assert result.assigned == 3
    assert set(Lead.objects.exclude(agent=None).values_list("id", flat=True)) == {
        lead.pk for lead in inside
    }
    assert set(Assignment.objects.values_list("batch_id", flat=True)) == {batch.pk}
    assert not Lead.objects.filter(pk__in=[lead.pk for lead in outside]).exclude(agent=None)


def test_dry_run_writes_nothing_and_keeps_the_cursor(five, make_leads):
    make_leads(7)
    services.distribute()  # cursor now after the 2nd agent
    make_leads(23)
    before = snapshot()

    preview = services.distribute(dry_run=True)

    assert preview.dry_run and preview.assigned == 23
    assert snapshot() == before
    real = services.distribute()
    assert real.per_agent == preview.per_agent


# --- redistribute ---------------------------------------------------------------


def test_redistribute_moves_open_leads_to_the_others_never_back(make_agent, make_lead, manager):
    leaving = make_agent()
    a = make_agent()
    b = make_agent()
    moved = [make_lead(agent=leaving) for _ in range(5)]
    kept = make_lead(agent=leaving, status=LeadStatus.CONVERTED)

    result = services.redistribute_agent(agent=leaving, actor=manager)

    assert result.assigned == 5
    assert result.per_agent == {a.pk: 3, b.pk: 2}
    assert open_counts() == {a.pk: 3, b.pk: 2}
    assert Lead.objects.get(pk=kept.pk).agent == leaving
    ended = Assignment.objects.filter(agent=leaving, lead__in=moved)
    assert all(row.ended_at and row.end_reason == "redistribute" for row in ended)
    new = Assignment.objects.filter(lead__in=moved, ended_at=None)
    assert {(r.reason, r.assigned_by) for r in new} == {("redistribute", manager)}
    assert_assignment_invariants()


def test_redistribute_without_other_agents_fails_and_changes_nothing(agent, make_lead):
    make_lead(agent=agent)
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.redistribute_agent(agent=agent)
    assert caught.value.code == "no_eligible_agent"
    assert snapshot() == before


def test_redistribute_allow_none_leaves_leads_unassigned_and_reports_them(agent, make_lead):
    leads = [make_lead(agent=agent) for _ in range(2)]
    result = services.redistribute_agent(agent=agent, allow_none=True)
    assert result.unplaced_ids == tuple(lead.pk for lead in leads)
    assert Lead.objects.filter(agent=None).count() == 2
    assert not Assignment.objects.filter(ended_at=None).exists()
    assert_assignment_invariants()


def test_redistribute_respects_the_others_capacity(make_agent, make_lead):
    leaving = make_agent()
    small = make_agent(capacity=1)
    leads = [make_lead(agent=leaving) for _ in range(3)]
    result = services.redistribute_agent(agent=leaving)
    assert result.per_agent == {small.pk: 1}
    assert result.unplaced_ids == (leads[1].pk, leads[2].pk)
    assert open_counts() == {small.pk: 1}
    assert_assignment_invariants()


def test_deactivating_an_agent_hands_its_leads_to_the_others(agent, other_agent, make_lead):
    leads = [make_lead(agent=agent) for _ in range(3)]
    agent_deactivate(agent=agent)
    owners = Lead.objects.filter(pk__in=[x.pk for x in leads]).values_list("agent", flat=True)
    assert set(owners) == {other_agent.pk}
    assert_assignment_invariants()


def test_deactivating_the_last_agent_leaves_its_leads_unassigned(agent, make_lead):
    make_lead(agent=agent)
    agent_deactivate(agent=agent)
    assert Lead.objects.get().agent is None
    assert_assignment_invariants()


# --- reassign -------------------------------------------------------------------


def test_reassign_moves_selected_leads_and_ends_the_old_rows(
    agent, other_agent, make_lead, manager
):
    theirs = [make_lead(agent=other_agent) for _ in range(2)]
    loose = make_lead()
    mine = make_lead(agent=agent)
    ids = [theirs[0].pk, loose.pk, mine.pk, theirs[1].pk]

    result = services.reassign(lead_ids=ids, agent=agent, actor=manager)

    assert result.assigned == 3 and result.skipped == (mine.pk,)
    assert open_counts() == {agent.pk: 4}
    old = Assignment.objects.filter(agent=other_agent)
    assert {(r.end_reason, r.ended_at is not None) for r in old} == {("manual", True)}
    new = Assignment.objects.filter(agent=agent, ended_at=None, assigned_by=manager)
    assert new.filter(strategy=Strategy.MANUAL, reason=Reason.MANUAL).count() == 3
    activity = LeadActivity.objects.get(lead=theirs[0], kind="assigned")
    assert (activity.old_value, activity.new_value) == (other_agent.email, agent.email)
    assert_assignment_invariants()


def test_reassign_ignores_accepts_leads_and_away(make_agent, make_lead):
    away = make_agent(accepts_leads=False, away_until=timezone.now() + timedelta(days=2))
    lead = make_lead()
    services.reassign(lead_ids=[lead.pk], agent=away)
    assert Lead.objects.get().agent == away


def test_reassign_to_a_deactivated_agent_is_refused(agent, other_agent, make_lead):
    lead = make_lead(agent=other_agent)
    agent_deactivate(agent=agent)
    before = snapshot()
    with pytest.raises(DomainError) as caught:
        services.reassign(lead_ids=[lead.pk], agent=agent)
    assert caught.value.code == "agent_inactive" and "agent" in caught.value.fields
    assert snapshot() == before


def test_reassign_refuses_to_exceed_capacity_and_changes_nothing(make_agent, make_lead):
    small = make_agent(capacity=2)
    make_lead(agent=small)
    leads = [make_lead() for _ in range(2)]
    closed = make_lead(status=LeadStatus.CONVERTED)
    before = snapshot()

    with pytest.raises(DomainError) as caught:
        services.reassign(lead_ids=[lead.pk for lead in leads], agent=small)

    assert (caught.value.code, caught.value.status) == ("over_capacity", 409)
    assert snapshot() == before
    # Closed leads are no load, so they still fit.
    services.reassign(lead_ids=[leads[0].pk, closed.pk], agent=small)
    assert Lead.objects.filter(agent=small).count() == 3


def test_reassign_unknown_lead_ids_are_refused(agent, make_lead):
    lead = make_lead()
    with pytest.raises(DomainError) as caught:
        services.reassign(lead_ids=[lead.pk, 424242], agent=agent)
    assert caught.value.code == "validation_error"
    assert "424242" in caught.value.fields["lead_ids"][0]
    assert Lead.objects.get().agent is None
