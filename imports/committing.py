"""Who may process an import batch, and the commit transaction.

**Claims.** Reading a new upload into a preview, and committing, are done by one
process at a time, the holder of the batch's *claim*: the batch row is
committed in state ``processing`` with a fresh ``processing_token`` before the
work starts, and only that process moves it on (to ``preview``, ``committed``
or ``failed``), with updates conditional on its token. So:

- a batch is only seen as a real preview or committed import once its
  processing has finished;
- a loser — the second click on "commit", one of four clients uploading the
  same file at once — is refused before it owns anything, and its error path
  changes nothing (:func:`claim_preview`, :func:`claim_new`);
- a batch whose process died (the OOM killer, gunicorn's timeout, a deploy)
  is recognised and marked ``failed`` by the next one to look
  (:func:`reap_if_dead`), so it never blocks a re-upload of its file.

**Liveness.** A live holder is proven by a lock that dies with its process,
not by a clock:

- *MariaDB/MySQL*: a named lock (``GET_LOCK``) per batch, taken on the
  holder's connection *before* the ``processing`` row is committed and
  released only after the final state is. The server frees it the moment the
  connection goes (a killed process's socket is closed by the kernel), so
  ``IS_USED_LOCK`` tells a dead claim from a live one exactly and at once,
  however long the import runs. A heartbeat column could not do this: the
  commit transaction holds the batch row's lock (``FOR UPDATE``, and the
  leads' foreign key takes a shared lock on it), so a heartbeat ``UPDATE``
  from outside would wait for the very commit it vouches for.
- *SQLite* (development): no named locks, but every write transaction takes
  the database's write lock (``BEGIN IMMEDIATE``), and all processing runs
  inside one. Whoever checks inside its own write transaction therefore
  never sees a live holder in the middle of its work, only one between its
  claim and the start of its transaction: ``processing_since`` older than
  :data:`SQLITE_CLAIM_GRACE` (longer than SQLite's 20 s busy timeout, the
  longest that gap can last) means dead.

**Same file twice.** :func:`claim_new` checks for a live batch of the same
sha256 and inserts the claim under one lock per file, so exactly one of
several simultaneous uploads of a file wins and the others get
``duplicate_file`` (409) naming the winner. On MariaDB that lock is a
``GET_LOCK`` keyed on the sha256 (and the database), held only for the claim.
Not a unique index: ``force=true`` legitimately makes several live batches of
one file, and MariaDB has no partial unique indexes to leave failed and
undone ones out. Not a row lock either: there is no row to lock until the
first batch exists, and under READ COMMITTED InnoDB takes no gap locks that
would make ``SELECT … FOR UPDATE`` on a missing sha256 wait. Not Redis: the
cache is not the source of truth and is per process without ``REDIS_URL``.
On SQLite the claim's write transaction already serializes claims.

**The commit.** All of an import's leads in one transaction, or none: the
batch row is locked and must still be this claim's; the distribution's
rotation lock is taken before any lead is written; the pipeline writes every
chunk; the counts, the audit entry, the metrics and the data version follow
in the same transaction. When anything fails, the transaction leaves nothing
and the batch is marked ``failed`` with the reason, outside it
(:func:`processing`).
"""

import hashlib
import logging
import uuid
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import DatabaseError, connection, models, transaction
from django.utils import timezone

from accounts import audit
from assignments.planning import lock_for_distribution
from assignments.routed import report_notes
from common import dataversion
from common.errors import Conflict, DomainError, ServiceUnavailable
from leads import counters
from leads.models import ImportBatch
from routing.services import record_batch_routing

from . import metrics, pipeline, queueing
from .errors import DuplicateFile, InvalidRows, strict_error

logger = logging.getLogger(__name__)

State = ImportBatch.State

# States in which a batch counts for the duplicate-file check.
LIVE = (State.QUEUED, State.PROCESSING, State.PREVIEW, State.COMMITTED)
Action = ImportBatch.Action
# SQLite only (see the module docstring): how long after its claim a
# ``processing`` batch may still be waiting for the write lock.
SQLITE_CLAIM_GRACE = timedelta(seconds=60)
# How long a claim waits for another claim of the same file (MariaDB); claims
# take milliseconds, so running out of it means the database is struggling.
FILE_LOCK_WAIT_SECONDS = 10

