from datetime import timedelta

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from django.utils import timezone

from assignments.models import Assignment, Reason
from assignments.services import move_leads_from_owners
from leads.models import Lead, LeadActivity, LeadStatus
from leads.selectors import overdue_open_leads


def _age(lead, hours):
    Lead.objects.filter(pk=lead.pk).update(updated_at=timezone.now() - timedelta(hours=hours))


@pytest.fixture
def desk(agent, other_agent, make_lead):
    stale = make_lead(agent=agent)
    fresh = make_lead(agent=agent)
    worked = make_lead(agent=agent)
    closed = make_lead(agent=agent, status=LeadStatus.CONVERTED)
    unassigned = make_lead()
    for lead in (stale, worked, closed, unassigned):
        _age(lead, 60)
    _age(fresh, 10)
    LeadActivity.objects.create(lead=worked, kind=LeadActivity.Kind.NOTE, new_value="called")
    return {"stale": stale, "fresh": fresh, "worked": worked, "closed": closed}


def test_selection_is_open_owned_leads_untouched_for_the_sla(desk):
    assert list(overdue_open_leads(hours=48)) == [desk["stale"]]
    assert set(overdue_open_leads(hours=8)) == {desk["stale"], desk["fresh"]}
    assert list(overdue_open_leads(hours=72)) == []


def test_an_old_activity_does_not_count_as_a_touch(desk):
    activity = LeadActivity.objects.get(lead=desk["worked"])
    LeadActivity.objects.filter(pk=activity.pk).update(
        created_at=timezone.now() - timedelta(hours=50)
    )
    assert set(overdue_open_leads(hours=48)) == {desk["stale"], desk["worked"]}


def test_command_moves_overdue_leads_with_reason_sla(desk, agent, other_agent, capsys):
    call_command("sla_reassign")
    stale = Lead.objects.get(pk=desk["stale"].pk)
    assert stale.agent == other_agent
    current = Assignment.objects.get(lead=stale, ended_at__isnull=True)
    assert (current.agent, current.reason) == (other_agent, Reason.SLA)
    ended = Assignment.objects.get(lead=stale, agent=agent)
    assert ended.end_reason == Reason.SLA and ended.ended_at is not None
    assert Lead.objects.get(pk=desk["fresh"].pk).agent == agent
    assert Lead.objects.get(pk=desk["worked"].pk).agent == agent
    out = capsys.readouterr().out
    assert "Moved 1 of 1 lead(s) untouched for 48h" in out
    assert "ravi@example.com: +1" in out
    # Moving the lead touched it: a second run finds nothing.
    call_command("sla_reassign")
    assert "No open lead has been untouched for 48 hours." in capsys.readouterr().out


def test_dry_run_changes_nothing(desk, agent, capsys):
    call_command("sla_reassign", "--hours", "8", "--dry-run")
    assert "[dry run] would move 2 of 2" in capsys.readouterr().out
    assert Lead.objects.filter(agent=agent).count() == 4
    assert not Assignment.objects.filter(reason=Reason.SLA).exists()


def test_hours_setting_is_the_default(desk, settings, capsys):
    settings.LEAD_SLA_HOURS = 8
    call_command("sla_reassign", "--dry-run")
    assert "would move 2 of 2 lead(s) untouched for 8h" in capsys.readouterr().out


def test_leads_stay_when_no_other_agent_can_take_them(agent, make_lead, capsys):
    lead = make_lead(agent=agent)
    _age(lead, 60)
    call_command("sla_reassign")
    assert "Moved 0 of 1" in capsys.readouterr().out
    assert Lead.objects.get(pk=lead.pk).agent == agent


def test_spreads_over_other_agents_and_never_back(make_agent, make_lead):
    a, b, _c = make_agent(), make_agent(), make_agent()
    leads = [make_lead(agent=a) for _ in range(4)] + [make_lead(agent=b) for _ in range(2)]
    result = move_leads_from_owners(lead_ids=[lead.pk for lead in leads], reason=Reason.SLA)
    assert result.assigned == 6
    for lead in leads:
        lead.refresh_from_db()
    assert all(lead.agent != a for lead in leads[:4])
    assert all(lead.agent != b for lead in leads[4:])
    assert Assignment.objects.filter(reason=Reason.SLA, ended_at__isnull=True).count() == 6


def test_bad_hours_and_no_agents_fail_the_command(db, make_agent, make_lead):
    with pytest.raises(CommandError, match="at least 1"):
        call_command("sla_reassign", "--hours", "0")
    agent = make_agent()
    lead = make_lead(agent=agent)
    _age(lead, 60)
    agent.accepts_leads = False
    agent.save()
    with pytest.raises(CommandError, match="No agent is eligible"):
        call_command("sla_reassign")
