"""Concurrent distributions on real connections: every lead assigned exactly once."""

import threading

import pytest
from django.db import connection, transaction
from django.db.models import Count

from assignments import services
from assignments.models import Assignment, RotationState
from assignments.planning import lock_for_distribution, plan_new_leads
from assignments.writers import record_import_assignments
from leads.models import ImportBatch, Lead

from .helpers import assert_assignment_invariants

THREADS = 4
LEADS = 1000


@pytest.fixture
def threads_share_the_database(db):
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
    selection, threads_share_the_database, make_agent, make_leads
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
def test_concurrent_small_distributions_keep_round_robin_fair(
    threads_share_the_database, make_agent, make_leads
):
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


@pytest.mark.django_db(transaction=True)
def test_imports_and_distribute_all_running_together_do_not_deadlock(
    threads_share_the_database, make_agent, make_leads
):
    # An import, as imports.services commits one: in one transaction it takes
    # the distribution lock first, plans its new leads' agents, inserts the
    # leads with them and records their assignments; "distribute all" runs at
    # the same time.
    make_agent()
    make_agent(weight=2)
    waiting = make_leads(300)
    batches = [ImportBatch.objects.create(file_name=f"{i}.csv", sha256=str(i)) for i in range(2)]
    jobs = [("import", batches[0]), ("import", batches[1]), ("all", None), ("all", None)]
    lock = threading.Lock()

    def work():
        with lock:
            kind, batch = jobs.pop()
        if kind == "all":
            return services.distribute(strategy="weighted")
        with transaction.atomic():
            lock_for_distribution()
            plan = plan_new_leads(count=200, strategy="weighted")
            Lead.objects.bulk_create(
                Lead(
                    first_name="New",
                    phone=f"+9188{batch.pk:03d}{i:05d}",
                    batch=batch,
                    agent_id=agent_id,
                )
                for i, agent_id in enumerate(plan.agents)
            )
            record_import_assignments(batch=batch, strategy=plan.strategy)
            return plan

    results, errors = _run_together(work, THREADS)

    assert errors == []
    assert sum(r.assigned for r in results) == len(waiting) + 400
    assert Assignment.objects.count() == len(waiting) + 400
    assert not Lead.objects.filter(agent=None).exists()
    for batch in batches:
        rows = Assignment.objects.filter(lead__batch=batch)
        assert set(rows.values_list("batch", "reason")) == {(batch.pk, "import")}
    assert_assignment_invariants()


@pytest.mark.django_db(transaction=True)
def test_lock_for_distribution_needs_a_transaction():
    with pytest.raises(RuntimeError, match=r"inside transaction\.atomic"):
        lock_for_distribution()
    with transaction.atomic():
        lock_for_distribution()
    assert RotationState.objects.filter(pool="default").exists()
