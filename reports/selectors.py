"""The desk's numbers: open leads per agent and status, unassigned leads, leads
created and assigned per day, the latest imports.

One computation serves the admin index and ``GET /api/v1/dashboard/``. Results
are cached per scope (managers and admins share the "all" scope, each agent has
its own) under the shared data version (``common.dataversion``): every write
that changes the numbers bumps it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from accounts.models import Role
from agents.models import Agent
from assignments.models import Assignment
from common import dataversion
from leads.models import OPEN_STATUSES, ImportBatch, Lead, LeadStatus

DAYS = 30
LATEST_IMPORTS = 5


def scope_for(user):
    """``"all"`` for managers and admins, ``"agent:<id>"`` for an agent, else ``None``."""
    if not (user and user.is_authenticated and user.is_active):
        return None
    if user.role in (Role.ADMIN, Role.MANAGER):
        return "all"
    agent = getattr(user, "agent_profile", None)
    if user.role == Role.AGENT and agent is not None:
        return f"agent:{agent.pk}"
    return None


def _day_range(now):
    today = timezone.localdate(now)
    first = today - timedelta(days=DAYS - 1)
    start = timezone.make_aware(datetime.combine(first, datetime.min.time()))
    return [first + timedelta(days=i) for i in range(DAYS)], start


def _per_day(queryset, field, start):
    rows = (
        queryset.filter(**{f"{field}__gte": start})
        .annotate(day=TruncDate(field))
        .values("day")
        .annotate(n=Count("id"))
        .values_list("day", "n")
    )
    return dict(rows)


def compute_dashboard(*, agent=None, now=None):
    """The numbers for everyone (``agent=None``) or for one agent's own leads."""
    now = now or timezone.now()
    statuses = [status.value for status in LeadStatus]
    leads = Lead.objects.all()
    assignments = Assignment.objects.all()
    if agent is not None:
        leads = leads.filter(agent=agent)
        assignments = assignments.filter(agent=agent)

    counts = {}
    for agent_id, status, n in (
        leads.order_by()
        .values("agent_id", "status")
        .annotate(n=Count("id"))
        .values_list("agent_id", "status", "n")
    ):
        counts[(agent_id, status)] = n

    agents = Agent.objects.order_by("name", "id")
    agents = agents.filter(pk=agent.pk) if agent is not None else agents
    owners = {agent_id for agent_id, _status in counts}
    per_agent = []
    for row in agents.values("id", "name", "is_active"):
        by_status = {status: counts.get((row["id"], status), 0) for status in statuses}
        if not row["is_active"] and row["id"] not in owners:
            continue  # a deactivated agent with no leads left is not part of the desk
        per_agent.append(
            {
                "agent_id": row["id"],
                "name": row["name"],
                "is_active": row["is_active"],
                "by_status": by_status,
                "open": sum(by_status[s] for s in OPEN_STATUSES),
                "total": sum(by_status.values()),
            }
        )

    totals = {status: sum(n for (_a, s), n in counts.items() if s == status) for status in statuses}
    totals["open"] = sum(totals[s] for s in OPEN_STATUSES)
    totals["all"] = sum(counts.values())

    days, start = _day_range(now)
    created = _per_day(leads.order_by(), "created_at", start)
    assigned = _per_day(assignments.order_by(), "assigned_at", start)
    data = {
        "scope": "agent" if agent is not None else "all",
        "generated_at": now.isoformat(),
        "totals": totals,
        "per_agent": per_agent,
        "series": [
            {
                "date": day.isoformat(),
                "created": created.get(day, 0),
                "assigned": assigned.get(day, 0),
            }
            for day in days
        ],
    }
    if agent is None:
        data["unassigned"] = sum(counts.get((None, s), 0) for s in OPEN_STATUSES)
        data["imports"] = [
            {
                "id": batch.pk,
                "file_name": batch.file_name,
                "state": batch.state,
                "created_at": batch.created_at.isoformat(),
                "rows": batch.rows,
                "created": batch.created,
                "duplicates": batch.duplicates,
                "invalid": batch.invalid,
                "assigned": batch.assigned,
                "unassigned": batch.unassigned,
            }
            for batch in ImportBatch.objects.order_by("-id")[:LATEST_IMPORTS]
        ]
    return data


def get_dashboard(user, *, now=None):
    """The dashboard ``user`` may see, from the cache when it is there.

    Returns ``None`` for a user with no dashboard (an agent role without a
    profile, an inactive user).
    """
    scope = scope_for(user)
    if scope is None:
        return None
    agent = user.agent_profile if scope != "all" else None
    return dataversion.cached(
        f"dashboard:{scope}",
        lambda: compute_dashboard(agent=agent, now=now),
        timeout=settings.DASHBOARD_CACHE_SECONDS,
    )
