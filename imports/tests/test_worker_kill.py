"""A real Celery worker SIGKILLed in the middle of a 100k-row import, on MariaDB + Redis.

Two ``celery -A config worker`` processes (the second with the beat, as
``-B``) run on this test's database (a transactional test: its rows are
committed, so the workers see them) and on this run's Redis. The first is
killed with SIGKILL, with all its pool processes, once the batch's progress
shows rows written; the second must find the lost batch (the sweep at its
start, then the beat's), run it again from the start, and end with exactly
what a straight import gives: every row once, every lead assigned once, the
round-robin split of the plan. (The broker's own redelivery of the killed
worker's message, with the sweep off: ``test_worker_redelivery``.)
"""

import os
import signal
import subprocess
import sys
import time
from collections import Counter

import pytest
from celery import current_app
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count, F

from assignments.models import Assignment
from assignments.planning import preview_counts
from imports import queueing, services
from imports.tests.test_batch_crash import _database_url
from leads.models import ImportBatch, Lead

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]

ROWS = 100_000


@pytest.fixture
def real_broker(settings):
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB/MySQL (DATABASE_URL=mysql://...)")
    if not settings.REDIS_URL:
        pytest.skip("needs Redis (REDIS_URL) as the broker")
    conf = current_app.conf
    eager = conf.task_always_eager
    conf.task_always_eager = False
    current_app.control.purge()
    yield
    current_app.control.purge()
    conf.task_always_eager = eager


class Worker:
    """A ``celery -A config worker`` process group on the test's database."""

    def __init__(self, tmp_path, name, env, *, beat=True):
        self.log = open(tmp_path / f"{name}.log", "w")  # noqa: SIM115 - closed in stop()
        with_beat = ["-B", "-s", str(tmp_path / f"{name}-beat")] if beat else []
        self.process = subprocess.Popen(  # noqa: S603 - this interpreter, fixed arguments
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                *with_beat,
                "--pool",
                "threads",
                "--concurrency",
                "1",
                "--hostname",
                f"{name}@%h",
                "--loglevel",
                "INFO",
            ],
            cwd=django_settings.BASE_DIR,
            env=env,
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group: killed with its pool
        )

    def kill(self):
        os.killpg(self.process.pid, signal.SIGKILL)
        self.process.wait(timeout=60)

    def stop(self):
        if self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=60)
        self.log.close()


def wait_for(what, check, timeout, workers=()):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        for worker in workers:
            assert worker.process.poll() is None, f"worker ended: {worker.log.name}"
        time.sleep(0.1)
    logs = "\n".join(open(w.log.name).read()[-3000:] for w in workers)  # noqa: SIM115
    raise AssertionError(f"timed out waiting for {what}\n{logs}")


def test_sigkilled_worker_mid_import_ends_with_exactly_a_straight_import(
    real_broker, make_agent, manager, tmp_path, settings
):
    agents = [make_agent() for _ in range(3)]
    media = tmp_path / "media"
    settings.MEDIA_ROOT = media
    path = tmp_path / "leads.csv"
    with open(path, "w") as out:
        out.write("FirstName,Phone,Notes\n")
        for n in range(ROWS):
            out.write(f"Person{n},98{n:08d},note {n}\n")
    planned = preview_counts(n_leads=ROWS, strategy=None)

    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "leadline"),
        "MEDIA_ROOT": str(media),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "IMPORT_SWEEP_SECONDS": "1",
        # Other tests of a parallel run empty this Redis (cache.clear() is a
        # FLUSHDB), queue included: the sweep sends a waiting batch again.
        "IMPORT_REQUEUE_AFTER_SECONDS": "0",
        "IMPORT_CHUNK_ROWS": "5000",
        "IMPORT_PROGRESS_INTERVAL": "0.1",
        "CONN_MAX_AGE": "0",
        "LOG_LEVEL": "INFO",
    }
    with open(path, "rb") as upload:
        batch = services.queue_file(file=upload, actor=manager, source="command", size_limit=False)
    assert batch.state == "queued"

    first = Worker(tmp_path, "first", env)
    second = None
    try:
        progress = wait_for(
            "rows written by the first worker",
            lambda: (p := queueing.live(batch.pk)) and p["rows_done"] > 0 and p,
            timeout=180,
            workers=[first],
        )
        assert progress["stage"] == "reading"
        first.kill()
        # The worker died in the middle of its transaction: nothing of it is visible.
        assert ImportBatch.objects.get(pk=batch.pk).state == "processing"
        assert not Lead.objects.filter(batch=batch).exists()

        second = Worker(tmp_path, "second", env)
        done = wait_until_finished(
            batch, second, what="the batch to finish on the second worker", timeout=600
        )
    finally:
        first.stop()
        if second is not None:
            second.stop()

    done.refresh_from_db()
    assert_ends_as_a_straight_import(done, rows=ROWS, agents=agents, planned=planned)


def assert_ends_as_a_straight_import(done, *, rows, agents, planned):
    """The batch, taken over by a second worker, holds exactly what one import would:
    every row once, one open assignment per lead, the planned split."""
    assert done.state == "committed", done.message
    assert done.attempts == 2
    assert (done.rows, done.created, done.assigned, done.unassigned) == (rows, rows, rows, 0)
    assert Lead.objects.filter(batch=done).count() == Lead.objects.count() == rows
    assert Lead.objects.values("phone").distinct().count() == rows
    open_assignments = Assignment.objects.filter(ended_at__isnull=True)
    assert Assignment.objects.count() == open_assignments.filter(batch=done).count() == rows
    assert not open_assignments.values("lead").annotate(n=Count("id")).filter(n__gt=1).exists()
    # Each lead's agent is its open assignment's agent, and the split is the plan's.
    assert not open_assignments.exclude(agent_id=F("lead__agent_id")).exists()
    held = Counter(Lead.objects.values_list("agent_id", flat=True))
    assert {agent.pk: held[agent.pk] for agent in agents} == dict(planned.per_agent)
    assert {int(k): v for k, v in done.per_agent.items()} == dict(planned.per_agent)


def wait_until_finished(batch, worker, *, what, timeout):
    """The batch once it has left ``queued`` and ``processing`` on ``worker``."""
    return wait_for(
        what,
        lambda: (
            (b := ImportBatch.objects.get(pk=batch.pk)).state not in ("queued", "processing") and b
        ),
        timeout=timeout,
        workers=[worker],
    )