DIED_MESSAGE = (
    "The import stopped before it finished (the process handling it ended, for "
    "example killed for running out of memory or for taking too long); nothing of "
    "it was written. Upload the file again to retry; if it happens again, split "
    "the file or import it with `manage.py import_leads`."
)


REQUEUED_MESSAGE = (
    "The worker handling this import stopped before it finished (attempt {attempt}); "
    "nothing of it was written and it was queued again."
)
GAVE_UP_MESSAGE = (
    "The workers handling this import stopped {attempts} times before it finished; "
    "nothing of it was written and it was given up. Upload the file again, or split it."
)


def given_up_state(action):
    """Where a batch goes when its queued work fails or is given up: an undo
    leaves the import committed; anything else fails the batch."""
    return State.COMMITTED if action == Action.UNDO else State.FAILED


def cancelled_state(action):
    """Where a batch goes when its work is cancelled: a new import ends
    ``cancelled``, a commit leaves the preview, an undo the committed import."""
    return {Action.COMMIT: State.PREVIEW, Action.UNDO: State.COMMITTED}.get(action, State.CANCELLED)


def require_preview(batch):
    """Only a preview batch can be committed (``batch_not_in_preview``, 409)."""
    if batch.state != State.PREVIEW:
        doing = " (being imported right now)" if batch.state == State.PROCESSING else ""
        raise Conflict(
            f"Batch #{batch.pk} is {batch.state}{doing}; only a preview can be committed.",
            code="batch_not_in_preview",
        )


def copy_counts(batch, outcome):
    """Write an outcome's counts, reports and notes onto the batch (not saved)."""
    for name in ("rows", "created", "updated", "duplicates", "invalid", "assigned"):
        setattr(batch, name, getattr(outcome, name))
    batch.unassigned = outcome.unassigned_count
    batch.per_agent = {str(agent_id): n for agent_id, n in sorted(outcome.per_agent.items())}
    batch.errors = outcome.errors
    batch.duplicate_rows = outcome.duplicate_rows
    notes = [outcome.message] if outcome.message else []
    notes.extend(report_notes(outcome.routing))
    if outcome.errors_truncated:
        notes.append(f"The error report lists the first {len(outcome.errors)} errors.")
    batch.message = " ".join(notes)


# --- Named locks (MariaDB/MySQL) ----------------------------------------------


def _named_locks():
    return connection.vendor == "mysql"


def _lock_name(kind, key):
    """A server-wide lock name for this database (MariaDB allows 64 characters).

    The database name is part of it: several databases (tests, other
    environments) may share one server and have a batch #1 each.
    """
    digest = hashlib.sha256(f"{connection.settings_dict['NAME']}\0{kind}\0{key}".encode())
    return f"leadline:{digest.hexdigest()[:48]}"


def _get_lock(name, wait_seconds):
    with connection.cursor() as cursor:
        cursor.execute("SELECT GET_LOCK(%s, %s)", [name, wait_seconds])
        return cursor.fetchone()[0] == 1


