"""The pure planner: tables for the documented behaviour, hypothesis for the invariants."""

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from assignments.distribution import (
    BALANCED,
    ROUND_ROBIN,
    STRATEGIES,
    WEIGHTED,
    Cursor,
    Slot,
    plan,
)


def fresh(n):
    return [Slot(agent_id) for agent_id in range(1, n + 1)]


# --- round robin ------------------------------------------------------------


@pytest.mark.parametrize(
    ("n_leads", "n_agents", "expected"),
    [
        (23, 5, [5, 5, 5, 4, 4]),
        (5, 5, [1, 1, 1, 1, 1]),
        (3, 5, [1, 1, 1, 0, 0]),
        (0, 3, [0, 0, 0]),
        (10, 1, [10]),
    ],
)
def test_round_robin_equal_split_with_remainder_in_id_order(n_leads, n_agents, expected):
    result = plan(range(n_leads), fresh(n_agents), strategy=ROUND_ROBIN)
    assert list(result.per_agent.values()) == expected
    assert list(result.per_agent) == list(range(1, n_agents + 1))


def test_round_robin_hands_leads_out_one_by_one_in_lead_order():
    result = plan([10, 11, 12, 13], fresh(3), strategy=ROUND_ROBIN)
    assert list(result.assignments.items()) == [(10, 1), (11, 2), (12, 3), (13, 1)]
    assert result.cursor.last_agent_id == 1


def test_round_robin_three_uploads_of_23_leave_every_agent_13_or_14():
    cursor = Cursor()
    totals = dict.fromkeys(range(1, 6), 0)
    for upload in range(3):
        result = plan(
            range(upload * 23, upload * 23 + 23), fresh(5), strategy=ROUND_ROBIN, cursor=cursor
        )
        cursor = result.cursor
        for agent_id, n in result.per_agent.items():
            totals[agent_id] += n
    assert sorted(totals.values()) == [13, 14, 14, 14, 14]


def test_round_robin_continues_after_the_cursor_even_if_that_agent_left():
    slots = [Slot(2), Slot(5), Slot(9)]
    result = plan([1, 2, 3], slots, strategy=ROUND_ROBIN, cursor=Cursor(last_agent_id=4))
    assert list(result.assignments.values()) == [5, 9, 2]
    result = plan([1], slots, strategy=ROUND_ROBIN, cursor=Cursor(last_agent_id=9))
    assert list(result.assignments.values()) == [2]


def test_round_robin_skips_full_agents_and_reports_the_rest():
    slots = [Slot(1, capacity=1), Slot(2, open_load=3, capacity=3), Slot(3, capacity=2)]
    result = plan(range(6), slots, strategy=ROUND_ROBIN)
    assert result.assignments == {0: 1, 1: 3, 2: 3}
    assert result.unplaced == (3, 4, 5)
    assert result.per_agent == {1: 1, 2: 0, 3: 2}


def test_round_robin_keeps_the_weighted_cursor_untouched():
    cursor = Cursor(last_agent_id=1, weights={1: -2, 2: 2})
    result = plan(range(3), fresh(2), strategy=ROUND_ROBIN, cursor=cursor)
    assert dict(result.cursor.weights) == {1: -2, 2: 2}


# --- balanced ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("loads", "n_leads", "expected"),
    [
        ([0, 0, 0], 6, [2, 2, 2]),
        ([5, 0, 2], 6, [0, 4, 2]),  # water filling: loads end 5, 4, 4
        ([3, 3, 3], 2, [1, 1, 0]),  # ties by agent id
        ([10, 0], 3, [0, 3]),
        ([1, 0], 0, [0, 0]),
    ],
)
def test_balanced_fills_the_least_loaded_first(loads, n_leads, expected):
    slots = [Slot(i + 1, open_load=load) for i, load in enumerate(loads)]
    result = plan(range(n_leads), slots, strategy=BALANCED)
    assert list(result.per_agent.values()) == expected


