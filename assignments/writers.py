"""Set-based SQL that writes assignment history: ownership, assignment rows, timeline.

Every function here runs inside the caller's transaction, after the caller
has taken the rotation lock and locked the leads (``assignments.services``,
the import for ``record_import_assignments``). The assignment and activity
rows are built by the database from the lead rows (``INSERT … SELECT``), a
chunk of leads per statement: an import hands out up to a million leads, and
building a model instance per row in Python cost ~300 µs a lead, this ~15 µs.
Only quoted table and column names from model metadata, and lead ids passed
through ``int()``, are formatted into the SQL; every other value is a parameter.
"""

from collections import defaultdict

from django.contrib.auth import get_user_model
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from agents import digest
from agents.models import Agent
from common import dataversion
from common.db import chunked, without_reference_checks
from leads import counters
from leads.models import Lead, LeadActivity
from routing.models import RoutingRule, Team

from . import metrics
from .models import Assignment, Reason

_ASSIGNMENT_FIELDS = (
    "lead", "agent", "assigned_at", "assigned_by", "batch", "strategy", "reason", "end_reason",
    "rule", "team", "route",
)  # fmt: skip


def _by_route(lead_ids, routes):
    """Lead ids grouped by their ``Route`` (None: no routing), in order."""
    groups = defaultdict(list)
    routes = routes or {}
    for lead_id in lead_ids:
        groups[routes.get(lead_id)].append(lead_id)
    return groups


def history_actor(actor):
    """The user to record as the actor, or None for "system"."""
    # Anonymous users (admin actions run as a real user, commands pass None)
    # are not rows; the history records "system" for them.
    return actor if getattr(actor, "pk", None) is not None else None


def _columns(model, *fields):
    """Quoted table and column names, for the set-based inserts below."""
    quote = connection.ops.quote_name
    columns = [quote(model._meta.get_field(name).column) for name in fields]
    return quote(model._meta.db_table), columns


def _execute_per_chunk(sql, params, lead_ids):
    """Run ``sql`` (with an ``{ids}`` slot for ``IN (...)``) once per chunk of lead ids."""
    with connection.cursor() as cursor:
        for chunk in chunked(lead_ids):
            cursor.execute(sql.format(ids=", ".join(["%s"] * len(chunk))), [*params, *chunk])


def write_assignments(*, plan, strategy, reason, actor, batch, now, previous=None, routes=None):
    """Point the planned leads at their agents, open their assignments, log it.

    ``plan`` maps lead id -> agent id. ``previous`` maps lead id -> the email
    of the agent it is taken from (whose open assignment the caller has
    already ended), for the timeline. ``routes`` maps lead id -> the
    ``assignments.routed.Route`` that decided it (recorded on the assignment).
    """
    by_agent = defaultdict(list)
    for lead_id, agent_id in plan.items():
        by_agent[agent_id].append(lead_id)
    for agent_id, lead_ids in by_agent.items():
        for chunk in chunked(lead_ids):
            counters.move_leads(chunk, agent_id, assigned_at=now)
            Lead.objects.filter(pk__in=chunk).update(agent_id=agent_id, updated_at=now)

    _open_by_route(
        _by_route(plan, routes), now=now, actor=actor, batch=batch, strategy=strategy, reason=reason
    )
    previous = previous or {}
    by_previous = defaultdict(list)
    for lead_id in plan:
        by_previous[previous.get(lead_id, "")].append(lead_id)
    for old_value, lead_ids in by_previous.items():
        log_assigned(lead_ids, actor=actor, now=now, old_value=old_value)
    assigned = len(plan)
    transaction.on_commit(lambda: metrics.leads_assigned(strategy, assigned))
    digest.leads_assigned({agent_id: len(lead_ids) for agent_id, lead_ids in by_agent.items()})


# Lead ids per INSERT … SELECT of _open_by_route: statements of ~100 KB (written in as
# integers, so no bound on parameters applies).
ROUTED_CHUNK = 10_000