def _release_lock(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT RELEASE_LOCK(%s)", [name])


def _held(name):
    with connection.cursor() as cursor:
        cursor.execute("SELECT IS_USED_LOCK(%s)", [name])
        return cursor.fetchone()[0] is not None


@contextmanager
def _same_file_lock(sha256):
    """Serialize claims of one file (MariaDB); SQLite's write transaction does it there."""
    if not _named_locks():
        yield
        return
    name = _lock_name("file", sha256)
    if not _get_lock(name, FILE_LOCK_WAIT_SECONDS):
        busy = ServiceUnavailable(
            "Another upload of this file is being registered. Try again shortly.",
            code="import_busy",
        )
        busy.headers = {"Retry-After": "1"}
        raise busy
    try:
        yield
    finally:
        _release_lock(name)


# --- Claims -------------------------------------------------------------------


@dataclass
class Claim:
    """This process's right to process ``batch`` (which it keeps up to date)."""

    batch: ImportBatch
    token: str
    _lock: str = ""

    def lock(self):
        """Lock the batch row (in a transaction) and check it is still ours."""
        batch = ImportBatch.objects.select_for_update().get(pk=self.batch.pk)
        if batch.state != State.PROCESSING or batch.processing_token != self.token:
            raise Conflict(
                f"Batch #{batch.pk} is {batch.state}: its import was given up for dead "
                "while this process was starting it. Upload the file again.",
                code="import_interrupted",
            )
        self.batch = batch
        return batch

    def _mine(self):
        return ImportBatch.objects.filter(
            pk=self.batch.pk, state=State.PROCESSING, processing_token=self.token
        )

    def fail(self, message, **fields):
        """Mark the batch ``failed`` if it is still this claim's; True if it was."""
        fields.setdefault("state", State.FAILED)
        return bool(self._mine().update(message=message, **fields))

    def end(self, state, message):
        """Move the batch to ``state`` if it is still this claim's; True if it was."""
        return bool(self._mine().update(state=state, message=message))

    def requeue(self):
        """Give queued work back to the queue (this worker stops); True if it was ours.

        Not an attempt that failed: the count of attempts is given back too.
        """
        if not self.batch.queued_at:
            return self.fail("The import was stopped; nothing of it was written.")
        requeued = self._mine().update(
            state=State.QUEUED,
            queued_at=timezone.now(),
            attempts=models.F("attempts") - 1,
            message="The worker stopped (shutdown) before it finished; queued again.",
        )
        if requeued:
            queueing.send(self.batch.pk, request_id=self.batch.request_id)
        return bool(requeued)

    def discard(self):
        """Delete the batch row and its stored file, if still this claim's
        (a refused preview leaves nothing behind)."""
        if self._mine().delete()[0] and self.batch.file:
            self.batch.file.delete(save=False)

    def release(self):
        """Give the claim's named lock back (MariaDB; the batch has its final state)."""
        name, self._lock = self._lock, ""
        if name:
            try:
                _release_lock(name)
            except DatabaseError:
                # The connection is gone, and the lock went with it.
                logger.warning("import batch %s: could not release its lock", self.batch.pk)


def _claim_fields(batch, token):
    batch.state = State.PROCESSING
    batch.processing_token = token
    batch.processing_since = timezone.now()


def claim_new(batch, *, force=False):
    """Insert the unsaved ``batch`` as ``processing``, claimed by this process.

    Unless ``force``, a live batch of the same file (sha256) refuses it with
    ``duplicate_file`` (409, ``batch`` = that batch's id); batches whose
    processing died are marked ``failed`` on the way and do not count. The
    check and the insert happen under the same-file lock.
    """
    token = uuid.uuid4().hex
    claim = Claim(batch, token)
    with _same_file_lock(batch.sha256):
        try:
            with transaction.atomic():
                if not force:
                    _refuse_live_duplicate(batch.sha256)
                _claim_fields(batch, token)
                batch.save()
                if _named_locks():
                    # Before the row is visible: no moment shows a claim without its holder.
                    claim._lock = _lock_name("batch", batch.pk)
                    if not _get_lock(claim._lock, 0):
                        raise RuntimeError(f"The lock of new batch #{batch.pk} is taken.")
        except BaseException:
            claim.release()
            raise
    return claim


def claim_preview(batch_id):
    """Claim a preview batch for its commit, or refuse (409) without changing it.

    Refused with ``batch_not_in_preview`` when the batch is anything but a
    preview, including while another process is committing it. A
    ``processing`` batch whose process died is marked ``failed`` first.
    """
    token = uuid.uuid4().hex
    claim = Claim(ImportBatch(pk=batch_id), token)
    if _named_locks():
        name = _lock_name("batch", batch_id)
        if not _get_lock(name, 0):
            # A live process holds it, so it is being processed: no preview (any more).
            raise Conflict(
                f"Batch #{batch_id} is being imported right now; only a preview can be committed.",
                code="batch_not_in_preview",
            )
        claim._lock = name
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
            # On MariaDB we hold its lock now, so a ``processing`` batch is dead.
            if batch.state == State.PROCESSING and (_named_locks() or not _alive(batch)):
                _mark_dead(batch)
            refused = batch.state != State.PREVIEW
            if not refused:
                _claim_fields(batch, token)
                batch.action = Action.COMMIT  # a cancel leaves the preview
                batch.save(
                    update_fields=["state", "processing_token", "processing_since", "action"]
                )
        if refused:
            require_preview(batch)  # after the transaction: a dead batch stays failed
    except BaseException:
        claim.release()
        raise
    claim.batch = batch
    return claim


def register_queued(batch, *, action, force=False, request_id=""):
    """Insert the unsaved ``batch`` as ``queued`` for ``action`` (the workers claim it).

    The same duplicate check as :func:`claim_new`, under the same lock: a queued
    batch counts as live, so a second upload of the file is refused at once.
    """
    with _same_file_lock(batch.sha256), transaction.atomic():
        if not force:
            _refuse_live_duplicate(batch.sha256)
        batch.state = State.QUEUED
        batch.action = action
        batch.queued_at = timezone.now()
        batch.request_id = (request_id or "")[:64]
        batch.progress = queueing.progress_body("queued")
        batch.save()
    return batch


def queue_existing(batch_id, *, action, expected, request_id=""):
    """Queue ``action`` on a batch that is in state ``expected``; the batch, or
    None when it is no longer in that state (nothing changed)."""
    now = timezone.now()
    changed = ImportBatch.objects.filter(pk=batch_id, state=expected).update(
        state=State.QUEUED,
        action=action,
        queued_at=now,
        attempts=0,
        request_id=(request_id or "")[:64],
        progress=queueing.progress_body("queued"),
    )
    return ImportBatch.objects.get(pk=batch_id) if changed else None


def claim_queued(batch_id):
    """A worker's claim of a queued batch, or None when there is nothing to do.

    Nothing to do: the batch is gone, finished, cancelled, or being processed
    by a live worker (a second delivery of its message). A ``processing``
    batch whose worker died is taken over (its earlier work was rolled back
    with that worker's transaction). After ``IMPORT_MAX_ATTEMPTS`` claims the
    batch is given up instead.
    """
    token = uuid.uuid4().hex
    claim = Claim(ImportBatch(pk=batch_id), token)
    if _named_locks():
        name = _lock_name("batch", batch_id)
        if not _get_lock(name, 0):
            return None  # a live worker holds it
        claim._lock = name
    try:
        with transaction.atomic():
            batch = ImportBatch.objects.select_for_update().filter(pk=batch_id).first()
            if batch is None or batch.state not in (State.QUEUED, State.PROCESSING):
                claim.release()
                return None
            if batch.state == State.PROCESSING and not _named_locks() and _alive(batch):
                claim.release()
                return None
            if queueing.cancel_requested(batch_id):
                batch.state = cancelled_state(batch.action)
                batch.message = "Cancelled before it started; nothing was written."
                batch.save(update_fields=["state", "message"])
                claim.release()
                return None
            if batch.attempts >= settings.IMPORT_MAX_ATTEMPTS:
                batch.state = given_up_state(batch.action)
                batch.message = GAVE_UP_MESSAGE.format(attempts=batch.attempts)
                batch.save(update_fields=["state", "message"])
                logger.warning(
                    "import batch %s given up after %s attempts", batch_id, batch.attempts
                )
                claim.release()
                return None
            _claim_fields(batch, token)
            batch.attempts += 1
            batch.save(update_fields=["state", "processing_token", "processing_since", "attempts"])
    except BaseException:
        claim.release()
        raise
    claim.batch = batch
    return claim


def _alive(batch):
    """Whether the process holding ``batch``'s claim still runs (see the module
    docstring; on SQLite only meaningful inside a write transaction)."""
    if _named_locks():
        return _held(_lock_name("batch", batch.pk))
    since = batch.processing_since
    return since is not None and since > timezone.now() - SQLITE_CLAIM_GRACE


def _mark_dead(batch, *, requeue=None):
    """Deal with a dead claim's batch; True if it was still that claim.

    Queued work (``queued_at`` set) goes back to the queue while it has
    attempts left, unless tasks run in-process (``requeue`` None: then only
    an explicit sweep requeues, a reader never runs an import); anything else
    is marked ``failed`` (an undo leaves the batch ``committed``).
    """
    if requeue is None:
        requeue = not queueing.is_eager()
    mine = ImportBatch.objects.filter(
        pk=batch.pk, state=State.PROCESSING, processing_token=batch.processing_token
    )
    queued = batch.queued_at is not None and batch.action
    if queued and requeue and batch.attempts < settings.IMPORT_MAX_ATTEMPTS:
        marked = mine.update(
            state=State.QUEUED,
            queued_at=timezone.now(),
            message=REQUEUED_MESSAGE.format(attempt=batch.attempts),
        )
        if marked:
            queueing.send(batch.pk, request_id=batch.request_id)
            logger.warning("import batch %s: its worker died; queued again", batch.pk)
    else:
        if queued:
            state = given_up_state(batch.action)
            message = GAVE_UP_MESSAGE.format(attempts=batch.attempts)
        else:
            state, message = State.FAILED, DIED_MESSAGE
        marked = mine.update(state=state, message=message)
        if marked:
            logger.warning(
                "import batch %s: its process died while processing it; marked %s",
                batch.pk,
                state,
            )
    batch.refresh_from_db()
    return bool(marked)


def reap_if_dead(batch, *, requeue=None):
    """Deal with ``batch`` if it is ``processing`` and its process died (:func:`_mark_dead`).

    Returns True if this call changed it. ``batch`` is refreshed when it was
    processing. On SQLite, call it inside ``transaction.atomic()``.
    """
    if batch.state != State.PROCESSING or _alive(batch):
        return False
    return _mark_dead(batch, requeue=requeue)


def reap_dead_batches(*, dry_run=False, requeue=None):
    """Deal with every ``processing`` batch whose process died; their ids.

    ``dry_run`` only names them (on SQLite from outside a write transaction,
    so a batch in the middle of a long import may be named too).
    """
    found = []
    processing_ids = ImportBatch.objects.filter(state=State.PROCESSING).values_list("id", flat=True)
    for batch_id in list(processing_ids):
        if dry_run:
            batch = ImportBatch.objects.filter(pk=batch_id, state=State.PROCESSING).first()
            if batch is not None and not _alive(batch):
                found.append(batch_id)
            continue
        with transaction.atomic():
            batch = ImportBatch.objects.filter(pk=batch_id).first()
            if batch is not None and reap_if_dead(batch, requeue=requeue):
                found.append(batch_id)
    return found


def find_live_duplicate(sha256):
    """The first live batch (processing, preview, committed) of this file, or None.

    Read only (dry runs): a ``processing`` batch whose process died is passed
    over but not marked failed.
    """
    for batch in ImportBatch.objects.filter(sha256=sha256, state__in=LIVE).order_by("id"):
        if batch.state != State.PROCESSING or _alive(batch):
            return batch
    return None


def duplicate_error(first):
    """``duplicate_file`` (409) naming ``first``, the live batch of the same file."""
    if first.state == State.QUEUED:
        what = f"This file is queued for import as batch #{first.pk}."
    elif first.state == State.PROCESSING:
        what = (
            f"This file is being imported right now as batch #{first.pk} (processing "
            f"since {first.processing_since:%Y-%m-%d %H:%M} UTC)."
        )
    else:
        what = (
            f"This file was already imported as batch #{first.pk} ({first.state}, "
            f"{first.created_at:%Y-%m-%d %H:%M} UTC)."
        )
    return DuplicateFile(f"{what} Use force=true to import it again.", extra={"batch": first.pk})


def _refuse_live_duplicate(sha256):
    for batch in ImportBatch.objects.filter(sha256=sha256, state__in=LIVE).order_by("id"):
        if reap_if_dead(batch) or batch.state not in LIVE:
            continue  # died (now failed), or finished as failed/undone meanwhile
        raise duplicate_error(batch)


@contextmanager
def processing(claim):
    """Do the claimed work: on any error, mark the batch ``failed`` (if still
    this claim's) with the reason and re-raise; always release the claim.

    ``BaseException``: gunicorn's timeout ends a worker with ``SystemExit``;
    the batch then reads ``failed`` at once instead of waiting to be found dead.
    """
    try:
        yield claim
    except queueing.ImportInterrupted:
        if claim.requeue():
            logger.info("import batch %s: its worker is stopping; queued again", claim.batch.pk)
        raise
    except queueing.ImportCancelled:
        state = cancelled_state(claim.batch.action)
        if claim.end(state, "Cancelled while running; nothing of it was written."):
            logger.info("import batch %s cancelled (now %s)", claim.batch.pk, state)
        raise
    except BaseException as exc:
        # The work's transaction has rolled back; record why, outside it.
        outcome = getattr(exc, "outcome", None)
        fields = {}
        if isinstance(exc, InvalidRows) and outcome is not None:
            fields.update(rows=outcome.rows, invalid=outcome.invalid, errors=outcome.errors)
        message = _failure_message(exc)
        if claim.batch.action == Action.UNDO:
            fields["state"] = State.COMMITTED
            message = f"The undo failed and nothing was removed: {message}"
        try:
            if claim.fail(message, **fields):
                logger.warning("import batch %s failed: %s", claim.batch.pk, message)
        except Exception:  # the original error matters more
            logger.exception("import batch %s: could not mark it failed", claim.batch.pk)
        raise
    finally:
        claim.release()


def _failure_message(exc):
    if isinstance(exc, DomainError):
        return exc.message
    return f"The import failed and nothing was written ({type(exc).__name__})."


def commit_claimed(*, claim, table, actor, options, now=None, progress=None):
    """Commit the claimed batch from ``table``; return the outcome, ``claim.batch`` fresh.

    Run it inside :func:`processing`, which marks the batch failed on error.
    """
    outcome = _commit(
        claim=claim, table=table, actor=actor, options=options, now=now, progress=progress
    )
    claim.batch.refresh_from_db()
    return outcome


@transaction.atomic
@counters.deferred  # the import's counter deltas, applied once just before it commits
def _commit(*, claim, table, actor, options, now=None, progress=None):
    now = now or timezone.now()
    batch = claim.lock()
    if options.distribute:
        # The rotation lock before any lead is written: the lock order of every
        # distribution (rotation, then leads), so an import cannot deadlock with one.
        lock_for_distribution()
    outcome = pipeline.run(
        table,
        options=options,
        batch=batch,
        actor=actor if getattr(actor, "pk", None) else None,
        write=True,
        now=now,
        progress=progress,
    )
    if options.strict and outcome.invalid:
        exc = strict_error(batch, outcome)
        exc.outcome = outcome
        raise exc
    copy_counts(batch, outcome)
    batch.state = State.COMMITTED
    batch.committed_at = now
    batch.save()
    if options.routing is not None:
        record_batch_routing(batch=batch, snapshot=options.routing, report=outcome.routing)
    audit.record(
        audit.Action.IMPORT_COMMITTED,
        actor=actor,
        target=f"batch:{batch.pk}",
        file_name=batch.file_name,
        rows=outcome.rows,
        created=outcome.created,
        updated=outcome.updated,
        duplicates=outcome.duplicates,
        invalid=outcome.invalid,
        assigned=outcome.assigned,
    )
    seconds = outcome.timings["total"]
    transaction.on_commit(
        lambda: (metrics.leads_imported(outcome.created), metrics.import_duration(seconds))
    )
    logger.info(
        "import batch %s committed: %s rows, %s created, %s assigned in %.2fs",
        batch.pk,
        outcome.rows,
        outcome.created,
        outcome.assigned,
        outcome.timings["total"],
    )
    dataversion.bump()
    return outcome
