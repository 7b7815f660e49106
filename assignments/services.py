"""The distribution use cases: the only code that moves leads between agents.

The API, the admin and the management commands call these: ``distribute``
(hand out unassigned leads), ``redistribute_agent`` (take one agent's open
leads to the others), ``reassign`` (a manager's choice of agent),
``move_leads_from_owners`` (the SLA: given leads away from their owners) and
``agent_deactivate``. Each is a single ``transaction.atomic`` block that starts
by locking the rotation state (``assignments.planning.lock_rotation``): every
writer of assignments takes that one lock first, so distributions,
redistributions and manual reassignments are serialized across threads and
processes and cannot deadlock on each other; the leads being moved are locked
next and re-checked under the lock.

Retrying (deadlock, lock wait timeout, "record has changed") goes around a
whole transaction, as the outermost wrapper (``retry_on_deadlock`` passes the
error up from inside an outer transaction, where a retry cannot help): every
function re-reads what it needs inside its transaction and takes ``now``
inside it, so calling it again after a rollback is safe. The import plans and
records its new leads' assignments inside its own transaction with
``assignments.planning`` and ``assignments.writers``; its retry goes around
that transaction.
"""

from collections import defaultdict
from dataclasses import replace

from django.db import transaction
from django.utils import timezone

from accounts import audit
from accounts.services import ensure_may_manage
from accounts.tokens import revoke_user_tokens
from agents.models import Agent
from common import dataversion
from common.db import chunked, retry_on_deadlock
from common.errors import Conflict, DomainError
from leads import counters
from leads.models import OPEN_STATUSES, Lead

