"""Property tests of the routed planner (pure, no database).

Random agents (eligible or not, with capacities), teams (members, active,
strategy), ordered rules and leads: every lead goes to an eligible member of
its first matching rule's team (or the rule's agent), or — when no rule
matches or the target cannot take leads — to the fallback; never to two
agents; capacity is never exceeded; per-team fairness holds across uploads.
"""

from collections import Counter, defaultdict

from hypothesis import given, settings
from hypothesis import strategies as st

from assignments.distribution import Slot, plan
from assignments.routed import Snapshot, plan_routes
from routing.matching import Router

PHONES = {"AE": "+9715012345{:02d}", "IN": "+9198123456{:02d}", "SA": "+9665012345{:02d}"}
CITIES = ["Dubai", "Pune", ""]
STRATEGIES = ["round_robin", "balanced", "weighted"]


@st.composite
def desks(draw, capacities=True, strategies=STRATEGIES):
    n_agents = draw(st.integers(1, 7))
    agent_ids = list(range(1, n_agents + 1))
    eligible = draw(st.lists(st.sampled_from(agent_ids), unique=True, max_size=n_agents))
    slots = [
        Slot(
            agent_id=agent_id,
            weight=draw(st.integers(1, 3)),
            open_load=draw(st.integers(0, 4)),
            capacity=draw(st.one_of(st.none(), st.integers(0, 12))) if capacities else None,
        )
        for agent_id in sorted(eligible)
    ]
    teams = {}
    for team_id in range(1, draw(st.integers(1, 3)) + 1):
        teams[str(team_id)] = {
            "name": f"T{team_id}",
            "strategy": draw(st.sampled_from(strategies)),
            "active": draw(st.booleans()),
            "members": draw(st.lists(st.sampled_from(agent_ids), unique=True)),
        }
    rules = []
    for rule_id in range(1, draw(st.integers(0, 4)) + 1):
        conditions = draw(
            st.lists(
                st.one_of(
                    st.builds(
                        lambda v: {"field": "phone_country", "op": "in", "value": v},
                        st.lists(st.sampled_from(list(PHONES)), min_size=1, unique=True),
                    ),
                    st.builds(
                        lambda v: {"field": "extra.City", "op": "eq", "value": v},
                        st.sampled_from(CITIES[:2]),
                    ),
                    st.just({"field": "extra.City", "op": "empty", "value": None}),
                ),
                max_size=2,
            )
        )
        to_agent = draw(st.booleans())
        rules.append(
            {
                "id": rule_id,
                "name": f"R{rule_id}",
                "position": draw(st.integers(1, 9)),
                "conditions": conditions,
                "team": None if to_agent else int(draw(st.sampled_from(sorted(teams)))),
                "agent": draw(st.sampled_from(agent_ids)) if to_agent else None,
            }
        )
    snapshot = {
        "rules": rules,
        "teams": teams,
        "agents": {str(a): f"A{a}" for a in agent_ids},
        "fallback": draw(st.sampled_from(["pool", "unassigned"])),
    }
    return slots, snapshot


@st.composite
def uploads(draw, start=1):
    n = draw(st.integers(0, 40))
    leads = []
    for offset in range(n):
        country = draw(st.sampled_from(list(PHONES)))
        leads.append(
            (
                start + offset,
                {
                    "phone": PHONES[country].format(offset % 100),
                    "extra": {"City": draw(st.sampled_from(CITIES))},
                },
            )
        )
    return leads


def _target_slots(rule, snap, slots):
    if rule.team is not None:
        team = snap.teams.get(rule.team)
        if team is None or not team.active:
            return set()
        return set(team.members) & set(slots)
    return {rule.agent} & set(slots)


@settings(max_examples=300, deadline=None)
@given(desks(), uploads(), st.sampled_from(STRATEGIES))
def test_each_lead_goes_to_its_first_rules_target_or_the_fallback_once(desk, leads, strategy):
    slots, data = desk
    snap = Snapshot.from_data(data)
    result = plan_routes(leads, slots, strategy=strategy, cursors={}, snapshot=snap)
    by_id = {slot.agent_id: slot for slot in slots}
    ids = [lead_id for lead_id, _ in leads]
    # Each lead exactly once: assigned to one agent, or unplaced.
    assert set(result.assignments).isdisjoint(result.unplaced)
    assert sorted([*result.assignments, *result.unplaced]) == sorted(ids)
    router = Router(snap.rules)
    for lead_id, attrs in leads:
        rule = router.match(attrs)
        agent_id = result.assignments.get(lead_id)
        targets = _target_slots(rule, snap, by_id) if rule else set()
        if rule is not None and targets:
            # Its rule's team (or agent) decides; full members leave it unplaced.
            assert agent_id is None or agent_id in targets
            if agent_id is not None:
                route = result.routes[lead_id]
                assert route.rule_id == rule.id and not route.fallback
                assert route.team_id == rule.team
        elif snap.rules and snap.fallback == "unassigned":
            assert agent_id is None
        else:
            assert agent_id is None or agent_id in by_id
            if agent_id is not None and snap.rules:
                assert result.routes[lead_id].fallback
    # Capacity never exceeded, and per_agent counts what was planned.
    planned = Counter(result.assignments.values())
    for slot in slots:
        assert result.per_agent[slot.agent_id] == planned[slot.agent_id]
        if slot.capacity is not None:
            assert slot.open_load + planned[slot.agent_id] <= max(slot.capacity, slot.open_load)


@settings(max_examples=200, deadline=None)
@given(desks(), uploads(), st.sampled_from(STRATEGIES))
def test_without_rules_it_is_exactly_the_plain_planner(desk, leads, strategy):
    slots, data = desk
    data = {**data, "rules": []}
    routed = plan_routes(
        leads, slots, strategy=strategy, cursors={}, snapshot=Snapshot.from_data(data)
    )
    plain = plan([lead_id for lead_id, _ in leads], slots, strategy=strategy)
    assert routed.assignments == plain.assignments
    assert routed.unplaced == plain.unplaced
    assert routed.cursors["default"] == plain.cursor if leads else True
    assert not routed.routes


@settings(max_examples=150, deadline=None)
@given(desks(capacities=False, strategies=["round_robin"]), st.data())
def test_per_team_round_robin_stays_within_one_across_three_uploads(desk, data):
    slots, snapshot = desk
    snap = Snapshot.from_data(snapshot)
    cursors, per_team = {}, defaultdict(Counter)
    start = 1
    for _upload in range(3):
        leads = data.draw(uploads(start=start))
        start += len(leads)
        result = plan_routes(leads, slots, strategy="round_robin", cursors=cursors, snapshot=snap)
        cursors = result.cursors
        slots = list(result.slots)
        for lead_id, route in result.routes.items():
            if route.team_id is not None:
                per_team[route.team_id][result.assignments[lead_id]] += 1
    eligible = {slot.agent_id for slot in slots}
    for team_id, counts in per_team.items():
        members = set(snap.teams[team_id].members) & eligible
        totals = [counts[agent_id] for agent_id in members]
        assert max(totals) - min(totals) <= 1, (team_id, counts)
