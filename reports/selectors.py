"""The desk's numbers: open leads per agent and status, unassigned leads, leads
created and assigned per day, the latest imports.

One computation serves the admin index and ``GET /api/v1/dashboard/``. Who sees
which numbers is the leads' rule (``leads.models.visible_owner``): managers and
admins the whole desk, an agent its own leads. The numbers come from the
counters the writes keep (``leads.counters``: a few hundred rows whatever the
number of leads), never from counting the leads, so a dashboard right after a
write costs the same at a million leads as at a thousand. Results are still
cached per scope (managers and admins share the "all" scope, each agent has its
own) under the shared data version (``common.dataversion``): every write that
changes the numbers bumps it.
"""

from datetime import timedelta

from django.conf import settings
from django.db.models import Sum
from django.utils import timezone

from agents.models import Agent
from common import dataversion
from leads.counters import day_of
from leads.models import (
    EVERYONE,
    NO_AGENT,
    OPEN_STATUSES,
    DayCount,
    ImportBatch,
    LeadCount,
    LeadStatus,
    visible_owner,
)

DAYS = 30
LATEST_IMPORTS = 5


def _day_range(now):
    today = day_of(now)
    first = today - timedelta(days=DAYS - 1)
    return [first + timedelta(days=i) for i in range(DAYS)]


def _series(owner, first):
    """``{day: (created, assigned)}`` from the day counters, ``first`` on."""
    days = DayCount.objects.filter(day__gte=first)
    if owner is not EVERYONE:
        days = days.filter(agent_key=owner.pk)
    rows = (
        days.order_by()
        .values("day")
        .annotate(created=Sum("created"), assigned=Sum("assigned"))
        .values_list("day", "created", "assigned")
    )
    return {day: (created, assigned) for day, created, assigned in rows}


def compute_dashboard(*, owner=EVERYONE, now=None):
    """The numbers of ``owner``'s leads: the whole desk (``EVERYONE``) or one agent's.

    A constant number of small queries: the lead counters, the agents, the
    day counters of the last ``DAYS`` days and (desk only) the latest imports.
    """
    now = now or timezone.now()
    statuses = [status.value for status in LeadStatus]
    everyone = owner is EVERYONE

    rows = LeadCount.objects.exclude(count=0)
    if not everyone:
        rows = rows.filter(agent_key=owner.pk)
    counts = {}
    for key, status, n in rows.values_list("agent_key", "status", "count"):
        counts[(None if key == NO_AGENT else key, status)] = n

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

    days = _day_range(now)
    series = _series(owner, days[0])
    data = {
        "scope": "all" if everyone else "agent",
        "generated_at": now.isoformat(),
        "totals": totals,
        "per_agent": per_agent,
        "series": [
            {
                "date": day.isoformat(),
                "created": series.get(day, (0, 0))[0],
                "assigned": series.get(day, (0, 0))[1],
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
