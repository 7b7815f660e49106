"""Checks shared by the distribution tests."""

from django.db.models import Count, Q

from assignments.models import Assignment
from leads.models import Lead


def assert_assignment_invariants():
    """Every lead: at most one open assignment, and it matches ``Lead.agent``."""
    assert not (
        Assignment.objects.filter(ended_at__isnull=True)
        .values("lead")
        .annotate(n=Count("id"))
        .filter(n__gt=1)
        .exists()
    ), "a lead has two open assignments"
    open_rows = dict(
        Assignment.objects.filter(ended_at__isnull=True).values_list("lead_id", "agent_id")
    )
    owners = dict(Lead.objects.values_list("id", "agent_id"))
    for lead_id, agent_id in owners.items():
        assert open_rows.get(lead_id) == agent_id, f"lead {lead_id}: agent and assignment differ"
    assert set(open_rows) <= set(owners)


def open_counts():
    """Agent id -> open leads it owns, only agents with some."""
    rows = (
        Lead.objects.open()
        .filter(~Q(agent=None))
        .values("agent")
        .annotate(n=Count("id"))
        .values_list("agent", "n")
    )
    return dict(rows)
