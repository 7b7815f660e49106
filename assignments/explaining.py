"""Which rule a lead matches and which agent would get it next — writing nothing."""

from django.utils import timezone

from agents.models import Agent
from common.phones import InvalidPhone, normalize_phone
from leads.models import OPEN_STATUSES, Lead

from .planning import (
    eligible_slots,
    lead_attributes,
    load_routing,
    lock_rotation,
    resolve_strategy,
)
from .routed import default_text, plan_routes


def explain(*, lead=None, lead_id=None, strategy=None, now=None):
    """The routing decision for a lead-shaped dict or an existing lead, as a dry run.

    ``lead`` holds ``phone``, ``email``, ``status``, ``source`` and ``extra``;
    ``lead_id`` reads them from the lead. A phone is read as a lead's would be
    (national numbers in ``PHONE_DEFAULT_REGION``, stored E.164); one that is
    not valid has no country. Uses the current rules,
    the eligible agents with their loads and the persisted cursors, locking
    and moving nothing. Returns ``{"rule", "team", "agent", "fallback",
    "explanation"}`` (each of the first three ``{"id", "name"}`` or None).
    """
    strategy = resolve_strategy(strategy)
    if lead_id is not None:
        ((_, lead),) = lead_attributes([lead_id])
    elif lead.get("phone"):
        lead = {**lead, "phone": _e164(lead["phone"])}
    routing = load_routing(default_state=lock_rotation(lock=False), lock=False)
    slots = eligible_slots(now=now or timezone.now())
    plan = plan_routes(
        [(0, lead)],
        slots,
        strategy=strategy,
        cursors=routing.cursors,
        snapshot=routing.snapshot,
        router=routing.router,
    )
    rule = routing.router.match(lead) if routing.active else None
    route = plan.routes.get(0)
    agent_id = plan.assignments.get(0)
    fallback = (
        rule is None
        or (route is not None and route.fallback)
        or (route is None and agent_id is None and _target_failed(plan, rule))
    )
    team = None
    if rule is not None and rule.team is not None and not fallback:
        info = routing.snapshot.teams.get(rule.team)
        team = {"id": rule.team, "name": info.name if info else ""}
    agent = None
    if agent_id is not None:
        agent = {"id": agent_id, "name": Agent.objects.get(pk=agent_id).name}
    if route is not None:
        text = route.text
    elif agent_id is None:
        text = _nobody(plan, rule, routing.snapshot.fallback, routing.active)
    else:
        text = default_text(strategy)
    return {
        "rule": {"id": rule.id, "name": rule.name} if rule is not None else None,
        "team": team,
        "agent": agent,
        "fallback": bool(fallback),
        "explanation": text,
    }


def _e164(phone):
    try:
        return normalize_phone(phone)
    except InvalidPhone:
        return phone


def _target_failed(plan, rule):
    return any(entry["no_eligible"] for entry in plan.report if entry["rule"]["id"] == rule.id)


def _nobody(plan, rule, fallback, active):
    if rule is not None and not _target_failed(plan, rule):
        return f"Rule {rule.position} '{rule.name}' → its agents are at capacity: left unassigned"
    if active and fallback == "unassigned":
        why = (
            "No rule matched"
            if rule is None
            else f"Rule {rule.position} '{rule.name}' → no eligible target"
        )
        return f"{why} → fallback: left unassigned for a manager"
    return "No eligible agent has room: left unassigned"


def dry_run_batch(*, batch, strategy=None, now=None, limit=50):
    """Route ``batch``'s open leads through the current rules as if they were new.

    Writes and locks nothing: the per-rule report (matched, split, fallback)
    and, for the first ``limit`` leads, the decision in words. Current owners
    are ignored (the question is "where would these go now").
    """
    strategy = resolve_strategy(strategy)
    lead_ids = list(
        Lead.objects.filter(batch=batch, status__in=OPEN_STATUSES)
        .order_by("id")
        .values_list("id", flat=True)
    )
    routing = load_routing(default_state=lock_rotation(lock=False), lock=False)
    slots = eligible_slots(now=now or timezone.now())
    leads = lead_attributes(lead_ids)
    plan = plan_routes(
        leads,
        slots,
        strategy=strategy,
        cursors=routing.cursors,
        snapshot=routing.snapshot,
        router=routing.router,
    )
    names = dict(Agent.objects.filter(pk__in=plan.per_agent).values_list("id", "name"))
    sample = []
    for lead_id, _attrs in leads[:limit]:
        route = plan.routes.get(lead_id)
        agent_id = plan.assignments.get(lead_id)
        sample.append(
            {
                "lead": lead_id,
                "agent": names.get(agent_id, "—"),
                "explanation": route.text
                if route
                else (default_text(strategy) if agent_id else "left unassigned"),
            }
        )
    return {
        "leads": len(lead_ids),
        "assigned": len(plan.assignments),
        "unassigned": len(plan.unplaced),
        "per_agent": {names.get(a, a): n for a, n in plan.per_agent.items() if n},
        "report": plan.report,
        "sample": sample,
    }
