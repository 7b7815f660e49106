"""The only code that creates or ends assignments and sets ``Lead.agent``.

The API, the admin, the management commands and the import pipeline all call
these functions. Each one is a single ``transaction.atomic`` block that starts
by locking the rotation state (``RotationState`` pool "default") with
``select_for_update``: every writer of assignments takes that one lock first,
so distributions, redistributions and manual reassignments are serialised
across threads and processes and cannot deadlock on each other; the leads
being moved are locked next and re-checked under the lock.

Retrying (deadlock, "record has changed") belongs around a whole call: every
function re-reads what it needs inside its transaction and takes ``now``
inside it, so calling it again after a rollback is safe. The import pipeline
plans its new leads' agents with ``plan_new_leads`` before inserting them and
records the history with ``record_import_assignments``, inside its own
transaction; a retry has to go around that outer transaction instead.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from accounts import audit
from accounts.tokens import revoke_user_tokens
from agents.models import Agent
from common import dataversion
from common.db import retry_on_deadlock
from common.errors import Conflict, DomainError
from leads.models import OPEN_STATUSES, Lead, LeadActivity

from . import distribution, metrics
from .distribution import Cursor, Slot
from .models import Assignment, Reason, RotationState, Strategy

POOL = "default"
# Bound the number of parameters per statement: SQLite refuses more than
# 32,766 and MariaDB's packets stay small.
CHUNK = 1000


@dataclass(frozen=True)
class DistributionResult:
    """What a distribution did (or, with ``dry_run``, would do)."""

    assigned: int
    unassigned: tuple  # lead ids that fit nowhere (left without an agent)
    per_agent: dict  # agent id -> leads given now, every eligible agent listed
    dry_run: bool
    strategy: str
    skipped: tuple = ()  # requested ids that were not distributable (see each function)
    assignments: dict = field(default_factory=dict)  # lead id -> agent id


class NoEligibleAgent(DomainError):
    status = 409
    code = "no_eligible_agent"

    def __init__(self, message="No agent is eligible for leads (active, accepting, not away)."):
        super().__init__(message)


def _chunks(items, size=CHUNK):
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def _resolve_strategy(strategy):
    strategy = strategy or settings.DISTRIBUTION_STRATEGY
    if strategy not in distribution.STRATEGIES:
        choices = ", ".join(distribution.STRATEGIES)
        message = f"Unknown strategy {strategy!r}; choose one of {choices}."
        raise DomainError(message, code="validation_error", fields={"strategy": [message]})
    return str(strategy)


def _lock_rotation(*, lock=True):
    """The pool's rotation row, locked; created on first use.

    Without ``lock`` (dry runs) nothing is locked or created: a missing row
    reads as a fresh cursor.
    """
    if not lock:
        return RotationState.objects.filter(pool=POOL).first() or RotationState(pool=POOL)
    queryset = RotationState.objects.select_for_update().filter(pool=POOL)
    state = queryset.first()
    if state is None:
        # Several transactions can find the row missing at once. A plain
        # INSERT (or get_or_create) makes the losers hold shared locks on the
        # winner's row and then deadlock upgrading them to FOR UPDATE; an
        # upsert (ON DUPLICATE KEY UPDATE / ON CONFLICT) waits for an
        # exclusive lock instead, so they simply queue behind the winner.
        # MySQL/MariaDB take no conflict target; SQLite and PostgreSQL need one.
        target = ["pool"] if connection.features.supports_update_conflicts_with_target else None
        RotationState.objects.bulk_create(
            [RotationState(pool=POOL)],
            update_conflicts=True,
            unique_fields=target,
            update_fields=["updated_at"],
        )
        state = queryset.get()
    return state


def lock_for_distribution():
    """Take the distribution lock for the rest of the current transaction.

    For a transaction that writes leads and then distributes them (the import
    commit): call it first, before inserting or updating any lead, so that
    every transaction takes the rotation lock before lead locks and none can
    wait on the other's. ``distribute`` and friends take it themselves (a
    second take in the same transaction is free).
    """
    if transaction.get_autocommit():
        raise RuntimeError("lock_for_distribution() must run inside transaction.atomic().")
    _lock_rotation()


def _cursor(state):
    return Cursor(
        last_agent_id=state.last_agent_id,
        weights={int(agent_id): int(value) for agent_id, value in (state.weights or {}).items()},
    )


def _save_cursor(state, cursor):
    state.last_agent_id = cursor.last_agent_id
    state.weights = {str(agent_id): value for agent_id, value in cursor.weights.items()}
    state.save(update_fields=["last_agent_id", "weights", "updated_at"])


def _slots(*, now, exclude=None):
    """Eligible agents with their open loads, in id order."""
    agents = Agent.objects.eligible(now).order_by("id")
    if exclude is not None:
        agents = agents.exclude(pk=exclude.pk)
    agents = list(agents.only("id", "weight", "capacity"))
    loads = dict(
        Lead.objects.filter(agent__in=[a.pk for a in agents], status__in=OPEN_STATUSES)
        .values("agent")
        .annotate(n=Count("id"))
        .values_list("agent", "n")
    )
    return [
        Slot(agent_id=a.pk, weight=a.weight, open_load=loads.get(a.pk, 0), capacity=a.capacity)
        for a in agents
    ]


def _columns(model, *fields):
    """Quoted table and column names, for the set-based inserts below."""
    quote = connection.ops.quote_name
    columns = [quote(model._meta.get_field(name).column) for name in fields]
    return quote(model._meta.db_table), columns


def _execute_per_chunk(sql, params, lead_ids):
    """Run ``sql`` (with an ``{ids}`` slot for ``IN (...)``) once per chunk of lead ids."""
    with connection.cursor() as cursor:
        for chunk in _chunks(lead_ids):
            cursor.execute(sql.format(ids=", ".join(["%s"] * len(chunk))), [*params, *chunk])


def _write(*, plan, strategy, reason, actor, batch, now, previous=None):
    """Point the planned leads at their agents, open their assignments, log it.

    ``previous`` maps lead id -> the email of the agent it is taken from
    (whose open assignment the caller has already ended), for the timeline.

    The assignment and activity rows are built by the database from the lead
    rows just updated (INSERT ... SELECT, a thousand leads a statement): an
    import hands out up to a million leads here, and building a model
    instance per row in Python cost ~300 µs a lead, this ~15 µs.
    """
    by_agent = defaultdict(list)
    for lead_id, agent_id in plan.items():
        by_agent[agent_id].append(lead_id)
    for agent_id, lead_ids in by_agent.items():
        for chunk in _chunks(lead_ids):
            Lead.objects.filter(pk__in=chunk).update(agent_id=agent_id, updated_at=now)

    lead_table, (lead_pk, lead_agent) = _columns(Lead, "id", "agent")
    table, columns = _columns(
        Assignment,
        "lead", "agent", "assigned_at", "assigned_by", "batch", "strategy", "reason", "end_reason",
    )  # fmt: skip
    _execute_per_chunk(
        # Only quoted names from model metadata are formatted in; values are parameters.
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608
        f"SELECT {lead_pk}, {lead_agent}, %s, %s, %s, %s, %s, %s "
        f"FROM {lead_table} WHERE {lead_pk} IN ({{ids}})",
        [
            connection.ops.adapt_datetimefield_value(now),
            getattr(actor, "pk", None),
            getattr(batch, "pk", batch),
            str(strategy),
            str(reason),
            "",
        ],
        list(plan),
    )
    previous = previous or {}
    by_previous = defaultdict(list)
    for lead_id in plan:
        by_previous[previous.get(lead_id, "")].append(lead_id)
    for old_value, lead_ids in by_previous.items():
        _log_assigned(lead_ids, actor=actor, now=now, old_value=old_value)
    assigned = len(plan)
    transaction.on_commit(lambda: metrics.leads_assigned(strategy, assigned))


def _log_assigned(lead_ids, *, actor, now, old_value="", unassigned=False):
    """Timeline rows: "assigned" from ``old_value`` to the lead's agent's email (or to nobody)."""
    lead_table, (lead_pk, lead_agent) = _columns(Lead, "id", "agent")
    agent_table, (agent_pk, agent_email) = _columns(Agent, "id", "email")
    table, columns = _columns(
        LeadActivity, "lead", "actor", "kind", "old_value", "new_value", "created_at"
    )
    new_value = "''" if unassigned else f"COALESCE(a.{agent_email}, '')"
    _execute_per_chunk(
        f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names only, as above)
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


def _end_open_assignments(lead_ids, *, now, end_reason):
    for chunk in _chunks(lead_ids):
        Assignment.objects.filter(lead_id__in=chunk, ended_at__isnull=True).update(
            ended_at=now, end_reason=end_reason
        )


def _actor(actor):
    # Anonymous users (admin actions run as a real user, commands pass None)
    # are not rows; the history records "system" for them.
    return actor if getattr(actor, "pk", None) is not None else None


@retry_on_deadlock
@transaction.atomic
def distribute(
    *,
    lead_ids=None,
    batch=None,
    strategy=None,
    actor=None,
    dry_run=False,
    reason=Reason.DISTRIBUTE,
    now=None,
):
    """Hand unassigned open leads to the eligible agents.

    Which leads: every unassigned open lead, or those among ``lead_ids``,
    and/or those of ``batch`` (an ``ImportBatch`` or its id), taken in id
    order. Requested ids that are missing, closed or already owned are
    returned in ``skipped`` and left alone.

    The rotation cursor and the chosen leads are locked (``select_for_update``)
    and the leads re-checked as still unassigned under the lock, so concurrent
    calls never assign a lead twice: the later one finds nothing to do and
    returns ``assigned=0``. Leads that fit nowhere (every agent at capacity)
    stay unassigned and are reported. With no eligible agent at all it raises
    ``NoEligibleAgent`` (code ``no_eligible_agent``) and changes nothing.

    ``dry_run`` plans the same way but locks nothing, writes nothing and
    leaves the cursor where it was.
    """
    strategy = _resolve_strategy(strategy)
    now = now or timezone.now()
    actor = _actor(actor)
    state = _lock_rotation(lock=not dry_run)

    leads = Lead.objects.filter(agent__isnull=True, status__in=OPEN_STATUSES)
    if batch is not None:
        leads = leads.filter(batch=batch)
    if lead_ids is None:
        # A plain read first, then locks by primary key: a locking scan would
        # also wait on rows other transactions are inserting (an import), which
        # could then wait on our rotation lock.
        requested = list(leads.order_by("id").values_list("id", flat=True))
    else:
        requested = list(dict.fromkeys(int(lead_id) for lead_id in lead_ids))
    if not dry_run:
        leads = leads.select_for_update()
    candidates = []
    for chunk in _chunks(requested):
        # Re-checked under the lock: still unassigned, open, of the batch.
        candidates.extend(leads.filter(pk__in=chunk).values_list("id", flat=True))
    candidates.sort()
    found = set(candidates)
    skipped = () if lead_ids is None else tuple(i for i in requested if i not in found)

    if not candidates:
        return DistributionResult(0, (), {}, dry_run, strategy, skipped)
    slots = _slots(now=now)
    if not slots:
        raise NoEligibleAgent()

    result = distribution.plan(candidates, slots, strategy=strategy, cursor=_cursor(state))
    if not dry_run:
        _write(
            plan=result.assignments,
            strategy=strategy,
            reason=reason,
            actor=actor,
            batch=batch,
            now=now,
        )
        _save_cursor(state, result.cursor)
        dataversion.bump()
        audit.record(
            audit.Action.DISTRIBUTION,
            actor=actor,
            target=f"batch:{getattr(batch, 'pk', batch)}" if batch is not None else "",
            strategy=str(strategy),
            reason=str(reason),
            assigned=len(result.assignments),
            unassigned=len(result.unassigned),
        )
    return DistributionResult(
        assigned=len(result.assignments),
        unassigned=result.unassigned,
        per_agent=result.per_agent,
        dry_run=dry_run,
        strategy=strategy,
        skipped=skipped,
        assignments=result.assignments,
    )


def assign_new_leads(*, lead_ids=None, leads=None, batch=None, strategy=None, actor=None, now=None):
    """Distribute the leads an import has just inserted (reason ``import``).

    Meant to run inside the import's own transaction, so a failure later in
    the import rolls the assignments back with the leads. Pass ``lead_ids``
    (or ``leads``: ``Lead`` objects or ids); without either, every
    unassigned open lead of ``batch`` is distributed. Raises
    ``NoEligibleAgent`` like ``distribute``.
    """
    if leads is not None:
        lead_ids = [getattr(lead, "pk", lead) for lead in leads]
    return distribute(
        lead_ids=lead_ids,
        batch=batch,
        strategy=strategy,
        actor=actor,
        reason=Reason.IMPORT,
        now=now,
    )


@dataclass
class NewLeadsPlan:
    """Agents for the next ``count`` leads an import is about to insert, in file order.

    ``agents[i]`` is the agent id for position ``i`` (None where nobody has
    room; the planner leaves those at the tail). Pass the plan back as
    ``previous`` for the import's next chunk: it carries the loads and the
    cursor on, so agents and loads are read once per import.
    """

    strategy: str
    agents: list
    per_agent: dict
    unassigned: tuple  # positions that fit nowhere
    slots: tuple
    cursor: Cursor
    state: RotationState

    @property
    def assigned(self):
        return len(self.agents) - len(self.unassigned)


def plan_new_leads(*, count, strategy=None, now=None, previous=None):
    """Choose the agents of ``count`` leads an import will insert, before they exist.

    Runs inside the import's transaction: the rotation state is locked (the
    caller should have taken ``lock_for_distribution`` before writing any
    lead, so the lock order stays rotation, then leads), the eligible agents
    and their open loads are read on the first call only, the pure planner
    runs on placeholders ``0 .. count-1`` and the cursor is saved. The import
    then inserts its leads with these agents and calls
    ``record_import_assignments`` for the history. Raises ``NoEligibleAgent``
    on the first call when nobody can take leads.
    """
    if transaction.get_autocommit():
        raise RuntimeError("plan_new_leads() must run inside the import's transaction.")
    if previous is None:
        strategy = _resolve_strategy(strategy)
        state = _lock_rotation()
        slots = tuple(_slots(now=now or timezone.now()))
        if not slots:
            raise NoEligibleAgent()
        cursor = _cursor(state)
    else:
        strategy, state, slots, cursor = (
            previous.strategy,
            previous.state,
            previous.slots,
            previous.cursor,
        )
    result = distribution.plan(range(count), slots, strategy=strategy, cursor=cursor)
    chosen = list(result.assignments.values())  # positions in order; the unplaced are the tail
    chosen.extend([None] * len(result.unassigned))
    loads = tuple(
        replace(slot, open_load=slot.open_load + result.per_agent.get(slot.agent_id, 0))
        for slot in slots
    )
    if result.cursor != cursor:
        _save_cursor(state, result.cursor)
    return NewLeadsPlan(
        strategy=strategy,
        agents=chosen,
        per_agent=result.per_agent,
        unassigned=result.unassigned,
        slots=loads,
        cursor=result.cursor,
        state=state,
    )


def record_import_assignments(*, batch, strategy, actor=None, now=None, after_id=0):
    """Open the assignments of ``batch``'s leads inserted with planned agents.

    The history rows are built by the database from the lead rows (one
    ``INSERT … SELECT`` over ``batch_id = …  AND agent_id IS NOT NULL``, by
    ranges of ids above ``after_id``), so a lead ends with exactly one open
    assignment naming ``Lead.agent``. Call it once for each set of leads the
    import inserted with agents from ``plan_new_leads``, in the same
    transaction. Returns the number of assignments opened.
    """
    now = now or timezone.now()
    actor = _actor(actor)
    batch_id = getattr(batch, "pk", batch)
    lead_table, (lead_pk, lead_agent, lead_batch) = _columns(Lead, "id", "agent", "batch")
    table, columns = _columns(
        Assignment,
        "lead", "agent", "assigned_at", "assigned_by", "batch", "strategy", "reason", "end_reason",
    )  # fmt: skip
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
        step = 50_000  # bounds the rows (and row locks) one statement handles
        for start in range(low, high + 1, step):
            cursor.execute(
                f"INSERT INTO {table} ({', '.join(columns)}) "  # noqa: S608 (names only)
                f"SELECT {lead_pk}, {lead_agent}, %s, %s, %s, %s, %s, '' FROM {lead_table} "
                f"WHERE {lead_batch} = %s AND {lead_agent} IS NOT NULL "
                f"AND {lead_pk} BETWEEN %s AND %s",
                [
                    connection.ops.adapt_datetimefield_value(now),
                    getattr(actor, "pk", None),
                    batch_id,
                    str(strategy),
                    str(Reason.IMPORT),
                    batch_id,
                    start,
                    min(start + step - 1, high),
                ],
            )
            assigned += cursor.rowcount
    if assigned:
        transaction.on_commit(lambda: metrics.leads_assigned(strategy, assigned))
        dataversion.bump()
    return assigned


@transaction.atomic
def preview_counts(*, n_leads, strategy=None, now=None):
    """Who would get how many of ``n_leads`` new leads, writing nothing.

    For an import preview, whose leads do not exist yet: plans ``n_leads``
    placeholders (ids ``0 .. n_leads-1``, so ``unassigned`` holds positions)
    against the eligible agents, their current loads and the persisted
    cursor, without locking or moving anything. Raises ``NoEligibleAgent``
    when there are leads and nobody to take them.
    """
    strategy = _resolve_strategy(strategy)
    now = now or timezone.now()
    if n_leads <= 0:
        return DistributionResult(0, (), {}, True, strategy)
    state = _lock_rotation(lock=False)
    slots = _slots(now=now)
    if not slots:
        raise NoEligibleAgent()
    result = distribution.plan(range(n_leads), slots, strategy=strategy, cursor=_cursor(state))
    return DistributionResult(
        assigned=len(result.assignments),
        unassigned=result.unassigned,
        per_agent=result.per_agent,
        dry_run=True,
        strategy=strategy,
    )


@retry_on_deadlock
@transaction.atomic
def redistribute_agent(
    *, agent, actor=None, strategy=None, reason=Reason.REDISTRIBUTE, allow_none=False, now=None
):
    """Move an agent's open leads to the other eligible agents.

    The agent's open assignments on open leads are ended (``end_reason`` =
    ``reason``) and the leads planned over every other eligible agent — never
    back to the same one — with ``strategy``. Leads that fit nowhere because
    the others are at capacity are left unassigned and reported: the point of
    the call is to take them from this agent.

    With no other eligible agent it raises ``NoEligibleAgent`` and changes
    nothing, unless ``allow_none`` (used when an agent is deactivated): then
    every lead is left unassigned and reported.
    """
    strategy = _resolve_strategy(strategy)
    now = now or timezone.now()
    actor = _actor(actor)
    state = _lock_rotation()
    lead_ids = list(
        Lead.objects.select_for_update()
        .filter(agent_id=agent.pk, status__in=OPEN_STATUSES)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not lead_ids:
        return DistributionResult(0, (), {}, False, strategy)
    slots = _slots(now=now, exclude=agent)
    if not slots and not allow_none:
        raise NoEligibleAgent("No other agent is eligible for leads (active, accepting, not away).")

    result = distribution.plan(lead_ids, slots, strategy=strategy, cursor=_cursor(state))
    _end_open_assignments(lead_ids, now=now, end_reason=reason)
    for chunk in _chunks(result.unassigned):
        Lead.objects.filter(pk__in=chunk).update(agent=None, updated_at=now)
    _write(
        plan=result.assignments,
        strategy=strategy,
        reason=reason,
        actor=actor,
        batch=None,
        now=now,
        previous=dict.fromkeys(lead_ids, agent.email),
    )
    _log_assigned(result.unassigned, actor=actor, now=now, old_value=agent.email, unassigned=True)
    if slots:
        _save_cursor(state, result.cursor)
    dataversion.bump()
    return DistributionResult(
        assigned=len(result.assignments),
        unassigned=result.unassigned,
        per_agent=result.per_agent,
        dry_run=False,
        strategy=strategy,
        assignments=result.assignments,
    )


@retry_on_deadlock
@transaction.atomic
def reassign(*, lead_ids, agent, actor=None, reason=Reason.MANUAL, now=None):
    """Give the selected leads to one named agent (a manager's decision, audited).

    The agent must be active (its login too); whether it currently accepts
    leads or is away does not matter, the manager chose it. Capacity still
    holds: if the open leads moved to the agent would take it above
    ``capacity``, nothing changes and ``Conflict`` (code ``over_capacity``)
    says how many fit. Unknown lead ids are refused (code
    ``validation_error`` on ``lead_ids``). Leads the agent already owns are
    returned in ``skipped``; the others' open assignments are ended and a
    ``manual`` assignment created. Any status may be reassigned.
    """
    now = now or timezone.now()
    actor = _actor(actor)
    _lock_rotation()
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    if not (agent.is_active and agent.user.is_active):
        message = "This agent is deactivated and cannot receive leads."
        raise DomainError(message, code="agent_inactive", fields={"agent": [message]})

    requested = list(dict.fromkeys(int(lead_id) for lead_id in lead_ids))
    leads = {}
    for chunk in _chunks(requested):
        for lead in (
            Lead.objects.select_for_update().filter(pk__in=chunk).only("id", "agent_id", "status")
        ):
            leads[lead.pk] = lead
    missing = [lead_id for lead_id in requested if lead_id not in leads]
    if missing:
        shown = ", ".join(str(lead_id) for lead_id in missing[:20])
        message = f"Unknown lead ids: {shown}" + (" …" if len(missing) > 20 else "") + "."
        raise DomainError(message, code="validation_error", fields={"lead_ids": [message]})

    moving = [lead_id for lead_id in sorted(leads) if leads[lead_id].agent_id != agent.pk]
    skipped = tuple(lead_id for lead_id in requested if leads[lead_id].agent_id == agent.pk)
    if agent.capacity is not None:
        open_now = Lead.objects.filter(agent=agent, status__in=OPEN_STATUSES).count()
        adding = sum(1 for lead_id in moving if leads[lead_id].status in OPEN_STATUSES)
        if open_now + adding > agent.capacity:
            room = max(agent.capacity - open_now, 0)
            raise Conflict(
                f"{agent.name} has {open_now} open leads and a capacity of {agent.capacity}; "
                f"{room} more fit, {adding} were selected.",
                code="over_capacity",
            )

    owners = {leads[lead_id].agent_id for lead_id in moving} - {None}
    emails = dict(Agent.objects.filter(pk__in=owners).values_list("id", "email"))
    previous = {lead_id: emails.get(leads[lead_id].agent_id, "") for lead_id in moving}
    _end_open_assignments(moving, now=now, end_reason=reason)
    _write(
        plan=dict.fromkeys(moving, agent.pk),
        strategy=Strategy.MANUAL,
        reason=reason,
        actor=actor,
        batch=None,
        now=now,
        previous=previous,
    )
    dataversion.bump()
    audit.record(
        audit.Action.REASSIGNMENT,
        actor=actor,
        target=f"agent:{agent.pk}",
        lead_ids=moving[:1000],
        moved=len(moving),
        reason=str(reason),
    )
    return DistributionResult(
        assigned=len(moving),
        unassigned=(),
        per_agent={agent.pk: len(moving)},
        dry_run=False,
        strategy=str(Strategy.MANUAL),
        skipped=skipped,
        assignments=dict.fromkeys(moving, agent.pk),
    )


@retry_on_deadlock
@transaction.atomic
def redistribute_leads(
    *, lead_ids, actor=None, strategy=None, reason=Reason.REDISTRIBUTE, dry_run=False, now=None
):
    """Move the given open, owned leads to other eligible agents (used by the SLA).

    Leads are grouped by their current owner and each group is planned over
    every other eligible agent with ``strategy`` — never back to the owner —
    continuing the rotation cursor from group to group, with the loads
    updated as leads move. A lead that fits nowhere (no other eligible agent,
    or all of them full) stays with its owner; it is returned in ``skipped``
    with the requested ids that are missing, closed or unassigned. With no
    eligible agent at all it raises ``NoEligibleAgent`` and changes nothing.
    ``dry_run`` plans the same way, locking and writing nothing.
    """
    strategy = _resolve_strategy(strategy)
    now = now or timezone.now()
    actor = _actor(actor)
    state = _lock_rotation(lock=not dry_run)
    leads = Lead.objects.filter(agent__isnull=False, status__in=OPEN_STATUSES)
    if not dry_run:
        leads = leads.select_for_update()
    requested = list(dict.fromkeys(int(lead_id) for lead_id in lead_ids))
    owners = {}
    for chunk in _chunks(requested):
        owners.update(leads.filter(pk__in=chunk).values_list("id", "agent_id"))
    if not owners:
        return DistributionResult(0, (), {}, dry_run, strategy, tuple(requested))
    slots = {slot.agent_id: slot for slot in _slots(now=now)}
    if not slots:
        raise NoEligibleAgent()

    by_owner = defaultdict(list)
    for lead_id in sorted(owners):
        by_owner[owners[lead_id]].append(lead_id)
    cursor = _cursor(state)
    planned, kept, per_agent = {}, [], defaultdict(int)
    for owner_id, ids in sorted(by_owner.items()):
        others = [slot for agent_id, slot in slots.items() if agent_id != owner_id]
        if not others:
            kept.extend(ids)
            continue
        result = distribution.plan(ids, others, strategy=strategy, cursor=cursor)
        cursor = result.cursor
        kept.extend(result.unassigned)
        for lead_id, agent_id in result.assignments.items():
            planned[lead_id] = agent_id
            per_agent[agent_id] += 1
            slots[agent_id] = replace(slots[agent_id], open_load=slots[agent_id].open_load + 1)
            if owner_id in slots:
                slots[owner_id] = replace(slots[owner_id], open_load=slots[owner_id].open_load - 1)

    if not dry_run and planned:
        emails = dict(Agent.objects.filter(pk__in=by_owner).values_list("id", "email"))
        _end_open_assignments(list(planned), now=now, end_reason=reason)
        _write(
            plan=planned,
            strategy=strategy,
            reason=reason,
            actor=actor,
            batch=None,
            now=now,
            previous={lead_id: emails[owners[lead_id]] for lead_id in planned},
        )
        _save_cursor(state, cursor)
        dataversion.bump()
    skipped = [lead_id for lead_id in requested if lead_id not in owners]
    return DistributionResult(
        assigned=len(planned),
        unassigned=(),
        per_agent={agent_id: per_agent.get(agent_id, 0) for agent_id in sorted(slots)},
        dry_run=dry_run,
        strategy=strategy,
        skipped=tuple(skipped + sorted(kept)),
        assignments=planned,
    )


@transaction.atomic
def agent_deactivate(*, agent, actor=None):
    """Deactivate an agent: no more leads, no more logins, history kept.

    The agent's open leads go back to the other agents through the
    distribution service (whatever cannot be placed stays unassigned and is
    reported in the returned result).
    """
    agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
    agent.is_active = False
    agent.save(update_fields=["is_active", "updated_at"])
    user = agent.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    revoke_user_tokens(user)
    result = redistribute_agent(agent=agent, actor=actor, allow_none=True)
    dataversion.bump()
    return result
