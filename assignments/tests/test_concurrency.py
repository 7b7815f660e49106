"""Concurrent distributions on real connections: every lead assigned exactly once."""

import threading

import pytest
from django.db import connection
from django.db.models import Count

from assignments import services
from assignments.models import Assignment, RotationState
from leads.models import Lead

from .helpers import assert_assignment_invariants

THREADS = 4
LEADS = 1000


@pytest.fixture(autouse=True)
def _needs_a_shared_database(db):
    if connection.vendor == "sqlite" and connection.is_in_memory_db():
        pytest.skip(
            "SQLite's in-memory test database is shared between threads through shared-cache "
            "mode, whose table locks fail at once ('database table is locked') instead of "
            "waiting; these tests run on MariaDB and on a file SQLite test database"
        )


def _run_together(target, n):
    """Start ``n`` threads on ``target`` at the same instant; return results and errors."""
    barrier = threading.Barrier(n)
    results, errors = [], []

    def run():
        try:
            barrier.wait()
            results.append(target())
        except Exception as exc:  # collected and asserted on below
            errors.append(exc)
        finally:
            connection.close()  # each thread has its own connection

    threads = [threading.Thread(target=run) for _ in range(n)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return results, errors


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("selection", ["all", "ids"])
def test_four_threads_distributing_the_same_leads_assign_each_exactly_once(
    selection, make_agent, make_leads
):
    agents = [make_agent() for _ in range(5)]
    ids = [lead.pk for lead in make_leads(LEADS)]

    def distribute():
        if selection == "ids":
            return services.distribute(lead_ids=ids)
        return services.distribute()

    results, errors = _run_together(distribute, THREADS)

    assert errors == []
    assert len(results) == THREADS
    # One call did the work; the others found a clean "nothing to do".
    assert sorted(r.assigned for r in results) == [0, 0, 0, LEADS]
    assert Assignment.objects.count() == LEADS
    assert not Lead.objects.filter(agent=None).exists()
    per_lead = Assignment.objects.values("lead").annotate(n=Count("id")).filter(n__gt=1)
    assert not per_lead.exists()
    counts = dict(Lead.objects.values("agent").annotate(n=Count("id")).values_list("agent", "n"))
    assert counts == {agent.pk: LEADS // 5 for agent in agents}
    assert_assignment_invariants()


@pytest.mark.django_db(transaction=True)
def test_concurrent_small_distributions_keep_round_robin_fair(make_agent, make_leads):
    # Each thread brings its own leads: the shared, locked cursor keeps the
    # totals within one of each other whatever order the threads run in.
    agents = [make_agent() for _ in range(3)]
    RotationState.objects.create(pool="default", last_agent_id=agents[1].pk)
    batches = [[lead.pk for lead in make_leads(7)] for _ in range(THREADS)]
    remaining = list(batches)
    lock = threading.Lock()

    def distribute():
        with lock:
            ids = remaining.pop()
        return services.distribute(lead_ids=ids)

    results, errors = _run_together(distribute, THREADS)

    assert errors == []
    assert sum(r.assigned for r in results) == 28
    counts = dict(Lead.objects.values("agent").annotate(n=Count("id")).values_list("agent", "n"))
    assert set(counts) == {agent.pk for agent in agents}
    assert max(counts.values()) - min(counts.values()) <= 1
    assert_assignment_invariants()
