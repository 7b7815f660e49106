"""The broker's own redelivery of a SIGKILLed worker's import, with no sweep, on MariaDB + Redis.

The sweep (imports.tasks) usually finds a dead worker's batch first
(``test_worker_kill``). Here it is off (``IMPORT_SWEEP_SECONDS=0``: no beat,
no sweep at a worker's start), so the only way back is Redis's: the killed
worker never acknowledged its message, and once ``CELERY_VISIBILITY_TIMEOUT``
(2 s here) has passed a worker puts it back in the queue, marked redelivered.
The first worker is held inside its import (the test holds the rotation lock
that the commit takes before it writes a lead) and killed there; the second
must take the batch over and end it exactly as a straight import would.
"""

import os
import threading

import pytest
from django.db import connection, transaction

from assignments.planning import lock_rotation, preview_counts
from imports import services
from imports.tests.conftest import leads_csv
from imports.tests.test_batch_crash import _database_url
from imports.tests.test_worker_kill import (  # noqa: F401
    Worker,
    assert_ends_as_a_straight_import,
    real_broker,
    wait_for,
    wait_until_finished,
)
from leads.models import ImportBatch, Lead

pytestmark = [pytest.mark.mariadb, pytest.mark.django_db(transaction=True)]

ROWS = 40


class RotationHeld:
    """The rotation lock, held by another connection until ``release()``."""

    def __init__(self):
        self.taken = threading.Event()
        self._release = threading.Event()
        self.thread = threading.Thread(target=self._hold, daemon=True)
        self.thread.start()
        assert self.taken.wait(30), "the rotation lock could not be taken"

    def _hold(self):
        try:
            with transaction.atomic():
                lock_rotation()
                self.taken.set()
                self._release.wait(120)
        finally:
            connection.close()

    def release(self):
        self._release.set()
        self.thread.join(30)


def test_a_killed_workers_import_is_redelivered_by_redis_and_ends_as_a_straight_import(
    real_broker,  # noqa: F811
    make_agent,
    manager,
    tmp_path,
    settings,
):
    agents = [make_agent() for _ in range(3)]
    settings.MEDIA_ROOT = media = tmp_path / "media"
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv(ROWS))
    planned = preview_counts(n_leads=ROWS, strategy=None)
    with transaction.atomic():
        lock_rotation()  # the row exists before another connection holds it
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": settings.REDIS_URL,
        "CACHE_KEY_PREFIX": os.environ.get("CACHE_KEY_PREFIX", "leadline"),
        "MEDIA_ROOT": str(media),
        "CELERY_TASK_ALWAYS_EAGER": "false",
        "CELERY_VISIBILITY_TIMEOUT": "2",
        "IMPORT_SWEEP_SECONDS": "0",
        "CONN_MAX_AGE": "0",
        "LOG_LEVEL": "INFO",
        "LOG_FORMAT": "plain",
    }
    held = RotationHeld()
    first = second = None
    try:
        with open(path, "rb") as upload:
            batch = services.queue_file(
                file=upload, actor=manager, source="command", size_limit=False
            )
        first = Worker(tmp_path, "first", env, beat=False)
        wait_for(
            "the first worker to claim the batch",
            lambda: ImportBatch.objects.get(pk=batch.pk).state == "processing",
            timeout=120,
            workers=[first],
        )
        first.kill()
        held.release()
        # The worker died inside its transaction: nothing of it is visible.
        assert ImportBatch.objects.get(pk=batch.pk).state == "processing"
        assert not Lead.objects.exists()

        second = Worker(tmp_path, "second", env, beat=False)
        done = wait_until_finished(
            batch, second, what="the redelivered batch to finish on the second worker", timeout=180
        )
    finally:
        held.release()
        for worker in (first, second):
            if worker is not None:
                worker.stop()

    log = (tmp_path / "second.log").read_text()
    assert f"import batch {batch.pk}: task received (redelivered)" in log
    assert "import sweep" not in log + (tmp_path / "first.log").read_text()
    assert_ends_as_a_straight_import(done, rows=ROWS, agents=agents, planned=planned)
