"""Import work handed to the Celery workers: sending, live progress, cancel flags.

The batch row is the job: its ``state`` (``queued`` → ``processing`` → a final
state), its ``action`` and its ``progress``. Nothing depends on a result
backend, and a message may be delivered twice (late acknowledgement, the
sweep's requeue): the task claims the batch first (``imports.committing``), so
a second delivery finds nothing left to do.

**Progress and cancel go through the cache, not the batch row.** While a
worker reads or commits a file it holds the batch row's lock (``FOR UPDATE``,
and every inserted lead's foreign key takes a shared lock on it), and its
writes are invisible until its transaction commits: an ``UPDATE`` of the row
from the poller's side would wait for the very work it wants to stop, and one
from the worker's side would show nobody anything. So the live progress and
the cancel request live in the shared cache (Redis; with no Redis, tasks run
in-process and the in-process cache is what the process's other threads
read), and the last progress is also written on the batch row whenever the
row itself is written (queued, finished). Progress is written at most once a
second (``IMPORT_PROGRESS_INTERVAL``) and the cancel flag is read once per
chunk: a few cache calls per 20,000 rows.
"""

import logging
import threading
import time

from celery import current_app
from django.conf import settings
from django.core.cache import cache
from django.db import connection, transaction

from common.errors import Conflict
from common.logging import request_id_var

logger = logging.getLogger(__name__)

_PROGRESS_KEY = "imports:progress:{}"
_CANCEL_KEY = "imports:cancel:{}"
# Long enough to outlive any import; short enough not to pile up.
_TTL = 24 * 3600


class ImportCancelled(Conflict):
    """Raised between chunks when someone cancelled the batch's work."""

    code = "import_cancelled"


class ImportInterrupted(Conflict):
    """Raised between chunks when this worker is shutting down (SIGTERM, a deploy):
    the work rolls back and the batch goes back to the queue for another worker."""

    code = "import_interrupted"


_stopping = threading.Event()


def stop_between_chunks():
    """The worker is shutting down: running imports stop at their next chunk."""
    _stopping.set()


def is_eager():
    """Whether tasks run in-process (no broker: the embedded default)."""
    return bool(current_app.conf.task_always_eager)


def send(batch_id, *, actor_id=None, request_id=None):
    """Hand ``batch_id``'s work to the workers once the current transaction commits.

    In eager mode (no broker) the task runs right there, in this process.
    """
    request_id = request_id or request_id_var.get()

    def _send():
        from .tasks import run_batch  # the task module imports the services

        logger.info("import batch %s queued", batch_id)
        run_batch.apply_async(
            kwargs={"batch_id": batch_id, "actor_id": actor_id, "request_id": request_id},
            headers={"request_id": request_id},
        )

    transaction.on_commit(_send)


# --- Progress -----------------------------------------------------------------


def progress_body(stage, rows_done=0, rows_total=None, share=None):
    """The ``progress`` object of the API: stage, rows done, rows total (known or
    estimated from the bytes read), percent."""
    if rows_total is None and share:
        rows_total = round(rows_done / share) if share > 0 else None
    if share is None:
        share = (rows_done / rows_total) if rows_total else 0.0
    percent = 100 if stage == "done" else min(99, int(share * 100))
    return {
        "stage": stage,
        "rows_done": int(rows_done),
        "rows_total": int(rows_total) if rows_total is not None else None,
        "percent": percent,
    }


def _key(template, batch_id):
    """A cache key of ``batch_id`` in this database: several databases (test
    runs, environments) may share one Redis, each with its own batch #1."""
    return template.format(f"{connection.settings_dict['NAME']}:{batch_id}")


def write_live(batch_id, body):
    cache.set(_key(_PROGRESS_KEY, batch_id), body, _TTL)


def live(batch_id):
    """The live progress of a running batch (None when there is none)."""
    return cache.get(_key(_PROGRESS_KEY, batch_id))


def forget(batch_id):
    cache.delete_many([_key(_PROGRESS_KEY, batch_id), _key(_CANCEL_KEY, batch_id)])


class Reporter:
    """The ``progress`` callback of :func:`imports.pipeline.run` (and of undo).

    Called once per chunk with the share of the file read and the outcome so
    far: writes the live progress at most every ``IMPORT_PROGRESS_INTERVAL``
    seconds and raises :class:`ImportCancelled` when the batch was cancelled.
    ``then`` is another callback to call too (the command's progress bar).
    """

    def __init__(self, batch_id, stage, *, rows_total=None, then=None):
        self.batch_id = batch_id
        self.stage = stage
        self.rows_total = rows_total
        self.then = then
        self.interval = settings.IMPORT_PROGRESS_INTERVAL
        self._last = 0.0
        self.writes = 0
        self.start()

    def start(self):
        self._write(progress_body(self.stage, 0, self.rows_total))

    def _write(self, body):
        self._last = time.monotonic()
        self.writes += 1
        write_live(self.batch_id, body)

    def rows(self, rows_done, *, share=None):
        """Report ``rows_done`` rows (and, if known, the share of the input read)."""
        check_cancel(self.batch_id)
        if _stopping.is_set():
            raise ImportInterrupted(f"Batch #{self.batch_id}: the worker is shutting down.")
        if time.monotonic() - self._last >= self.interval:
            self._write(progress_body(self.stage, rows_done, self.rows_total, share))

    def __call__(self, share, outcome):
        self.rows(outcome.rows, share=share)
        if self.then is not None:
            self.then(share, outcome)


# --- Cancel -------------------------------------------------------------------


def request_cancel(batch_id):
    cache.set(_key(_CANCEL_KEY, batch_id), 1, _TTL)


def cancel_requested(batch_id):
    return bool(cache.get(_key(_CANCEL_KEY, batch_id)))


def check_cancel(batch_id):
    if cancel_requested(batch_id):
        raise ImportCancelled(f"Batch #{batch_id}: the import was cancelled; nothing was written.")


def progress_of(batch):
    """The ``progress`` the API shows for ``batch``: live while it waits or runs,
    else the last one written with the row (the totals when there is none)."""
    State = type(batch).State
    if batch.state in (State.QUEUED, State.PROCESSING):
        body = live(batch.pk) or batch.progress or progress_body(batch.state)
        if batch.state == State.QUEUED:
            body = progress_body("queued", 0, body.get("rows_total"))
        elif cancel_requested(batch.pk):
            body = {**body, "stage": "cancelling"}
        return body
    if batch.state in (State.FAILED, State.CANCELLED):
        return {**progress_body(batch.state, 0, None), "percent": 0}
    body = batch.progress or {}
    if body.get("stage") == "done":
        return body
    return progress_body("done", batch.rows, batch.rows)