def test_balanced_respects_capacity_and_leaves_the_cursor_alone():
    cursor = Cursor(last_agent_id=7, weights={1: 1})
    slots = [Slot(1, open_load=0, capacity=1), Slot(2, open_load=4, capacity=6)]
    result = plan(range(5), slots, strategy=BALANCED, cursor=cursor)
    assert result.per_agent == {1: 1, 2: 2}
    assert result.unplaced == (3, 4)
    assert result.cursor == cursor


# --- weighted ---------------------------------------------------------------


def test_weighted_three_to_one_over_400_is_300_100():
    result = plan(range(400), [Slot(1, weight=3), Slot(2, weight=1)], strategy=WEIGHTED)
    assert result.per_agent == {1: 300, 2: 100}


def test_weighted_is_smooth_not_bursty():
    result = plan(range(8), [Slot(1, weight=3), Slot(2, weight=1)], strategy=WEIGHTED)
    # nginx's sequence for 3:1 is a a b a, repeated; never four of one in a row.
    assert list(result.assignments.values()) == [1, 1, 2, 1, 1, 1, 2, 1]


def test_weighted_continues_from_persisted_weights():
    slots = [Slot(1, weight=5), Slot(2, weight=1), Slot(3, weight=1)]
    whole = plan(range(20), slots, strategy=WEIGHTED)
    first = plan(range(7), slots, strategy=WEIGHTED)
    second = plan(range(7, 20), slots, strategy=WEIGHTED, cursor=first.cursor)
    assert {**first.assignments, **second.assignments} == whole.assignments
    assert second.cursor == whole.cursor


def test_weighted_full_agent_sits_out():
    slots = [Slot(1, weight=9, capacity=2), Slot(2, weight=1)]
    result = plan(range(10), slots, strategy=WEIGHTED)
    assert result.per_agent == {1: 2, 2: 8}


# --- shared rules -----------------------------------------------------------


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_no_slots_leaves_every_lead_unassigned(strategy):
    result = plan([4, 5], [], strategy=strategy)
    assert result.assignments == {}
    assert result.unplaced == (4, 5)
    assert result.per_agent == {}


@pytest.mark.parametrize("strategy", STRATEGIES)
def test_agent_over_capacity_already_gets_nothing(strategy):
    slots = [Slot(1, open_load=9, capacity=3), Slot(2)]
    result = plan(range(4), slots, strategy=strategy)
    assert result.per_agent == {1: 0, 2: 4}


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"strategy": "random"}, "unknown strategy"),
        ({"strategy": ROUND_ROBIN, "slots": [Slot(1), Slot(1)]}, "same agent twice"),
        ({"strategy": WEIGHTED, "slots": [Slot(1, weight=0)]}, "weight"),
        ({"strategy": BALANCED, "slots": [Slot(1, capacity=-1)]}, "capacity"),
        ({"strategy": BALANCED, "lead_ids": [1, 1]}, "duplicates"),
    ],
)
def test_bad_input_is_refused(kwargs, message):
    kwargs = {"lead_ids": [1], "slots": [Slot(1)], **kwargs}
    with pytest.raises(ValueError, match=message):
        plan(kwargs.pop("lead_ids"), kwargs.pop("slots"), **kwargs)


# --- properties -------------------------------------------------------------

slot_lists = st.lists(
    st.builds(
        lambda agent_id, weight, load, capacity: Slot(agent_id, weight, load, capacity),
        st.integers(1, 60),
        st.integers(1, 8),
        st.integers(0, 15),
        st.one_of(st.none(), st.integers(0, 20)),
    ),
    max_size=8,
    unique_by=lambda slot: slot.agent_id,
)
cursors = st.builds(
    lambda last, weights: Cursor(last, weights),
    st.one_of(st.none(), st.integers(0, 70)),
    st.dictionaries(st.integers(1, 60), st.integers(-20, 20), max_size=8),
)


