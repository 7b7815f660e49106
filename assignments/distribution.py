"""The distribution planner: which lead goes to which agent.

Pure on purpose — no ORM, no clock, no randomness — so every strategy can be
tested exhaustively (tables and hypothesis) without a database, and the
service in ``assignments.services`` only has to load the inputs, lock them and
write the result.

Rules every strategy keeps:

- an agent never ends above its ``capacity`` (open leads it already has plus
  the ones planned now); leads that fit nowhere are returned in ``unplaced``;
- ties are broken by the lower agent id;
- the same inputs always give the same plan.
"""

import heapq
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

ROUND_ROBIN = "round_robin"
BALANCED = "balanced"
WEIGHTED = "weighted"
STRATEGIES = (ROUND_ROBIN, BALANCED, WEIGHTED)


@dataclass(frozen=True)
class Slot:
    """An eligible agent as the planner sees it."""

    agent_id: int
    weight: int = 1
    open_load: int = 0
    capacity: int | None = None  # most open leads at once; None = unlimited

    @property
    def room(self):
        """How many more leads fit; None when unlimited."""
        if self.capacity is None:
            return None
        return max(self.capacity - self.open_load, 0)


@dataclass(frozen=True)
class Cursor:
    """Where the rotation stopped; persisted between distributions.

    ``last_agent_id`` drives round robin, ``weights`` are the smooth weighted
    round robin's current weights (agent id -> int).
    """

    last_agent_id: int | None = None
    weights: Mapping[int, int] = field(default_factory=dict)


@dataclass(frozen=True)
class Plan:
    assignments: dict  # lead id -> agent id, in lead order
    unplaced: tuple  # the given ids that fit nowhere, in their order
    per_agent: dict  # agent id -> planned leads, every slot listed (zeros too)
    cursor: Cursor


def plan(
    lead_ids: Iterable, slots: Sequence[Slot], *, strategy: str, cursor: Cursor | None = None
) -> Plan:
    """Plan ``lead_ids`` (in the order given) over ``slots``.

    ``round_robin`` hands leads one by one to the next agent (by id) after
    ``cursor.last_agent_id``, skipping full agents, so the remainder of an
    uneven split rotates across calls. ``balanced`` gives each lead to the
    agent with the fewest open leads (water filling). ``weighted`` is nginx's
    smooth weighted round robin continuing from ``cursor.weights``.

    ``balanced`` does not use or move the cursor; the others return the
    cursor to persist.
    """
    cursor = cursor if cursor is not None else Cursor()
    lead_ids = list(lead_ids)
    if len(set(lead_ids)) != len(lead_ids):
        raise ValueError("lead_ids contains duplicates")
    slots = sorted(slots, key=lambda slot: slot.agent_id)
    _check_slots(slots)
    if strategy == ROUND_ROBIN:
        chosen, new_cursor = _round_robin(len(lead_ids), slots, cursor)
    elif strategy == BALANCED:
        chosen, new_cursor = _balanced(len(lead_ids), slots), cursor
    elif strategy == WEIGHTED:
        chosen, new_cursor = _weighted(len(lead_ids), slots, cursor)
    else:
        raise ValueError(f"unknown strategy {strategy!r}; expected one of {STRATEGIES}")

    per_agent = {slot.agent_id: 0 for slot in slots}
    for agent_id in chosen:
        per_agent[agent_id] += 1
    # Strategies fill leads in order and stop when everybody is full, so the
    # unplaced ones are always the tail.
    assignments = dict(zip(lead_ids, chosen, strict=False))
    return Plan(
        assignments=assignments,
        unplaced=tuple(lead_ids[len(chosen) :]),
        per_agent=per_agent,
        cursor=new_cursor,
    )


def _check_slots(slots):
    ids = [slot.agent_id for slot in slots]
    if len(set(ids)) != len(ids):
        raise ValueError("slots contain the same agent twice")
    for slot in slots:
        if slot.weight < 1:
            raise ValueError(f"agent {slot.agent_id}: weight must be at least 1")
        if slot.capacity is not None and slot.capacity < 0:
            raise ValueError(f"agent {slot.agent_id}: capacity must not be negative")
        if slot.open_load < 0:
            raise ValueError(f"agent {slot.agent_id}: open_load must not be negative")


def _round_robin(n, slots, cursor):
    """Agent ids for up to ``n`` leads, and the cursor after the last one."""
    ring = [[slot.agent_id, slot.room] for slot in slots if slot.room != 0]
    if not ring:
        return [], cursor
    # Start with the first agent after the one served last; ids that have
    # left the pool still order correctly because the ring is sorted by id.
    start = 0
    if cursor.last_agent_id is not None:
        start = next(
            (i for i, (agent_id, _) in enumerate(ring) if agent_id > cursor.last_agent_id), 0
        )
    chosen = []
    i = start
    while len(chosen) < n and ring:
        entry = ring[i]
        chosen.append(entry[0])
        if entry[1] is not None:
            entry[1] -= 1
            if entry[1] == 0:
                ring.pop(i)  # the next agent slides into position i
                if ring:
                    i %= len(ring)
                continue
        i = (i + 1) % len(ring)
    last = chosen[-1] if chosen else cursor.last_agent_id
    return chosen, Cursor(last_agent_id=last, weights=dict(cursor.weights))


def _balanced(n, slots):
    """Water filling: each lead to the least-loaded agent with room, lower id first."""
    rooms = {slot.agent_id: slot.room for slot in slots}
    heap = [(slot.open_load, slot.agent_id) for slot in slots if slot.room != 0]
    heapq.heapify(heap)
    chosen = []
    while len(chosen) < n and heap:
        load, agent_id = heapq.heappop(heap)
        chosen.append(agent_id)
        room = rooms[agent_id]
        if room is not None:
            room -= 1
            rooms[agent_id] = room
            if room == 0:
                continue
        heapq.heappush(heap, (load + 1, agent_id))
    return chosen


def _weighted(n, slots, cursor):
    """Smooth weighted round robin (as nginx does it) with capacity.

    Each step every agent with room gains its weight; the one with the highest
    current weight (lower id on a tie) is chosen and loses the total weight of
    the agents that took part. Full agents sit out and keep their value.
    """
    current = {slot.agent_id: int(cursor.weights.get(slot.agent_id, 0)) for slot in slots}
    weights = {slot.agent_id: slot.weight for slot in slots}
    rooms = {slot.agent_id: slot.room for slot in slots}
    active = [slot.agent_id for slot in slots if slot.room != 0]
    total = sum(weights[agent_id] for agent_id in active)
    chosen = []
    while len(chosen) < n and active:
        best = None
        for agent_id in active:
            current[agent_id] += weights[agent_id]
            if best is None or current[agent_id] > current[best]:
                best = agent_id
        current[best] -= total
        chosen.append(best)
        if rooms[best] is not None:
            rooms[best] -= 1
            if rooms[best] == 0:
                active.remove(best)
                total -= weights[best]
    last = chosen[-1] if chosen else cursor.last_agent_id
    return chosen, Cursor(last_agent_id=last, weights=current)