def _open_by_route(groups, *, now, actor, batch, strategy, reason):
    """Open an assignment for each lead of ``groups`` (``Route`` or None -> lead ids),
    naming the lead's current agent and the route that decided it.

    One ``INSERT … SELECT`` per route and chunk of ids. The ids are written into
    the statement as integers (``int()``), which spares the driver escaping a
    parameter per lead on the import's thread; every other value is a parameter.
    The rule and team are linked only if their rows still exist (a batch's frozen
    rules may name rows deleted since its preview: the words stay, the link is
    null), which the statement itself checks.
    """
    lead_table, (lead_pk, lead_agent) = _columns(Lead, "id", "agent")
    rule_table, (rule_pk,) = _columns(RoutingRule, "id")
    team_table, (team_pk,) = _columns(Team, "id")
    table, columns = _columns(Assignment, *_ASSIGNMENT_FIELDS)
    sql = (
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names and ints only)
        f"SELECT {lead_pk}, {lead_agent}, %s, %s, %s, %s, %s, '', "
        f"(SELECT {rule_pk} FROM {rule_table} WHERE {rule_pk} = %s), "
        f"(SELECT {team_pk} FROM {team_table} WHERE {team_pk} = %s), %s "
        f"FROM {lead_table} WHERE {lead_pk} IN ({{ids}})"
    )
    fixed = [
        connection.ops.adapt_datetimefield_value(now),
        getattr(actor, "pk", None),
        getattr(batch, "pk", batch),
        str(strategy),
        str(reason),
    ]
    with connection.cursor() as cursor:
        for route, lead_ids in groups.items():
            if route is None:
                params = [*fixed, None, None, ""]
            else:
                params = [*fixed, route.rule_id, route.team_id, route.text[:255]]
            for chunk in chunked(sorted(lead_ids), ROUTED_CHUNK):
                cursor.execute(sql.format(ids=", ".join(map(str, map(int, chunk)))), params)


def log_assigned(lead_ids, *, actor, now, old_value="", to_nobody=False):
    """Timeline rows: "assigned" from ``old_value`` to the lead's agent's email (or to nobody)."""
    lead_table, (lead_pk, lead_agent) = _columns(Lead, "id", "agent")
    agent_table, (agent_pk, agent_email) = _columns(Agent, "id", "email")
    table, columns = _columns(
        LeadActivity, "lead", "actor", "kind", "old_value", "new_value", "created_at"
    )
    new_value = "''" if to_nobody else f"COALESCE(a.{agent_email}, '')"
    _execute_per_chunk(
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names only)
        f"SELECT l.{lead_pk}, %s, %s, %s, {new_value}, %s "
        f"FROM {lead_table} l LEFT JOIN {agent_table} a ON a.{agent_pk} = l.{lead_agent} "
        f"WHERE l.{lead_pk} IN ({{ids}})",
        [
            getattr(actor, "pk", None),
            str(LeadActivity.Kind.ASSIGNED),
            old_value,
            connection.ops.adapt_datetimefield_value(now),
        ],
        lead_ids,
    )


def end_open_assignments(lead_ids, *, now, end_reason):
    for chunk in chunked(lead_ids):
        Assignment.objects.filter(lead_id__in=chunk, ended_at__isnull=True).update(
            ended_at=now, end_reason=end_reason
        )


