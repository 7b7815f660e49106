"""Writes of the routing configuration: teams, rules, their order, the fallback.

Each function validates its input (``RoutingError``, 400 with the field
named) and changes nothing when it refuses. The API and the admin call these.
"""

from django.db import IntegrityError, transaction

from agents.models import Agent
from common import dataversion
from common.errors import Conflict, DomainError

from .matching import ConditionError, validate_conditions
from .models import BatchRouting, Fallback, RoutingRule, RoutingSettings, Team, TeamStrategy

MAX_RULES = 500
MAX_TEAM_MEMBERS = 1000


def _invalid(field, message):
    return DomainError(message, code="validation_error", fields={field: [message]})


def clean_conditions(conditions):
    """Validated conditions, or a 400 naming the part that is wrong."""
    try:
        return validate_conditions(conditions)
    except ConditionError as exc:
        raise DomainError(
            f"{exc.path}: {exc.message}",
            code="validation_error",
            fields={"conditions": [f"{exc.path}: {exc.message}"]},
        ) from exc


def _clean_members(members):
    ids = list(dict.fromkeys(int(getattr(member, "pk", member)) for member in members))
    if len(ids) > MAX_TEAM_MEMBERS:
        raise _invalid("members", f"At most {MAX_TEAM_MEMBERS} members.")
    found = set(Agent.objects.filter(pk__in=ids).values_list("id", flat=True))
    missing = [agent_id for agent_id in ids if agent_id not in found]
    if missing:
        raise _invalid("members", f"Unknown agent ids: {', '.join(map(str, missing[:20]))}.")
    return ids


def _clean_team_name(name, *, team=None):
    name = (name or "").strip()
    if not name:
        raise _invalid("name", "A team needs a name.")
    clash = Team.objects.filter(name__iexact=name)
    if team is not None:
        clash = clash.exclude(pk=team.pk)
    if clash.exists():
        raise _invalid("name", f"A team named {name!r} already exists.")
    return name


def _save_team(team, name):
    # The unique index may see a clash the check above cannot: MariaDB's
    # utf8mb4_unicode_ci weighs every character outside the BMP the same, so
    # "😀" and "🚀" are one name to the index but not to LIKE (and two
    # concurrent creates race past the check). Same answer as the check.
    try:
        with transaction.atomic():
            team.save()
    except IntegrityError:
        raise _invalid("name", f"A team named {name!r} already exists.") from None


@transaction.atomic
def team_create(*, name, active=True, strategy=TeamStrategy.ROUND_ROBIN, members=()):
    """Create a team with its members (agent ids or agents)."""
    if strategy not in TeamStrategy.values:
        raise _invalid("strategy", f"Unknown strategy {strategy!r}.")
    team = Team(name=_clean_team_name(name), active=bool(active), strategy=strategy)
    _save_team(team, team.name)
    team.members.set(_clean_members(members))
    dataversion.bump()
    return team


