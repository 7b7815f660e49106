"""The desk's numbers: open leads per agent and status, unassigned leads, leads
created and assigned per day, the latest imports.

One computation serves the admin index and ``GET /api/v1/dashboard/``. Who sees
which numbers is the leads' rule (``leads.models.visible_owner``): managers and
admins the whole desk, an agent its own leads. Results are cached per scope
(managers and admins share the "all" scope, each agent has its own) under the
shared data version (``common.dataversion``): every write that changes the
numbers bumps it.
"""

from datetime import datetime, timedelta

from django.conf import settings
from django.db.models import Count
from django.db.models.functions import TruncDate
from django.utils import timezone

from agents.models import Agent
from assignments.models import Assignment
from common import dataversion
from leads.models import EVERYONE, OPEN_STATUSES, ImportBatch, Lead, LeadStatus, visible_owner

DAYS = 30
LATEST_IMPORTS = 5


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


def compute_dashboard(*, owner=EVERYONE, now=None):
    """The numbers of ``owner``'s leads: the whole desk (``EVERYONE``) or one agent's."""
    now = now or timezone.now()
    statuses = [status.value for status in LeadStatus]
    leads = Lead.objects.owned_by(owner)
    assignments = Assignment.objects.owned_by(owner)
    everyone = owner is EVERYONE

    counts = {}
    for agent_id, status, n in (
        leads.order_by()
        .values("agent_id", "status")
        .annotate(n=Count("id"))
        .values_list("agent_id", "status", "n")
    ):
        counts[(agent_id, status)] = n

    agents = Agent.objects.order_by("name", "id")
    agents = agents if everyone else agents.filter(pk=owner.pk)
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
        "scope": "all" if everyone else "agent",
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
    if everyone:
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
    if user is None or not user.is_active:
        return None
    owner = visible_owner(user)
    if owner is None:
        return None
    scope = "all" if owner is EVERYONE else f"agent:{owner.pk}"
    return dataversion.cached(
        f"dashboard:{scope}",
        lambda: compute_dashboard(owner=owner, now=now),
        timeout=settings.DASHBOARD_CACHE_SECONDS,
    )
