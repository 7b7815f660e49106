"""The planner's inputs under the rotation lock, and the agents of an import's new leads.

Every writer of assignments starts here: ``lock_rotation`` takes the one lock
they all take first (the ``RotationState`` row of the "default" pool, with
``select_for_update``), ``load_cursor`` / ``save_cursor`` carry the rotation
between calls and ``eligible_slots`` reads the agents who may receive leads
with their open loads. The import uses the rest: ``lock_for_distribution``
before it writes any lead, ``plan_new_leads`` for the agents of leads it has
not inserted yet (placeholders ``0 .. count-1``, so what fits nowhere is
reported as positions), and ``preview_counts`` for the same plan written
nowhere. The pure planner itself is ``assignments.distribution``.
"""

from dataclasses import dataclass, replace

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count
from django.utils import timezone

from agents.models import Agent
from common.db import chunked
from common.errors import DomainError
from leads.models import OPEN_STATUSES, Lead
from routing.matching import Router
from routing.selectors import current_snapshot

from . import distribution
from .distribution import Cursor, Slot
from .models import RotationState
from .results import NoEligibleAgent
from .routed import Snapshot, plan_routes

POOL = "default"


def resolve_strategy(strategy):
    """``strategy`` or the ``DISTRIBUTION_STRATEGY`` setting; an unknown one is refused."""
    strategy = strategy or settings.DISTRIBUTION_STRATEGY
    if strategy not in distribution.STRATEGIES:
        choices = ", ".join(distribution.STRATEGIES)
        message = f"Unknown strategy {strategy!r}; choose one of {choices}."
        raise DomainError(message, code="validation_error", fields={"strategy": [message]})
    return str(strategy)


def lock_rotation(*, lock=True, pool=POOL):
    """The pool's rotation row, locked; created on first use.

    Without ``lock`` (dry runs) nothing is locked or created: a missing row
    reads as a fresh cursor. The ``default`` pool's row is the lock every
    writer takes first; a team's row (``team:<id>``) is only ever taken after
    it, so the order is fixed and cannot deadlock.
    """
    if not lock:
        return RotationState.objects.filter(pool=pool).first() or RotationState(pool=pool)
    queryset = RotationState.objects.select_for_update().filter(pool=pool)
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
            [RotationState(pool=pool)],
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
    lock_rotation()


def load_cursor(state):
    return Cursor(
        last_agent_id=state.last_agent_id,
        weights={int(agent_id): int(value) for agent_id, value in (state.weights or {}).items()},
    )


def save_cursor(state, cursor):
    state.last_agent_id = cursor.last_agent_id
    state.weights = {str(agent_id): value for agent_id, value in cursor.weights.items()}
    state.save(update_fields=["last_agent_id", "weights", "updated_at"])


def eligible_slots(*, now, exclude=None):
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


@dataclass
class Routing:
    """The routing one distribution uses: the snapshot, its router, the pools' rows.

    ``states`` holds the ``RotationState`` row of every pool the snapshot may
    move (locked, unless a dry run), ``cursors`` their cursors as loaded.
    """

    data: dict
    snapshot: Snapshot
    router: Router
    states: dict
    cursors: dict

    @property
    def active(self):
        return bool(self.snapshot.rules)


def load_routing(*, default_state, snapshot=None, lock=True):
    """The routing for a distribution: ``snapshot`` (JSON, a batch's frozen rules) or
    the current active rules, with each team pool's rotation row taken after the
    ``default`` one (already locked by the caller)."""
    data = snapshot if snapshot is not None else current_snapshot()
    snap = Snapshot.from_data(data)
    states = {POOL: default_state}
    for pool in snap.pools()[1:]:
        states[pool] = lock_rotation(lock=lock, pool=pool)
    cursors = {pool: load_cursor(state) for pool, state in states.items()}
    return Routing(
        data=data, snapshot=snap, router=Router(snap.rules), states=states, cursors=cursors
    )


