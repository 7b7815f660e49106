"""Routing in front of the planner: rules partition the leads, teams plan their part.

``plan_routes`` is pure (like ``assignments.distribution``): it takes the
leads with their attributes, the routing snapshot (rules in order, teams with
their members and strategy, the fallback), the eligible agents' slots and the
rotation cursors, and returns who gets what and why. For each lead the first
matching active rule decides:

- a rule targeting a team plans the team's eligible members (eligible = the
  slots given: active, accepting, not away, not excluded) with the team's
  strategy and the team's own cursor (pool ``team:<id>``); leads that do not
  fit because the members are full stay unassigned and are reported;
- a rule targeting an agent gives the leads to that agent (capacity holds);
- a rule whose team is inactive, gone or has no eligible member — or whose
  agent is not eligible — sends its leads to the fallback, and the report
  says so for that rule;
- leads no rule matches go to the fallback: the default pool (every eligible
  agent, the call's strategy, the ``default`` cursor — today's behaviour) or
  nowhere (left unassigned for a manager).

Loads carry across parts, so an agent in two teams never ends above its
capacity. With no active rules the result is exactly ``distribution.plan``
over the default pool. ``load_context`` and ``lead_attributes`` are the
database side: the snapshot, the locked cursors, the leads' attributes.
"""

from collections import defaultdict
from dataclasses import dataclass, field, replace
from itertools import chain

from routing.matching import Router, Rule

from . import distribution
from .distribution import Cursor

DEFAULT_POOL = "default"
FALLBACK_POOL = "pool"
FALLBACK_UNASSIGNED = "unassigned"
STRATEGY_LABELS = {
    distribution.ROUND_ROBIN: "round robin",
    distribution.BALANCED: "balanced",
    distribution.WEIGHTED: "weighted",
}


def team_pool(team_id):
    return f"team:{team_id}"


@dataclass(frozen=True, eq=False)  # hashed by identity: writers group leads by it, so cheap
class Route:
    """Why a lead went where it went (recorded on its assignment); one per plan and reason."""

    rule_id: int | None
    team_id: int | None
    text: str
    fallback: bool = False


@dataclass(frozen=True)
class TeamInfo:
    name: str
    strategy: str
    active: bool
    members: frozenset


@dataclass
class Snapshot:
    """The routing configuration one distribution uses (see ``routing.selectors``)."""

    rules: tuple = ()  # of routing.matching.Rule, active only
    teams: dict = field(default_factory=dict)  # team id -> TeamInfo
    agent_names: dict = field(default_factory=dict)  # agent id -> name (agent targets)
    fallback: str = FALLBACK_POOL

    @classmethod
    def from_data(cls, data):
        data = data or {}
        return cls(
            rules=tuple(Rule.from_data(rule) for rule in data.get("rules") or ()),
            teams={
                int(team_id): TeamInfo(
                    name=team["name"],
                    strategy=team["strategy"],
                    active=team["active"],
                    members=frozenset(team["members"]),
                )
                for team_id, team in (data.get("teams") or {}).items()
            },
            agent_names={int(k): v for k, v in (data.get("agents") or {}).items()},
            fallback=data.get("fallback") or FALLBACK_POOL,
        )

    def pools(self):
        """Every rotation pool a plan with this snapshot may move."""
        teams = {team_pool(rule.team) for rule in self.rules if rule.team is not None}
        return [DEFAULT_POOL, *sorted(teams)]


@dataclass
class RoutedPlan:
    assignments: dict  # lead id -> agent id
    routes: dict  # lead id -> Route (only when rules exist)
    unplaced: tuple  # lead ids left without an agent, in their order
    per_agent: dict  # agent id -> planned leads, every slot listed
    cursors: dict  # pool -> Cursor, every pool given (moved or not)
    slots: tuple  # the slots with the planned leads added to their loads
    report: list  # per rule: matched, per_agent, unplaced, fallback, no_eligible


def default_text(strategy):
    return f"Default pool → {STRATEGY_LABELS.get(strategy, strategy)}"