def record_import_assignments(
    *, batch, strategy, actor=None, now=None, after_id=0, routes=None, per_agent=None
):
    """Open the assignments of ``batch``'s leads inserted with planned agents.

    The history rows are built by the database from the lead rows (one
    ``INSERT … SELECT`` over ``batch_id = …  AND agent_id IS NOT NULL``, by
    ranges of ids above ``after_id``), so a lead ends with exactly one open
    assignment naming ``Lead.agent``. Call it once for each set of leads the
    import inserted with agents from ``assignments.planning.plan_new_leads``,
    in the same transaction. Returns the number of assignments opened.

    The rows are written without MariaDB's per-row foreign-key checks
    (``common.db.without_reference_checks``): the lead is one this transaction
    inserted, its agent and batch were checked, and their rows share-locked
    until commit, when the lead was; the actor's row is share-locked here
    (null if it is gone, as its deletion would have left it).

    ``routes`` maps the new leads' phones to the ``Route`` that decided them
    (a routed import): their ids are read back by phone and the rows written
    per route, by ids. ``per_agent`` (``{agent id: n}``, the plan's count of
    those leads) spares the queries that would count them again.
    """
    if routes:
        return _record_routed(
            batch=batch, strategy=strategy, actor=actor, now=now, after_id=after_id, routes=routes
        )
    now = now or timezone.now()
    actor = history_actor(actor)
    batch_id = getattr(batch, "pk", batch)
    lead_table, (lead_pk, lead_agent, lead_batch) = _columns(Lead, "id", "agent", "batch")
    table, columns = _columns(Assignment, *_ASSIGNMENT_FIELDS)
    assigned = 0
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT MIN({lead_pk}), MAX({lead_pk}) FROM {lead_table} "  # noqa: S608 (names only)
            f"WHERE {lead_batch} = %s AND {lead_pk} > %s",
            [batch_id, after_id],
        )
        low, high = cursor.fetchone()
        if low is None:
            return 0
        if per_agent is not None:
            counters.leads_assigned(per_agent, assigned_at=now)
        actor_id = _share_lock_user(cursor, getattr(actor, "pk", None))
        step = 50_000  # bounds the rows (and row locks) one statement handles
        for start in range(low, high + 1, step):
            end = min(start + step - 1, high)
            if per_agent is None:
                counters.assigned_from_leads(
                    Lead.objects.filter(batch_id=batch_id, pk__range=(start, end)),
                    assigned_at=now,
                )
            cursor.execute(
                without_reference_checks(
                    f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names only)
                    f"SELECT {lead_pk}, {lead_agent}, %s, %s, %s, %s, %s, '', NULL, NULL, '' "
                    f"FROM {lead_table} "
                    f"WHERE {lead_batch} = %s AND {lead_agent} IS NOT NULL "
                    f"AND {lead_pk} BETWEEN %s AND %s"
                ),
                [
                    connection.ops.adapt_datetimefield_value(now),
                    actor_id,
                    batch_id,
                    str(strategy),
                    str(Reason.IMPORT),
                    batch_id,
                    start,
                    end,
                ],
            )
            assigned += cursor.rowcount
    if assigned:
        _announce_import_assignments(batch_id, after_id, strategy, assigned, per_agent)
    return assigned


def _share_lock_user(cursor, user_id):
    """``user_id`` with its row share-locked until commit, or None if there is no such user.

    The lock a foreign-key check would take: the user cannot be deleted before
    the rows naming them are committed (deleting waits, then nulls them).
    """
    if user_id is None or connection.vendor != "mysql":
        return user_id
    table, (pk,) = _columns(get_user_model(), "id")
    cursor.execute(
        f"SELECT {pk} FROM {table} WHERE {pk} = %s LOCK IN SHARE MODE",  # noqa: S608 (names only)
        [user_id],
    )
    row = cursor.fetchone()
    return row[0] if row else None


def _announce_import_assignments(batch_id, after_id, strategy, assigned, per_agent=None):
    """After an import's assignments are written: metrics and the cache version,
    and one digest per agent for the leads of ``batch_id`` above ``after_id``
    (``per_agent`` counts them, or a query does)."""
    transaction.on_commit(lambda: metrics.leads_assigned(strategy, assigned))
    dataversion.bump()
    if per_agent is None:
        per_agent = (
            Lead.objects.filter(batch_id=batch_id, pk__gt=after_id, agent__isnull=False)
            .values_list("agent_id")
            .annotate(leads=Count("id"))
            .order_by()
        )
    digest.leads_assigned(dict(per_agent))


def _record_routed(*, batch, strategy, actor, now, after_id, routes):
    now = now or timezone.now()
    actor = history_actor(actor)
    batch_id = getattr(batch, "pk", batch)
    lead_table, (lead_pk, lead_phone, lead_agent, lead_batch) = _columns(
        Lead, "id", "phone", "agent", "batch"
    )
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT {lead_pk}, {lead_phone} FROM {lead_table} "  # noqa: S608 (names only)
            f"WHERE {lead_batch} = %s AND {lead_pk} > %s AND {lead_agent} IS NOT NULL",
            [batch_id, after_id],
        )
        found = cursor.fetchall()
    groups = defaultdict(list)
    for lead_id, phone in found:
        groups[routes.get(phone)].append(lead_id)
    _open_by_route(
        groups, now=now, actor=actor, batch=batch_id, strategy=strategy, reason=Reason.IMPORT
    )
    assigned = len(found)
    if assigned:
        counters.assigned_from_leads(
            Lead.objects.filter(batch_id=batch_id, pk__gt=after_id), assigned_at=now
        )
        _announce_import_assignments(batch_id, after_id, strategy, assigned)
    return assigned