@settings(max_examples=300, deadline=None)
@given(
    slots=slot_lists,
    n_leads=st.integers(0, 80),
    strategy=st.sampled_from(STRATEGIES),
    cursor=cursors,
)
def test_every_plan_keeps_the_invariants(slots, n_leads, strategy, cursor):
    leads = list(range(1000, 1000 + n_leads))
    result = plan(leads, slots, strategy=strategy, cursor=cursor)

    # Every lead exactly once: assigned (in lead order) or reported, never lost.
    assert list(result.assignments) + list(result.unplaced) == leads
    assert set(result.per_agent) == {slot.agent_id for slot in slots}
    assert sum(result.per_agent.values()) == len(result.assignments)
    for agent_id in result.assignments.values():
        assert agent_id in result.per_agent

    by_id = {slot.agent_id: slot for slot in slots}
    for agent_id, n in result.per_agent.items():
        slot = by_id[agent_id]
        if slot.capacity is not None:
            assert n <= max(slot.capacity - slot.open_load, 0)
    if result.unplaced:  # only when nobody has room left
        for slot in slots:
            if slot.capacity is not None:
                assert slot.open_load + result.per_agent[slot.agent_id] >= slot.capacity
            else:
                pytest.fail("an unlimited agent was available")

    assert plan(leads, slots, strategy=strategy, cursor=cursor) == result


@settings(max_examples=200, deadline=None)
@given(
    n_agents=st.integers(1, 9),
    uploads=st.lists(st.integers(0, 40), max_size=6),
    last=st.one_of(st.none(), st.integers(0, 10)),
)
def test_round_robin_totals_differ_by_at_most_one_across_uploads(n_agents, uploads, last):
    cursor = Cursor(last_agent_id=last)
    totals = dict.fromkeys(range(1, n_agents + 1), 0)
    next_lead = 0
    for size in uploads:
        result = plan(
            range(next_lead, next_lead + size), fresh(n_agents), strategy=ROUND_ROBIN, cursor=cursor
        )
        next_lead += size
        cursor = result.cursor
        for agent_id, n in result.per_agent.items():
            totals[agent_id] += n
    assert max(totals.values()) - min(totals.values()) <= 1


@settings(max_examples=200, deadline=None)
@given(slots=slot_lists, n_leads=st.integers(0, 80))
def test_balanced_is_water_filling(slots, n_leads):
    result = plan(range(n_leads), slots, strategy=BALANCED)
    final = {s.agent_id: s.open_load + result.per_agent[s.agent_id] for s in slots}
    has_room = {s.agent_id for s in slots if s.capacity is None or final[s.agent_id] < s.capacity}
    for slot in slots:
        if result.per_agent[slot.agent_id]:
            # Whoever got a lead was never more loaded than anyone still open.
            for other in has_room:
                assert final[slot.agent_id] - 1 <= final[other]


@settings(max_examples=200, deadline=None)
@given(
    weights=st.lists(st.integers(1, 10), min_size=1, max_size=7),
    n_leads=st.integers(0, 300),
)
def test_weighted_counts_stay_within_one_of_the_exact_share(weights, n_leads):
    slots = [Slot(i + 1, weight=w) for i, w in enumerate(weights)]
    result = plan(range(n_leads), slots, strategy=WEIGHTED)
    total = sum(weights)
    for slot in slots:
        assert abs(result.per_agent[slot.agent_id] - n_leads * slot.weight / total) < 1


@settings(max_examples=200, deadline=None)
@given(
    slots=slot_lists,
    first=st.integers(0, 40),
    second=st.integers(0, 40),
    strategy=st.sampled_from([ROUND_ROBIN, WEIGHTED]),
)
def test_splitting_a_distribution_in_two_changes_nothing(slots, first, second, strategy):
    # Unlimited agents: with capacity the second call would see updated loads.
    slots = [Slot(s.agent_id, s.weight) for s in slots]
    whole = plan(range(first + second), slots, strategy=strategy)
    one = plan(range(first), slots, strategy=strategy)
    two = plan(range(first, first + second), slots, strategy=strategy, cursor=one.cursor)
    assert {**one.assignments, **two.assignments} == whole.assignments