def plan_routes(leads, slots, *, strategy, cursors, snapshot=None, router=None, exclude=None):
    """Plan ``leads`` (``[(lead id, attributes)]`` in ascending id order: the
    services' ids, an import's positions) through the rules.

    ``cursors`` maps pool -> ``Cursor`` (missing pools start fresh);
    ``exclude`` is an agent id that must get none of them (a leaving agent).
    ``router`` may be passed to reuse its memo across calls (an import's
    chunks). See the module docstring for the rules.
    """
    snapshot = snapshot or Snapshot()
    router = router if router is not None else Router(snapshot.rules)
    slots = {slot.agent_id: slot for slot in slots if slot.agent_id != exclude}
    cursors = dict(cursors)
    per_agent = dict.fromkeys(sorted(slots), 0)
    assignments, routes, unplaced = {}, {}, []

    def run(lead_ids, pool_slots, part_strategy, pool):
        result = distribution.plan(
            lead_ids, pool_slots, strategy=part_strategy, cursor=cursors.get(pool, Cursor())
        )
        cursors[pool] = result.cursor
        assignments.update(result.assignments)
        for agent_id, count in result.per_agent.items():
            if count:
                per_agent[agent_id] += count
                slot = slots[agent_id]
                slots[agent_id] = replace(slot, open_load=slot.open_load + count)
        return result

    if not router:
        ids = [lead_id for lead_id, _attrs in leads]
        if ids:
            result = run(ids, list(slots.values()), strategy, DEFAULT_POOL)
            unplaced.extend(result.unplaced)
        return RoutedPlan(
            assignments=assignments,
            routes={},
            unplaced=tuple(unplaced),
            per_agent=per_agent,
            cursors=cursors,
            slots=tuple(slots[agent_id] for agent_id in sorted(slots)),
            report=[],
        )

    parts = defaultdict(list)  # Rule or None -> lead ids
    match = router.match
    for lead_id, attrs in leads:
        parts[match(attrs)].append(lead_id)
    fallback = []  # (rule or None, why, lead ids) for the fallback, in order of arrival
    report = []
    for rule in router.rules:
        ids = parts.get(rule)
        if not ids:
            continue
        entry = {
            "rule": {"id": rule.id, "name": rule.name, "position": rule.position},
            "team": None,
            "agent": None,
            "matched": len(ids),
            "per_agent": {},
            "unplaced": 0,
            "fallback": 0,
            "no_eligible": False,
        }
        report.append(entry)
        head = f"Rule {rule.position} '{rule.name}'"
        if rule.team is not None:
            team = snapshot.teams.get(rule.team)
            name = team.name if team else f"#{rule.team}"
            entry["team"] = {"id": rule.team, "name": name}
            members = [] if team is None or not team.active else sorted(team.members)
            pool_slots = [slots[agent_id] for agent_id in members if agent_id in slots]
            if not pool_slots:
                entry["no_eligible"] = True
                entry["fallback"] = len(ids)
                fallback.append((rule, f"{head} → team {name} had no eligible member", ids))
                continue
            label = STRATEGY_LABELS.get(team.strategy, team.strategy)
            route = Route(rule.id, rule.team, f"{head} → team {name} → {label}")
            result = run(ids, pool_slots, team.strategy, team_pool(rule.team))
        else:
            name = snapshot.agent_names.get(rule.agent, f"#{rule.agent}")
            entry["agent"] = {"id": rule.agent, "name": name}
            if rule.agent not in slots:
                entry["no_eligible"] = True
                entry["fallback"] = len(ids)
                fallback.append((rule, f"{head} → agent {name} is not eligible", ids))
                continue
            route = Route(rule.id, None, f"{head} → agent {name}")
            # One agent: round robin over one slot is "all of them, up to capacity".
            result = run(ids, [slots[rule.agent]], distribution.ROUND_ROBIN, f"agent:{rule.agent}")
            cursors.pop(f"agent:{rule.agent}", None)  # nothing to persist for one agent
        routes.update(dict.fromkeys(result.assignments, route))
        entry["per_agent"] = {a: n for a, n in result.per_agent.items() if n}
        entry["unplaced"] = len(result.unplaced)
        unplaced.extend(result.unplaced)

    known = set(router.rules)
    for rule, ids in parts.items():
        if rule is None or rule not in known:  # (a rule of another router: no match here)
            fallback.append((None, "No rule matched", ids))
    if fallback:
        ids = sorted(chain.from_iterable(ids for _rule, _why, ids in fallback))
        if snapshot.fallback == FALLBACK_UNASSIGNED:
            unplaced.extend(ids)
        else:
            result = run(ids, list(slots.values()), strategy, DEFAULT_POOL)
            tail = default_text(strategy)
            why_of = {}  # lead id -> its Route: one Route per reason, not one per lead
            for rule, why, ids in fallback:
                route = Route(
                    rule.id if rule else None, None, f"{why} → fallback: {tail}", fallback=True
                )
                why_of.update(dict.fromkeys(ids, route))
            routes.update({lead_id: why_of[lead_id] for lead_id in result.assignments})
            unplaced.extend(result.unplaced)
    return RoutedPlan(
        assignments={lead_id: assignments[lead_id] for lead_id in sorted(assignments)},
        routes=routes,
        unplaced=tuple(sorted(unplaced)),
        per_agent=per_agent,
        cursors=cursors,
        slots=tuple(slots[agent_id] for agent_id in sorted(slots)),
        report=report,
    )


def merge_reports(total, part):
    """Add a chunk's per-rule report to ``total`` (in place), rule by rule."""
    index = {entry["rule"]["id"]: entry for entry in total}
    for entry in part:
        into = index.get(entry["rule"]["id"])
        if into is None:
            into = {**entry, "per_agent": dict(entry["per_agent"])}
            total.append(into)
            index[entry["rule"]["id"]] = into
            continue
        for key in ("matched", "unplaced", "fallback"):
            into[key] += entry[key]
        into["no_eligible"] = into["no_eligible"] or entry["no_eligible"]
        for agent_id, count in entry["per_agent"].items():
            into["per_agent"][agent_id] = into["per_agent"].get(agent_id, 0) + count
    total.sort(key=lambda entry: (entry["rule"]["position"], entry["rule"]["id"]))
    return total


def report_notes(report):
    """Sentences for a batch's message: the rules whose target could not take leads."""
    notes = []
    for entry in report:
        if not entry["no_eligible"]:
            continue
        rule = entry["rule"]
        target = (
            f"team {entry['team']['name']} had no eligible member"
            if entry["team"]
            else f"agent {entry['agent']['name']} was not eligible"
        )
        notes.append(
            f"Rule {rule['position']} '{rule['name']}': {target}; "
            f"{entry['fallback']} leads went to the fallback."
        )
    return notes
