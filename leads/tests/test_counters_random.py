"""A seeded random run of every kind of write, alone and at the same time in
threads (each with its own connection), then the counters against a recount.

Sequential steps are checked one by one; concurrent rounds (two
distributions, status changes, an import, a reassignment, an undo, ... at
once) are checked after each round. Refusals the desk answers with a clean
error (no eligible agent, over capacity, a busy row) are part of the run: they
must leave the counters right too. Anything else fails the test.
"""

import contextlib
import io
import itertools
import random
import threading

import pytest
from django.db import connection

from agents.models import Agent
from agents.services import agent_create
from assignments import services as assignment_services
from common.errors import DomainError
from imports.services import commit_batch, import_file, undo_batch
from leads import counters, services
from leads.models import ImportBatch, Lead, LeadStatus

from .test_counters import assert_counters_match

pytestmark = pytest.mark.django_db(transaction=True)

STEPS = 60
ROUNDS = 6
STRATEGIES = ["round_robin", "balanced", "weighted"]
_phones = itertools.count(1)
_lock = threading.Lock()


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PHONE_DEFAULT_REGION = "IN"


def _next_phones(n):
    with _lock:
        return [next(_phones) for _ in range(n)]


class Desk:
    """The writes, each picking its own target from the database with ``rng``."""

    def __init__(self, manager):
        self.manager = manager

    def _lead_ids(self, rng, k, **filters):
        ids = list(Lead.objects.filter(**filters).values_list("id", flat=True))
        return rng.sample(ids, min(k, len(ids)))

    def _active_agents(self):
        return list(Agent.objects.filter(is_active=True, user__is_active=True))

    def new_agent(self, rng):
        n = _next_phones(1)[0]
        agent_create(
            name=f"Agent {n}",
            email=f"random{n}@example.com",
            mobile=f"+9196{n:08d}",
            password="correct-horse-battery-staple",
            capacity=rng.choice([None, None, 5, 20]),
        )

    def import_leads(self, rng):
        numbers = _next_phones(rng.randint(1, 30))
        if rng.random() < 0.3 and Lead.objects.exists():  # some duplicates of existing leads
            numbers += [int(p[-8:]) for p in Lead.objects.values_list("phone", flat=True)[:3]]
        body = "FirstName,Phone\n" + "".join(f"P{n},95{n:08d}\n" for n in numbers)
        options = {"distribute": rng.random() < 0.8, "strategy": rng.choice(STRATEGIES)}
        preview = rng.random() < 0.3
        result = import_file(
            file=io.BytesIO(body.encode()),
            file_name="random.csv",
            actor=self.manager,
            preview=preview,
            force=True,
            **options,
        )
        if preview and rng.random() < 0.7:
            commit_batch(batch=result.batch, actor=self.manager)

    def create_lead(self, rng):
        n = _next_phones(1)[0]
        services.lead_create(actor=self.manager, first_name=f"C{n}", phone=f"+9194{n:08d}")

    def distribute(self, rng):
        assignment_services.distribute(actor=self.manager, strategy=rng.choice(STRATEGIES))

    def reassign(self, rng):
        agents = self._active_agents()
        ids = self._lead_ids(rng, rng.randint(1, 8))
        if agents and ids:
            assignment_services.reassign(lead_ids=ids, agent=rng.choice(agents), actor=None)

    def change_status(self, rng):
        for lead_id in self._lead_ids(rng, rng.randint(1, 3)):
            status = rng.choice(list(LeadStatus)).value
            # Deleted meanwhile (an undo in another thread): the API's 404.
            with contextlib.suppress(Lead.DoesNotExist):
                services.lead_update(lead=Lead(pk=lead_id), actor=self.manager, status=status)

    def undo(self, rng):
        batches = list(ImportBatch.objects.filter(state=ImportBatch.State.COMMITTED))
        if batches:
            undo_batch(batch=rng.choice(batches), actor=self.manager)

    def delete(self, rng):
        services.leads_delete(lead_ids=self._lead_ids(rng, rng.randint(1, 3)))

    def deactivate(self, rng):
        agents = self._active_agents()
        if len(agents) > 2:
            assignment_services.agent_deactivate(agent=rng.choice(agents), actor=self.manager)
            self.new_agent(rng)

    def redistribute(self, rng):
        agents = self._active_agents()
        if agents:
            assignment_services.redistribute_agent(
                agent=rng.choice(agents), allow_none=rng.random() < 0.5
            )

    def sla(self, rng):
        ids = self._lead_ids(rng, rng.randint(1, 10), agent__isnull=False)
        assignment_services.move_leads_from_owners(lead_ids=ids)

    WRITES = [
        "import_leads",
        "import_leads",
        "create_lead",
        "distribute",
        "reassign",
        "change_status",
        "change_status",
        "undo",
        "delete",
        "deactivate",
        "redistribute",
        "sla",
    ]

    def run(self, name, rng):
        # A clean refusal (no eligible agent, over capacity, busy) writes nothing.
        with contextlib.suppress(DomainError):
            getattr(self, name)(rng)


def _together(desk, names, seed):
    """Run the writes ``names`` at the same instant, one thread (and connection) each."""
    barrier = threading.Barrier(len(names))
    errors = []

    def run(index, name):
        try:
            barrier.wait()
            desk.run(name, random.Random(seed * 100 + index))
        except Exception as exc:  # asserted below
            errors.append((name, exc))
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=item) for item in enumerate(names)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return errors


@pytest.mark.parametrize("seed", [1, 2])
def test_random_writes_keep_the_counters_equal_to_a_recount(seed, manager):
    rng = random.Random(seed)
    desk = Desk(manager)
    for _ in range(4):
        desk.new_agent(rng)
    desk.import_leads(rng)
    for _step in range(STEPS):
        name = rng.choice(Desk.WRITES)
        desk.run(name, rng)
        assert_counters_match()
    assert Lead.objects.count() > 0


@pytest.mark.mariadb
@pytest.mark.parametrize("seed", [1, 2])
def test_concurrent_writes_keep_the_counters_equal_to_a_recount(seed, manager):
    if connection.vendor != "mysql":
        pytest.skip("threads with their own connections: MariaDB (DATABASE_URL=mysql://...)")
    rng = random.Random(seed)
    desk = Desk(manager)
    for _ in range(5):
        desk.new_agent(rng)
    for _ in range(3):
        desk.import_leads(rng)
    for round_ in range(ROUNDS):
        # Two distributions and status changes at once, plus a mix of the rest.
        names = ["distribute", "distribute", "change_status", "change_status", "import_leads"]
        names += rng.sample(Desk.WRITES, 3)
        errors = _together(desk, names, seed * 10 + round_)
        assert errors == [], f"round {round_}"
        assert_counters_match()
    counters.rebuild()  # and a rebuild finds nothing to fix
    assert counters.rebuild(dry_run=True) == []