def save_cursors(routing, cursors):
    """Persist the pools whose cursor a plan moved (one statement for several)."""
    moved = []
    for pool, cursor in cursors.items():
        state = routing.states.get(pool)
        if state is not None and cursor != routing.cursors.get(pool):
            moved.append((state, cursor))
    if len(moved) == 1:
        save_cursor(*moved[0])
    elif moved:
        now = timezone.now()
        for state, cursor in moved:
            state.last_agent_id = cursor.last_agent_id
            state.weights = {str(agent_id): value for agent_id, value in cursor.weights.items()}
            state.updated_at = now  # auto_now is not applied by bulk_update
        RotationState.objects.bulk_update(
            [state for state, _cursor in moved], ["last_agent_id", "weights", "updated_at"]
        )
    routing.cursors.update({pool: c for pool, c in cursors.items() if pool in routing.states})


def lead_attributes(lead_ids):
    """``[(id, attributes)]`` of existing leads, for the rules, in the order given."""
    found = {}
    for chunk in chunked(lead_ids):
        rows = Lead.objects.filter(pk__in=chunk).values_list(
            "id", "phone", "email", "status", "extra", "batch__file_name"
        )
        for lead_id, phone, email, status, extra, file_name in rows:
            found[lead_id] = {
                "phone": phone,
                "email": email,
                "status": status,
                "extra": extra or {},
                "source": file_name or "",
            }
    return [(lead_id, found.get(lead_id, {})) for lead_id in lead_ids]


def route_leads(lead_ids, slots, *, strategy, routing, exclude=None):
    """``plan_routes`` for existing leads (their attributes read only when rules exist)."""
    if routing.active:
        leads = lead_attributes(lead_ids)
    else:
        leads = [(lead_id, None) for lead_id in lead_ids]
    return plan_routes(
        leads,
        slots,
        strategy=strategy,
        cursors=routing.cursors,
        snapshot=routing.snapshot,
        router=routing.router,
        exclude=getattr(exclude, "pk", exclude),
    )


@dataclass
class NewLeadsPlan:
    """Agents for the next ``count`` leads an import is about to insert, in file order.

    ``agents[i]`` is the agent id for position ``i`` (None where nobody has
    room; the planner leaves those at the tail). Pass the plan back as
    ``previous`` for the import's next chunk: it carries the loads and the
    cursor on, so agents and loads are read once per import. A plan from
    ``preview_counts`` locked nothing and must not be passed on.
    """

    strategy: str
    agents: list
    per_agent: dict  # agent id -> leads planned now, every eligible agent listed
    unplaced_positions: tuple  # positions that fit nowhere
    slots: tuple
    cursor: Cursor
    state: RotationState | None
    routing: Routing | None = None
    routes: list | None = None  # Route (or None) per position, when rules exist
    report: list | None = None  # per rule, this chunk (``assignments.routed``)

    @property
    def assigned(self):
        return len(self.agents) - len(self.unplaced_positions)


def _plan_positions(count, *, strategy, slots, cursor, state, routing=None, leads=None):
    if routing is not None and routing.active:
        return _plan_routed_positions(
            count, strategy=strategy, slots=slots, state=state, routing=routing, leads=leads
        )
    result = distribution.plan(range(count), slots, strategy=strategy, cursor=cursor)
    chosen = list(result.assignments.values())  # positions in order; the unplaced are the tail
    chosen.extend([None] * len(result.unplaced))
    loads = tuple(
        replace(slot, open_load=slot.open_load + result.per_agent.get(slot.agent_id, 0))
        for slot in slots
    )
    return NewLeadsPlan(
        strategy=strategy,
        agents=chosen,
        per_agent=result.per_agent,
        unplaced_positions=result.unplaced,
        slots=loads,
        cursor=result.cursor,
        state=state,
        routing=routing,
    )