@transaction.atomic
def team_update(*, team, **changes):
    """Change a team's ``name``, ``active``, ``strategy`` and/or ``members`` (replaced)."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    if "name" in changes:
        team.name = _clean_team_name(changes["name"], team=team)
    if "strategy" in changes:
        if changes["strategy"] not in TeamStrategy.values:
            raise _invalid("strategy", f"Unknown strategy {changes['strategy']!r}.")
        team.strategy = changes["strategy"]
    if "active" in changes:
        team.active = bool(changes["active"])
    members = _clean_members(changes["members"]) if "members" in changes else None
    _save_team(team, team.name)
    if members is not None:
        team.members.set(members)
    dataversion.bump()
    return team


@transaction.atomic
def team_delete(*, team):
    """Delete a team no rule targets (409 ``team_in_use`` otherwise)."""
    team = Team.objects.select_for_update().get(pk=team.pk)
    rules = list(team.rules.order_by("position").values_list("name", flat=True)[:10])
    if rules:
        raise Conflict(
            f"Team {team.name!r} is the target of rule(s) {', '.join(rules)}; "
            "point them elsewhere or delete them first.",
            code="team_in_use",
        )
    team.delete()
    dataversion.bump()


def _clean_target(*, team, agent):
    if (team is None) == (agent is None):
        raise _invalid("target", 'Give exactly one target: {"team": id} or {"agent": id}.')
    if team is not None:
        team_id = getattr(team, "pk", team)
        team = Team.objects.filter(pk=team_id).first()
        if team is None:
            raise _invalid("target", f"No team with id {team_id}.")
        if not team.active:
            raise _invalid("target", f"Team {team.name!r} is inactive.")
        return team, None
    agent_id = getattr(agent, "pk", agent)
    agent = Agent.objects.filter(pk=agent_id).first()
    if agent is None:
        raise _invalid("target", f"No agent with id {agent_id}.")
    if not agent.is_active:
        raise _invalid("target", f"Agent {agent.name!r} is deactivated.")
    return None, agent


def _clean_rule_name(name):
    name = (name or "").strip()
    if not name:
        raise _invalid("name", "A rule needs a name.")
    return name


@transaction.atomic
def rule_create(*, name, conditions=(), team=None, agent=None, active=True, position=None):
    """Add a rule; without ``position`` it goes last. Positions are renumbered 1..n."""
    name = _clean_rule_name(name)
    # A tuple (the default, Python callers) is a list; anything else reaches the
    # validator as sent (``list(True)`` was a 500, ``list({})`` an empty rule).
    if isinstance(conditions, tuple):
        conditions = list(conditions)
    conditions = clean_conditions(conditions)
    team, agent = _clean_target(team=team, agent=agent)
    rules = list(RoutingRule.objects.select_for_update().order_by("position", "id"))
    if len(rules) >= MAX_RULES:
        raise _invalid("name", f"At most {MAX_RULES} rules.")
    rule = RoutingRule(
        name=name, conditions=conditions, team=team, agent=agent, active=bool(active)
    )
    rule.save()
    at = len(rules) if position is None else max(min(int(position) - 1, len(rules)), 0)
    rules.insert(at, rule)
    _renumber(rules)
    dataversion.bump()
    rule.refresh_from_db()
    return rule


@transaction.atomic
def rule_update(*, rule, **changes):
    """Change a rule's ``name``, ``conditions``, ``active``, target (``team``/``agent``)
    or ``position`` (the others shift)."""
    rules = list(RoutingRule.objects.select_for_update().order_by("position", "id"))
    rule = next(r for r in rules if r.pk == rule.pk)
    if "name" in changes:
        rule.name = _clean_rule_name(changes["name"])
    if "conditions" in changes:
        rule.conditions = clean_conditions(changes["conditions"])
    if "active" in changes:
        rule.active = bool(changes["active"])
    if "team" in changes or "agent" in changes:
        rule.team, rule.agent = _clean_target(team=changes.get("team"), agent=changes.get("agent"))
    rule.save()
    if changes.get("position") is not None:
        rules.remove(rule)
        rules.insert(max(min(int(changes["position"]) - 1, len(rules)), 0), rule)
        _renumber(rules)
    dataversion.bump()
    rule.refresh_from_db()
    return rule


@transaction.atomic
def rule_delete(*, rule):
    RoutingRule.objects.filter(pk=rule.pk).delete()
    _renumber(list(RoutingRule.objects.select_for_update().order_by("position", "id")))
    dataversion.bump()


@transaction.atomic
def rules_reorder(*, ids):
    """Put the rules in the order of ``ids`` (every rule, each once): positions 1..n."""
    rules = {rule.pk: rule for rule in RoutingRule.objects.select_for_update()}
    ids = [int(i) for i in ids]
    if len(set(ids)) != len(ids):
        raise _invalid("ids", "Each rule id may appear once.")
    unknown = [i for i in ids if i not in rules]
    if unknown:
        raise _invalid("ids", f"Unknown rule ids: {', '.join(map(str, unknown[:20]))}.")
    missing = sorted(set(rules) - set(ids))
    if missing:
        raise _invalid(
            "ids", f"Every rule must be listed; missing: {', '.join(map(str, missing[:20]))}."
        )
    _renumber([rules[i] for i in ids])
    dataversion.bump()
    return [rules[i] for i in ids]


def _renumber(rules):
    changed = []
    for position, rule in enumerate(rules, start=1):
        if rule.position != position:
            rule.position = position
            changed.append(rule)
    if changed:
        RoutingRule.objects.bulk_update(changed, ["position"])


@transaction.atomic
def settings_update(*, fallback):
    """Set the desk's fallback: ``pool`` (default pool) or ``unassigned``."""
    if fallback not in Fallback.values:
        raise _invalid("fallback", f"Unknown fallback {fallback!r}; use pool or unassigned.")
    row, _created = RoutingSettings.objects.select_for_update().get_or_create(pk=1)
    row.fallback = fallback
    row.save()
    dataversion.bump()
    return row


def record_batch_routing(*, batch, snapshot, report=()):
    """Keep the rules ``batch`` routes with (and the last plan's per-rule report)."""
    BatchRouting.objects.update_or_create(
        batch_id=batch.pk, defaults={"snapshot": snapshot, "report": _jsonable(report)}
    )


def _jsonable(report):
    return [
        {**entry, "per_agent": {str(k): v for k, v in entry["per_agent"].items()}}
        for entry in report or ()
    ]