from .models import Reason, Strategy
from .planning import (
    eligible_slots,
    lead_attributes,
    load_routing,
    lock_rotation,
    resolve_strategy,
    route_leads,
    save_cursors,
)
from .results import DistributionResult, NoEligibleAgent, nothing_done
from .routed import plan_routes
from .writers import end_open_assignments, history_actor, log_assigned, write_assignments


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

    Routing rules (``routing``) decide first: each lead goes to its first
    matching rule's team or agent, the rest to the fallback (the default pool
    with ``strategy``, or left unassigned); see ``assignments.routed``.
    ``result.routing`` reports per rule.
    """
    strategy = resolve_strategy(strategy)
    now = now or timezone.now()
    actor = history_actor(actor)
    state = lock_rotation(lock=not dry_run)

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
    for chunk in chunked(requested):
        # Re-checked under the lock: still unassigned, open, of the batch.
        candidates.extend(leads.filter(pk__in=chunk).values_list("id", flat=True))
    candidates.sort()
    found = set(candidates)
    skipped = () if lead_ids is None else tuple(i for i in requested if i not in found)

    if not candidates:
        return nothing_done(strategy=strategy, dry_run=dry_run, skipped=skipped)
    slots = eligible_slots(now=now)
    if not slots:
        raise NoEligibleAgent()

    routing = load_routing(default_state=state, lock=not dry_run)
    result = route_leads(candidates, slots, strategy=strategy, routing=routing)
    if not dry_run:
        write_assignments(
            plan=result.assignments,
            strategy=strategy,
            reason=reason,
            actor=actor,
            batch=batch,
            now=now,
            routes=result.routes,
        )
        save_cursors(routing, result.cursors)
        dataversion.bump()
        audit.record(
            audit.Action.DISTRIBUTION,
            actor=actor,
            target=f"batch:{getattr(batch, 'pk', batch)}" if batch is not None else "",
            strategy=str(strategy),
            reason=str(reason),
            assigned=len(result.assignments),
            unassigned=len(result.unplaced),
        )
    return DistributionResult(
        assigned=len(result.assignments),
        unplaced_ids=result.unplaced,
        per_agent=result.per_agent,
        dry_run=dry_run,
        strategy=strategy,
        skipped=skipped,
        routing=tuple(result.report),
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
    return _take_leads_from_agent(
        agent=agent, actor=actor, strategy=strategy, reason=reason, allow_none=allow_none, now=now
    )


def _take_leads_from_agent(
    *, agent, actor, strategy=None, reason=Reason.REDISTRIBUTE, allow_none=False, now=None
):
    """``redistribute_agent``'s work, inside the caller's transaction (no retry of its own)."""
    strategy = resolve_strategy(strategy)
    now = now or timezone.now()
    actor = history_actor(actor)
    state = lock_rotation()
    lead_ids = list(
        Lead.objects.select_for_update()
        .filter(agent_id=agent.pk, status__in=OPEN_STATUSES)
        .order_by("id")
        .values_list("id", flat=True)
    )
    if not lead_ids:
        return nothing_done(strategy=strategy)
    slots = eligible_slots(now=now, exclude=agent)
    if not slots and not allow_none:
        raise NoEligibleAgent("No other agent is eligible for leads (active, accepting, not away).")

    routing = load_routing(default_state=state)
    result = route_leads(lead_ids, slots, strategy=strategy, routing=routing, exclude=agent)
    end_open_assignments(lead_ids, now=now, end_reason=reason)
    for chunk in chunked(result.unplaced):
        counters.move_leads(chunk, None)
        Lead.objects.filter(pk__in=chunk).update(agent=None, updated_at=now)
    write_assignments(
        plan=result.assignments,
        strategy=strategy,
        reason=reason,
        actor=actor,
        batch=None,
        now=now,
        previous=dict.fromkeys(lead_ids, agent.email),
        routes=result.routes,
    )
    log_assigned(result.unplaced, actor=actor, now=now, old_value=agent.email, to_nobody=True)
    if slots:
        save_cursors(routing, result.cursors)
    dataversion.bump()
    return DistributionResult(
        assigned=len(result.assignments),
        unplaced_ids=result.unplaced,
        per_agent=result.per_agent,
        dry_run=False,
        strategy=strategy,
        routing=tuple(result.report),
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
    actor = history_actor(actor)
    lock_rotation()
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    if not (agent.is_active and agent.user.is_active):
        message = "This agent is deactivated and cannot receive leads."
        raise DomainError(message, code="agent_inactive", fields={"agent": [message]})

    requested = list(dict.fromkeys(int(lead_id) for lead_id in lead_ids))
    leads = {}
    for chunk in chunked(requested):
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
    end_open_assignments(moving, now=now, end_reason=reason)
    write_assignments(
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
        unplaced_ids=(),
        per_agent={agent.pk: len(moving)},
        dry_run=False,
        strategy=str(Strategy.MANUAL),
        skipped=skipped,
    )


@retry_on_deadlock
@transaction.atomic
def move_leads_from_owners(
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
    strategy = resolve_strategy(strategy)
    now = now or timezone.now()
    actor = history_actor(actor)
    state = lock_rotation(lock=not dry_run)
    leads = Lead.objects.filter(agent__isnull=False, status__in=OPEN_STATUSES)
    if not dry_run:
        leads = leads.select_for_update()
    requested = list(dict.fromkeys(int(lead_id) for lead_id in lead_ids))
    owners = {}
    for chunk in chunked(requested):
        owners.update(leads.filter(pk__in=chunk).values_list("id", "agent_id"))
    if not owners:
        return nothing_done(strategy=strategy, dry_run=dry_run, skipped=tuple(requested))
    slots = {slot.agent_id: slot for slot in eligible_slots(now=now)}
    if not slots:
        raise NoEligibleAgent()

    by_owner = defaultdict(list)
    for lead_id in sorted(owners):
        by_owner[owners[lead_id]].append(lead_id)
    routing = load_routing(default_state=state, lock=not dry_run)
    cursors = dict(routing.cursors)
    attributes = dict(lead_attributes(sorted(owners))) if routing.active else {}
    planned, routes, kept, per_agent = {}, {}, [], defaultdict(int)
    for owner_id, ids in sorted(by_owner.items()):
        others = [slot for agent_id, slot in slots.items() if agent_id != owner_id]
        if not others:
            kept.extend(ids)
            continue
        result = plan_routes(
            [(lead_id, attributes.get(lead_id)) for lead_id in ids],
            others,
            strategy=strategy,
            cursors=cursors,
            snapshot=routing.snapshot,
            router=routing.router,
        )
        cursors = result.cursors
        kept.extend(result.unplaced)
        routes.update(result.routes)
        for lead_id, agent_id in result.assignments.items():
            planned[lead_id] = agent_id
            per_agent[agent_id] += 1
            slots[agent_id] = replace(slots[agent_id], open_load=slots[agent_id].open_load + 1)
            if owner_id in slots:
                slots[owner_id] = replace(slots[owner_id], open_load=slots[owner_id].open_load - 1)

    if not dry_run and planned:
        emails = dict(Agent.objects.filter(pk__in=by_owner).values_list("id", "email"))
        end_open_assignments(list(planned), now=now, end_reason=reason)
        write_assignments(
            plan=planned,
            strategy=strategy,
            reason=reason,
            actor=actor,
            batch=None,
            now=now,
            previous={lead_id: emails[owners[lead_id]] for lead_id in planned},
            routes=routes,
        )
        save_cursors(routing, cursors)
        dataversion.bump()
    skipped = [lead_id for lead_id in requested if lead_id not in owners]
    return DistributionResult(
        assigned=len(planned),
        unplaced_ids=(),
        per_agent={agent_id: per_agent.get(agent_id, 0) for agent_id in sorted(slots)},
        dry_run=dry_run,
        strategy=strategy,
        skipped=tuple(skipped + sorted(kept)),
    )


@retry_on_deadlock
@transaction.atomic
def agent_deactivate(*, agent, actor=None):
    """Deactivate an agent: no more leads, no more logins, history kept.

    The agent's open leads go back to the other agents as
    ``redistribute_agent(allow_none=True)`` would move them (whatever cannot
    be placed stays unassigned and is reported in the returned result), in
    the same transaction. The retry wraps that whole transaction: a retry
    inside it could not help, the deadlock has already rolled it all back.
    """
    agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
    ensure_may_manage(actor, agent.user)  # a manager cannot deactivate an admin
    agent.is_active = False
    agent.save(update_fields=["is_active", "updated_at"])
    user = agent.user
    user.is_active = False
    user.save(update_fields=["is_active"])
    revoke_user_tokens(user)
    result = _take_leads_from_agent(agent=agent, actor=actor, allow_none=True)
    dataversion.bump()
    return result