def _plan_routed_positions(count, *, strategy, slots, state, routing, leads):
    """Positions ``0 .. count-1`` through the rules; ``leads[i]`` is position i's
    attributes (or, from a preview, the ``Rule`` it already matched)."""
    if leads is None or len(leads) != count:
        raise ValueError("a routed plan needs the attributes of every new lead")
    result = plan_routes(
        list(enumerate(leads)),
        slots,
        strategy=strategy,
        cursors=routing.cursors,
        snapshot=routing.snapshot,
        router=routing.router,
    )
    chosen = [result.assignments.get(position) for position in range(count)]
    routes = [result.routes.get(position) for position in range(count)]
    if state is not None:
        save_cursors(routing, result.cursors)
    else:
        routing.cursors.update(result.cursors)
    return NewLeadsPlan(
        strategy=strategy,
        agents=chosen,
        per_agent=result.per_agent,
        unplaced_positions=result.unplaced,
        slots=result.slots,
        cursor=result.cursors.get(POOL, Cursor()),
        state=state,
        routing=routing,
        routes=routes,
        report=result.report,
    )


def plan_new_leads(*, count, strategy=None, now=None, previous=None, leads=None, snapshot=None):
    """Choose the agents of ``count`` leads an import will insert, before they exist.

    Runs inside the import's transaction: the rotation state is locked (the
    caller should have taken ``lock_for_distribution`` before writing any
    lead, so the lock order stays rotation, then leads), the eligible agents
    and their open loads are read on the first call only, the pure planner
    runs on placeholders ``0 .. count-1`` and the cursor is saved. The import
    then inserts its leads with these agents and calls
    ``assignments.writers.record_import_assignments`` for the history. Raises
    ``NoEligibleAgent`` on the first call when nobody can take leads.

    Routing: on the first call the routing rules are read (or ``snapshot``,
    the batch's frozen rules, is used) and carried on with the plan; when
    there are active rules ``leads`` must give each position's attributes
    (``phone``, ``email``, ``source``, ``extra``) and the plan's ``routes``
    say which rule decided each position.
    """
    if transaction.get_autocommit():
        raise RuntimeError("plan_new_leads() must run inside the import's transaction.")
    if previous is None:
        strategy = resolve_strategy(strategy)
        state = lock_rotation()
        slots = tuple(eligible_slots(now=now or timezone.now()))
        if not slots:
            raise NoEligibleAgent()
        cursor = load_cursor(state)
        routing = load_routing(default_state=state, snapshot=snapshot)
    else:
        strategy, state, slots, cursor, routing = (
            previous.strategy,
            previous.state,
            previous.slots,
            previous.cursor,
            previous.routing,
        )
    plan = _plan_positions(
        count,
        strategy=strategy,
        slots=slots,
        cursor=cursor,
        state=state,
        routing=routing,
        leads=leads,
    )
    if plan.routes is None and plan.cursor != cursor:
        save_cursor(state, plan.cursor)
    return plan


@transaction.atomic
def preview_counts(*, n_leads, strategy=None, now=None, leads=None, snapshot=None):
    """Who would get how many of ``n_leads`` new leads, writing nothing.

    For an import preview, whose leads do not exist yet: the plan
    ``plan_new_leads`` would make for ``n_leads`` placeholders against the
    eligible agents, their current loads and the persisted cursor, without
    locking or moving anything. Raises ``NoEligibleAgent`` when there are
    leads and nobody to take them. With routing rules (``snapshot`` or the
    current ones) ``leads`` gives each new lead's attributes (or the
    ``routing.matching.Matched`` rule it already matched) and the plan's
    ``report`` the split per rule.
    """
    strategy = resolve_strategy(strategy)
    if n_leads <= 0:
        return NewLeadsPlan(
            strategy=strategy,
            agents=[],
            per_agent={},
            unplaced_positions=(),
            slots=(),
            cursor=Cursor(),
            state=None,
        )
    state = lock_rotation(lock=False)
    slots = tuple(eligible_slots(now=now or timezone.now()))
    if not slots:
        raise NoEligibleAgent()
    routing = load_routing(default_state=state, snapshot=snapshot, lock=False)
    return _plan_positions(
        n_leads,
        strategy=strategy,
        slots=slots,
        cursor=load_cursor(state),
        state=None,
        routing=routing,
        leads=leads,
    )
