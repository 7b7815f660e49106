"""The distribution services report to the audit log and to the metrics.

Transactional: the assignment counter is bumped on commit.
"""

import pytest
from prometheus_client import REGISTRY

from accounts.models import AuditLog
from assignments import services
from assignments.models import Assignment
from leads.models import Lead

pytestmark = pytest.mark.django_db(transaction=True)


def _sample(name, **labels):
    return REGISTRY.get_sample_value(name, labels) or 0.0


def test_distribution_is_audited_and_counted(make_agent, make_lead, manager):
    agents = [make_agent(), make_agent()]
    leads = [make_lead() for _ in range(5)]
    before = _sample("leadline_leads_assigned_total", strategy="round_robin")

    result = services.distribute(strategy="round_robin", actor=manager)

    assert result.assigned == 5
    owners = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("agent", flat=True)
    assert sorted(owners) == sorted([agents[0].pk] * 3 + [agents[1].pk] * 2)
    assert Assignment.objects.filter(ended_at=None, assigned_by=manager).count() == 5
    entry = AuditLog.objects.get(action="distribution")
    assert entry.actor == manager
    assert entry.data["assigned"] == 5
    assert entry.data["unassigned"] == 0
    assert entry.data["strategy"] == "round_robin"
    assert _sample("leadline_leads_assigned_total", strategy="round_robin") == before + 5


def test_dry_run_distribution_is_neither_audited_nor_counted(make_agent, make_lead, manager):
    make_agent()
    lead = make_lead()
    before = _sample("leadline_leads_assigned_total", strategy="round_robin")

    result = services.distribute(strategy="round_robin", actor=manager, dry_run=True)

    assert result.assigned == 1  # planned, not written
    assert Lead.objects.get(pk=lead.pk).agent is None
    assert not Assignment.objects.exists()
    assert not AuditLog.objects.filter(action="distribution").exists()
    assert _sample("leadline_leads_assigned_total", strategy="round_robin") == before


def test_reassignment_is_audited_and_counted(make_agent, make_lead, manager):
    first, second = make_agent(), make_agent()
    lead = make_lead(agent=first)
    before = _sample("leadline_leads_assigned_total", strategy="manual")

    services.reassign(lead_ids=[lead.pk], agent=second, actor=manager)

    assert Lead.objects.get(pk=lead.pk).agent == second
    entry = AuditLog.objects.get(action="reassignment")
    assert entry.actor == manager
    assert entry.target == f"agent:{second.pk}"
    assert entry.data["lead_ids"] == [lead.pk]
    assert entry.data["moved"] == 1
    assert _sample("leadline_leads_assigned_total", strategy="manual") == before + 1
