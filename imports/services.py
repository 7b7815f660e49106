"""Imports as the API, the admin and ``manage.py import_leads`` start them.

- ``import_file``: an uploaded file → a batch in ``preview`` (plan only) or
  ``committed`` state;
- ``import_path``: the same for a file on disk, streamed, no size limit;
- ``commit_batch``: apply a preview batch by re-reading its stored file (the
  database may have changed since the preview, so duplicates are re-checked);
- ``undo_batch``: remove a committed batch's leads, keeping worked ones;
- ``purge_failed_files``: delete the stored files of old failed batches.

Every import and commit is *claimed* first (the batch is ``processing``
until it is done; a batch whose process died reads ``failed``) and the same
file is checked and claimed under one lock: :mod:`imports.committing`, which
also holds the commit transaction. The refusals are :mod:`imports.errors`.
"""

import logging
import os
from dataclasses import dataclass, field
from datetime import timedelta

from django.conf import settings
from django.core.files import File
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from accounts import audit
from accounts.models import User
from assignments.distribution import STRATEGIES
from assignments.planning import preview_counts
from assignments.results import NoEligibleAgent
from common import dataversion
from common.db import chunked
from common.errors import Conflict, DomainError
from leads import counters
from leads.models import ImportBatch, Lead, LeadActivity, LeadStatus
from routing.models import BatchRouting
from routing.services import record_batch_routing

from . import pipeline, queueing
from .committing import (
    cancelled_state,
    claim_new,
    claim_preview,
    claim_queued,
    commit_claimed,
    copy_counts,
    duplicate_error,
    find_live_duplicate,
    processing,
    queue_existing,
    reap_dead_batches,
    reap_if_dead,
    register_queued,
    require_preview,
)
from .errors import DuplicateFile as DuplicateFile  # raised by the claims; part of this API
from .errors import FileTooLarge, strict_error
from .errors import InvalidRows as InvalidRows  # raised by the commit; part of this API
from .normalize import start_worker_server
from .readers import inspect, open_table

logger = logging.getLogger(__name__)


@dataclass
class ImportResult:
    """What a service did: the batch (None for a dry run), the outcome or the undo's counts."""

    batch: ImportBatch | None
    outcome: pipeline.Outcome | None = None
    kept: list = field(default_factory=list)
    removed: int = 0

    @property
    def timings(self):
        return self.outcome.timing_report() if self.outcome else {}


@transaction.atomic
def batch_as_it_stands(batch):
    """``batch`` for a reader: one left ``processing`` by a process that died reads
    ``failed`` (and is marked so) rather than ``processing`` until the next upload."""
    reap_if_dead(batch)
    return batch


def check_upload_size(size, *, allowance=0):
    """The upload limit: refuse ``size`` bytes over ``MAX_UPLOAD_SIZE`` (413, ``file_too_large``).

    The one place the rule lives. :func:`import_file` applies it to every
    upload, from the API and the admin alike; the API view also applies it to
    the request's ``Content-Length`` (``allowance`` being room for the
    multipart envelope), so an oversized body is refused before Django spools
    it to disk. ``manage.py import_leads`` has no limit.
    """
    limit = settings.MAX_UPLOAD_SIZE
    if size > limit + allowance:
        raise FileTooLarge(
            f"The file is {size:,} bytes; uploads are limited to {limit:,} bytes "
            f"({limit / 1024 / 1024:.0f} MiB). Split it, or import it with "
            "`manage.py import_leads`, which has no size limit."
        )


def _options(*, strategy, dedupe, distribute, strict):
    if strategy and strategy not in STRATEGIES:
        message = f"Unknown strategy {strategy!r}; choose one of {', '.join(STRATEGIES)}."
        raise DomainError(message, code="validation_error", fields={"strategy": [message]})
    if dedupe not in ImportBatch.Dedupe.values:
        message = f"Unknown dedupe policy {dedupe!r}; choose skip or update."
        raise DomainError(message, code="validation_error", fields={"dedupe": [message]})
    return pipeline.Options(
        dedupe=dedupe, strict=bool(strict), distribute=bool(distribute), strategy=strategy or None
    )


def find_duplicate(sha256):
    """The first live batch of the same file (processing, preview or committed);
    failed and undone ones, and ``processing`` ones whose process died, do not
    count. Read only: the upload's own check (:func:`imports.committing.claim_new`)
    also marks the dead ones failed."""
    return find_live_duplicate(sha256)


def _new_batch(*, name, info, actor, options, source):
    return ImportBatch(
        file_name=name[:255],
        sha256=info.sha256,
        created_by=actor if getattr(actor, "pk", None) else None,
        source=source,
        strategy=options.strategy or "",
        dedupe=options.dedupe,
        distribute=options.distribute,
        strict=options.strict,
    )


def _plan_distribution(outcome, options):
    """Fill a preview's per-agent counts from the planner without writing."""
    if not options.distribute or not outcome.created:
        return
    try:
        planned = preview_counts(
            n_leads=outcome.created,
            strategy=options.strategy,
            leads=outcome.matched or None,
            snapshot=options.routing,
        )
    except NoEligibleAgent as exc:
        outcome.message = f"{exc.message} The leads would be left unassigned."
        outcome.unassigned_count = outcome.created
        return
    outcome.assigned = planned.assigned
    outcome.unassigned_count = len(planned.unplaced_positions)
    outcome.per_agent.update(planned.per_agent)
    outcome.routing = list(planned.report or ())


def _accept(
    *,
    file,
    actor,
    file_name=None,
    strategy=None,
    dedupe=ImportBatch.Dedupe.SKIP,
    distribute=True,
    strict=False,
    source="api",
    force=False,
    size_limit=True,
    contents=True,
):
    """The checks of an upload before any work, and its new batch (unsaved) with
    the file stored; the options :func:`import_file` and :func:`queue_file` share.

    Refused at once: an unknown strategy or dedupe policy (400), a file over
    ``MAX_UPLOAD_SIZE`` unless ``size_limit`` is False (413, the command), a
    file that is not a lead list, and the same file (sha256) as a live batch
    (``duplicate_file``, 409, ``batch`` = the first one) unless ``force``.
    ``contents`` False leaves the costly checks of the rows to the worker.
    Returns ``(batch, info, options)``.
    """
    options = _options(strategy=strategy, dedupe=dedupe, distribute=distribute, strict=strict)
    file.seek(0, os.SEEK_END)  # measured before anything reads it: too big is not even hashed
    if size_limit:
        check_upload_size(file.tell())
    info = inspect(file, contents=contents)
    if not force and (first := find_duplicate(info.sha256)) is not None:
        # The plain case, refused before the file is stored; the claim checks
        # again under the same-file lock, which is what decides.
        raise duplicate_error(first)
    name = os.path.basename(file_name or getattr(file, "name", "") or "upload")
    options.source = name
    batch = _new_batch(name=name, info=info, actor=actor, options=options, source=source)
    # Stored before the claim, so a batch row never lacks its file (the purge
    # of failed batches' files finds every one).
    file.seek(0)
    batch.file.save(name, File(file, name=name), save=False)
    return batch, info, options


def import_file(*, file, actor, preview=False, force=False, now=None, **upload):
    """Import an uploaded lead list (binary file object, any supported type).

    ``upload`` are the options and refusals of :func:`_accept` (``file_name``,
    ``strategy``, ``dedupe``, ``distribute``, ``strict``, ``source``). The
    file is stored with its batch. ``preview`` parses, validates and
    deduplicates, plans the distribution and writes only the batch; otherwise
    the batch is committed at once.

    The batch is claimed (``processing``) before any of the work: it shows as
    a preview or committed only once its processing finished. Not one
    transaction on purpose: when the commit fails, its transaction leaves
    nothing, and the batch survives as ``failed`` to say why; a refused
    preview leaves nothing at all.
    """
    batch, info, options = _accept(file=file, actor=actor, force=force, **upload)
    try:
        claim = claim_new(batch, force=force)
    except BaseException:
        batch.file.delete(save=False)  # no batch row points at it
        raise
    with processing(claim):
        file.seek(0)
        table = open_table(file, info)
        return _read_claimed(
            claim, table=table, options=options, actor=actor, preview=preview, now=now
        )


def _read_claimed(claim, *, table, options, actor, preview, now=None, then=None):
    """Read a claimed new batch's ``table`` into a preview or a committed import."""
    progress = queueing.Reporter(claim.batch.pk, "reading", then=then)
    if preview:
        result = _preview(claim, table=table, options=options, now=now, progress=progress)
    else:
        outcome = commit_claimed(
            claim=claim, table=table, actor=actor, options=options, now=now, progress=progress
        )
        result = ImportResult(claim.batch, outcome)
    _finished(result.batch)
    return result


def _finished(batch):
    """The batch's final progress, written on its row; the live one is dropped."""
    rows = batch.rows
    batch.progress = queueing.progress_body("done", rows, rows)
    ImportBatch.objects.filter(pk=batch.pk).update(progress=batch.progress)
    queueing.forget(batch.pk)


def _preview(claim, *, table, options, now, progress=None):
    """Read the claimed batch's file into a preview (or a strict refusal).

    In a transaction that holds the batch row, like a commit (on SQLite that
    is what keeps it from being taken for dead; see ``imports.committing``).
    A refused preview leaves nothing: no batch row, no stored file (except
    for queued work, whose client polls the row: it reads ``failed``).
    """
    refusal = None
    try:
        with transaction.atomic():
            batch = claim.lock()
            outcome = pipeline.run(table, options=options, now=now, progress=progress)
            copy_counts(batch, outcome)
            if options.strict and outcome.invalid:
                batch.state = ImportBatch.State.FAILED
                refusal = strict_error(batch, outcome)
            else:
                _plan_distribution(outcome, options)
                copy_counts(batch, outcome)
                batch.state = ImportBatch.State.PREVIEW
            batch.save()
            if options.routing is not None and refusal is None:
                # The rules as they are now: the commit routes with these.
                record_batch_routing(batch=batch, snapshot=options.routing, report=outcome.routing)
    except BaseException:
        if claim.batch.queued_at is None:
            claim.discard()
        # else: queued work keeps its row, which the poller reads (failed, and why)
        raise
    if refusal is not None:
        raise refusal
    return ImportResult(batch, outcome)


def import_path(
    *,
    path,
    actor=None,
    strategy=None,
    dedupe=ImportBatch.Dedupe.SKIP,
    dry_run=False,
    distribute=True,
    strict=False,
    force=False,
    progress=None,
    now=None,
):
    """Import a file on disk (``manage.py import_leads``): streamed, no size limit.

    The file is not copied into storage. ``dry_run`` writes nothing at all
    (not even a batch) and returns the plan with ``batch`` None.
    """
    options = _options(strategy=strategy, dedupe=dedupe, distribute=distribute, strict=strict)
    options.source = os.path.basename(path)
    with open(path, "rb") as file:
        start_worker_server(os.fstat(file.fileno()).st_size)  # boots while the file is checked
        info = inspect(file)
        if dry_run:
            first = None if force else find_duplicate(info.sha256)
            if first is not None:
                raise duplicate_error(first)
            table = open_table(file, info)
            outcome = pipeline.run(table, options=options, now=now, progress=progress)
            if options.strict and outcome.invalid:
                raise strict_error(None, outcome)
            _plan_distribution(outcome, options)
            return ImportResult(None, outcome)
        batch = _new_batch(
            name=os.path.basename(path), info=info, actor=actor, options=options, source="command"
        )
        claim = claim_new(batch, force=force)
        with processing(claim):
            table = open_table(file, info)
            return _read_claimed(
                claim,
                table=table,
                options=options,
                actor=actor,
                preview=False,
                now=now,
                then=progress,
            )


def commit_batch(*, batch, actor, now=None):
    """Apply a preview batch: re-read its stored file and write it in one transaction.

    Raises ``batch_not_in_preview`` (409) for any other state, also while
    another request is committing it; such a refusal changes nothing. On
    failure nothing of the import is left and the batch is marked ``failed``.
    """
    if batch.state != ImportBatch.State.PROCESSING:
        # The caller's copy. No batch returns to preview; a ``processing`` one
        # may have died, which the claim finds out (and marks failed).
        require_preview(batch)
    if not batch.file:
        raise DomainError(f"Batch #{batch.pk} has no stored file.", code="file_missing")
    options = pipeline.Options(
        dedupe=batch.dedupe,
        strict=batch.strict,
        distribute=batch.distribute,
        strategy=batch.strategy or None,
        source=batch.file_name,
    )
    # The rules as they were at the preview (none stored: a preview from before
    # routing existed, which routes with the current rules).
    frozen = BatchRouting.objects.filter(batch_id=batch.pk).values_list("snapshot", flat=True)
    options.routing = frozen.first()
    claim = claim_preview(batch.pk)
    with processing(claim):
        outcome = _commit_stored(claim, options=options, actor=actor, now=now)
    return ImportResult(claim.batch, outcome)


def _options_of(batch):
    return pipeline.Options(
        dedupe=batch.dedupe,
        strict=batch.strict,
        distribute=batch.distribute,
        strategy=batch.strategy or None,
    )


def _open_stored(batch):
    if not batch.file:
        raise DomainError(f"Batch #{batch.pk} has no stored file.", code="file_missing")
    try:
        return batch.file.open("rb")
    except OSError as exc:
        raise DomainError(
            f"The stored file of batch #{batch.pk} is missing.", code="file_missing"
        ) from exc


def _commit_stored(claim, *, options, actor, now=None):
    """Commit a claimed preview from its stored file, with progress."""
    batch = claim.batch
    previewed = dict(batch.per_agent or {})
    progress = queueing.Reporter(batch.pk, "committing", rows_total=batch.rows or None)
    with _open_stored(batch) as file:
        table = open_table(file)
        outcome = commit_claimed(
            claim=claim, table=table, actor=actor, options=options, now=now, progress=progress
        )
    _note_plan_change(claim.batch, previewed)
    _finished(claim.batch)
    return outcome


# Agents whose counts moved, named in the note (the batch's per_agent has them all).
_PLAN_CHANGES_SHOWN = 10


def _note_plan_change(batch, previewed):
    """Say so in the committed ``batch`` when it was not assigned as its preview
    planned (``previewed``: the preview's per_agent): agents changed meanwhile
    (added, deactivated, away, at capacity) or the leads did (new duplicates)."""
    committed = batch.per_agent or {}
    if committed == previewed:
        return
    moved = [
        f"agent #{agent_id}: {previewed.get(agent_id, 0)} → {committed.get(agent_id, 0)}"
        for agent_id in sorted({*previewed, *committed}, key=int)
        if previewed.get(agent_id, 0) != committed.get(agent_id, 0)
    ]
    shown = ", ".join(moved[:_PLAN_CHANGES_SHOWN]) + (
        " …" if len(moved) > _PLAN_CHANGES_SHOWN else ""
    )
    note = (
        "Assigned differently from the preview: agents or leads changed since it "
        f"(previewed → committed: {shown})."
    )
    batch.message = f"{batch.message} {note}".strip()
    ImportBatch.objects.filter(pk=batch.pk).update(message=batch.message)
    logger.info("import batch %s: committed plan differs from its preview", batch.pk)


# --- Through the queue -------------------------------------------------------

Action = ImportBatch.Action


def wants_queue(size, *, respond_async=False):
    """Whether work on a file of ``size`` bytes goes to the workers: always when
    the client asked for it (``Prefer: respond-async``), else over
    ``IMPORT_INLINE_MAX_BYTES``. The one rule for uploads, commits and undos."""
    return bool(respond_async) or size > settings.IMPORT_INLINE_MAX_BYTES


def _stored_size(batch):
    try:
        return batch.file.size if batch.file else 0
    except (OSError, ValueError, NotImplementedError):
        return 0


def upload(*, file, actor, respond_async=False, request_id="", **options):
    """An upload as the API and the admin take it: processed inline (small file)
    or queued. Returns ``(result, queued)``; see :func:`import_file` and
    :func:`queue_file` for ``options`` and the refusals."""
    file.seek(0, os.SEEK_END)
    if wants_queue(file.tell(), respond_async=respond_async):
        batch = queue_file(file=file, actor=actor, request_id=request_id, **options)
        return ImportResult(batch), True
    return import_file(file=file, actor=actor, **options), False


def queue_file(*, file, actor, preview=False, force=False, request_id="", **upload):
    """Store an upload, create its batch ``queued`` and hand it to the workers.

    The options and the cheap checks are :func:`import_file`'s (see
    :func:`_accept`), done here before anything is stored, so such a file is
    refused at once: size, type, a zip bomb's directory, the same file twice.
    The worker checks the contents (cells, rows) before reading them, and a
    file over those limits ends ``failed`` with the message an inline upload
    gets (:func:`run_queued`). ``size_limit=False`` is the command's
    ``--queue`` (no upload limit).
    """
    batch, _info, _options = _accept(file=file, actor=actor, force=force, contents=False, **upload)
    action = Action.PREVIEW if preview else Action.IMPORT
    try:
        register_queued(batch, action=action, force=force, request_id=request_id)
    except BaseException:
        batch.file.delete(save=False)
        raise
    queueing.send(batch.pk, actor_id=getattr(actor, "pk", None), request_id=request_id)
    return batch


def request_commit(*, batch, actor, respond_async=False, request_id=""):
    """Commit a preview inline (:func:`commit_batch`) or queue it; ``(result, queued)``."""
    if not wants_queue(_stored_size(batch), respond_async=respond_async):
        return commit_batch(batch=batch, actor=actor), False
    queued = queue_existing(
        batch.pk, action=Action.COMMIT, expected=ImportBatch.State.PREVIEW, request_id=request_id
    )
    if queued is None:
        batch.refresh_from_db()
        require_preview(batch)
        raise Conflict(f"Batch #{batch.pk} changed meanwhile; try again.", code="batch_busy")
    queueing.send(batch.pk, actor_id=getattr(actor, "pk", None), request_id=request_id)
    return ImportResult(queued), True


def request_undo(*, batch, actor, respond_async=False, request_id=""):
    """Undo a committed import inline (:func:`undo_batch`) or queue it; ``(result, queued)``."""
    if not wants_queue(_stored_size(batch), respond_async=respond_async):
        return undo_batch(batch=batch, actor=actor), False
    queued = queue_existing(
        batch.pk, action=Action.UNDO, expected=ImportBatch.State.COMMITTED, request_id=request_id
    )
    if queued is None:
        batch.refresh_from_db()
        raise _not_committed(batch)
    queueing.send(batch.pk, actor_id=getattr(actor, "pk", None), request_id=request_id)
    return ImportResult(queued), True


def cancel_batch(*, batch, actor=None):
    """Cancel a batch's queued or running work; ``(batch, pending)``.

    Queued work is cancelled at once (a new import ends ``cancelled``, a
    commit leaves the preview, an undo the committed import) and ``pending``
    is False. Running work is asked to stop: it checks between chunks, rolls
    back all it wrote and moves the batch the same way; ``pending`` is True
    until then. Anything else is refused with ``batch_not_cancellable`` (409).
    """
    State = ImportBatch.State
    if batch.state == State.QUEUED:
        target = cancelled_state(batch.action)
        message = f"Cancelled by {actor or 'system'} before it started; nothing was written."
        if ImportBatch.objects.filter(pk=batch.pk, state=State.QUEUED).update(
            state=target, message=message, progress={}
        ):
            queueing.forget(batch.pk)
            logger.info("import batch %s cancelled while queued", batch.pk)
            batch.refresh_from_db()
            return batch, False
        batch.refresh_from_db()  # a worker claimed it meanwhile
    if batch.state == State.PROCESSING:
        queueing.request_cancel(batch.pk)
        logger.info("import batch %s: cancel requested", batch.pk)
        return batch, True
    raise Conflict(
        f"Batch #{batch.pk} is {batch.state}; only queued or running work can be cancelled.",
        code="batch_not_cancellable",
    )


def discard_preview(*, batch, actor):
    """Discard a preview: the batch ends ``cancelled`` and its stored file is deleted.

    Nothing of a preview was written but the batch, so nothing else changes;
    the same file may be uploaded again without ``force``. Anything but a
    preview (a commit queued or running included) is refused with
    ``batch_not_discardable`` (409), and so is the loser of a race with a commit.
    """
    name = batch.file.name
    with transaction.atomic():
        discarded = ImportBatch.objects.filter(pk=batch.pk, state=ImportBatch.State.PREVIEW).update(
            state=ImportBatch.State.CANCELLED,
            message=f"Preview discarded by {actor or 'system'}; nothing was written.",
            progress={},
            file="",
        )
        if discarded:
            audit.record(
                audit.Action.IMPORT_DISCARDED,
                actor=actor,
                target=f"batch:{batch.pk}",
                file_name=batch.file_name,
            )
    batch.refresh_from_db()
    if not discarded:
        raise Conflict(
            f"Batch #{batch.pk} is {batch.state}; only a preview can be discarded.",
            code="batch_not_discardable",
        )
    if name:
        batch.file.storage.delete(name)
    logger.info("import batch %s: preview discarded", batch.pk)
    return batch


def run_queued(*, batch_id, actor_id=None):
    """The worker's side (``imports.tasks.run_batch``): claim the batch and do its work.

    Idempotent: a batch that is finished, cancelled or held by a live worker
    is left alone (None). A batch whose worker died is taken over; its
    earlier work was rolled back with that worker's transaction.
    """
    claim = claim_queued(batch_id)
    if claim is None:
        logger.info("import batch %s: nothing to do", batch_id)
        return None
    batch = claim.batch
    actor = User.objects.filter(pk=actor_id).first() if actor_id else None
    options = _options_of(batch)
    logger.info("import batch %s: %s started (attempt %s)", batch_id, batch.action, batch.attempts)
    with processing(claim):
        if batch.action in (Action.IMPORT, Action.PREVIEW):
            with _open_stored(batch) as file:
                table = open_table(file)
                return _read_claimed(
                    claim,
                    table=table,
                    options=options,
                    actor=actor,
                    preview=batch.action == Action.PREVIEW,
                )
        if batch.action == Action.COMMIT:
            return ImportResult(claim.batch, _commit_stored(claim, options=options, actor=actor))
        if batch.action == Action.UNDO:
            with transaction.atomic():
                locked = claim.lock()
                progress = queueing.Reporter(batch_id, "undoing", rows_total=locked.created)
                result = _undo_locked(locked, actor=actor, progress=progress)
            queueing.forget(batch_id)
            return result
        raise DomainError(f"Batch #{batch_id} has no queued work ({batch.action!r}).")


@dataclass
class SweepResult:
    requeued: list = field(default_factory=list)  # died, queued again
    failed: list = field(default_factory=list)  # died, given up (or failed in-process)
    resent: list = field(default_factory=list)  # queued too long: message sent again


def sweep(*, now=None, dry_run=False):
    """Find the queue's lost work (the beat task, ``manage.py sweep_imports``).

    A ``processing`` batch whose worker died is queued again (while it has
    attempts left) or failed; a batch ``queued`` for longer than
    ``IMPORT_REQUEUE_AFTER_SECONDS`` has its message sent again (a lost
    message; a duplicate one finds nothing to do).
    """
    now = now or timezone.now()
    result = SweepResult()
    for batch_id in reap_dead_batches(dry_run=dry_run, requeue=True):
        state = ImportBatch.objects.filter(pk=batch_id).values_list("state", flat=True).first()
        (result.requeued if state == ImportBatch.State.QUEUED else result.failed).append(batch_id)
    stale = ImportBatch.objects.filter(
        state=ImportBatch.State.QUEUED,
        queued_at__lt=now - timedelta(seconds=settings.IMPORT_REQUEUE_AFTER_SECONDS),
    ).exclude(pk__in=result.requeued)
    for batch in stale.only("id", "request_id"):
        result.resent.append(batch.pk)
        if not dry_run:
            ImportBatch.objects.filter(pk=batch.pk, state=ImportBatch.State.QUEUED).update(
                queued_at=now
            )
            queueing.send(batch.pk, request_id=batch.request_id)
    return result


def _worked(lead_ids):
    """Leads an agent has touched: status moved on, follow-up set, or any own activity."""
    worked = set()
    for part in chunked(lead_ids):
        worked.update(
            Lead.objects.filter(pk__in=part)
            .exclude(status=LeadStatus.NEW, next_follow_up__isnull=True)
            .values_list("id", flat=True)
        )
        worked.update(
            LeadActivity.objects.filter(lead_id__in=part)
            .exclude(kind__in=[LeadActivity.Kind.CREATED, LeadActivity.Kind.ASSIGNED])
            .values_list("lead_id", flat=True)
        )
    return worked


def _not_committed(batch):
    return Conflict(
        f"Batch #{batch.pk} is {batch.state}; only a committed import can be undone.",
        code="batch_not_committed",
    )


@transaction.atomic
@counters.deferred
def undo_batch(*, batch, actor, now=None):
    """Remove a committed batch's leads with their assignments and activity.

    Leads an agent has already worked (status changed, follow-up set, notes
    or any other activity than created/assigned) are kept, still pointing at
    the batch, and listed in ``kept``. Leads the batch updated
    (``dedupe=update``) keep their new values. Raises ``batch_not_committed``.
    """
    batch = ImportBatch.objects.select_for_update().get(pk=batch.pk)
    if batch.state != ImportBatch.State.COMMITTED:
        raise _not_committed(batch)
    return _undo_locked(batch, actor=actor, now=now)


def _undo_locked(batch, *, actor, now=None, progress=None):
    """The undo of ``batch``, locked by the caller's transaction (see :func:`undo_batch`)."""
    now = now or timezone.now()
    lead_ids = list(
        Lead.objects.select_for_update()
        .filter(batch=batch)
        .order_by("id")
        .values_list("id", flat=True)
    )
    kept = sorted(_worked(lead_ids))
    keep = set(kept)
    doomed = [lead_id for lead_id in lead_ids if lead_id not in keep]
    done = 0
    for part in chunked(doomed):
        # Assignments and activity go with their leads (on_delete=CASCADE).
        counters.leads_deleted(part)
        Lead.objects.filter(pk__in=part).delete()
        done += len(part)
        if progress is not None:
            progress.rows(done)
    batch.state = ImportBatch.State.UNDONE
    batch.undone_at = now
    batch.message = f"Undone by {actor or 'system'}: {len(doomed)} leads removed" + (
        f"; {len(kept)} already worked and kept: {', '.join(map(str, kept[:50]))}"
        + (" …" if len(kept) > 50 else "")
        if kept
        else ""
    )
    rows = len(doomed)
    batch.progress = queueing.progress_body("done", rows, rows)
    batch.save(update_fields=["state", "undone_at", "message", "progress"])
    audit.record(
        audit.Action.IMPORT_UNDONE,
        actor=actor,
        target=f"batch:{batch.pk}",
        removed=len(doomed),
        kept=len(kept),
    )
    logger.info("import batch %s undone: %s removed, %s kept", batch.pk, len(doomed), len(kept))
    dataversion.bump()
    return ImportResult(batch, kept=kept, removed=len(doomed))


@dataclass
class PurgeResult:
    """What :func:`purge_failed_files` did (or, in a dry run, would do)."""

    cutoff: object
    reaped: list = field(default_factory=list)  # ids of batches found dead, marked failed
    removed: list = field(default_factory=list)  # (batch id, stored name, bytes or None)

    @property
    def bytes(self):
        return sum(size or 0 for _batch_id, _name, size in self.removed)


def purge_failed_files(*, days=None, dry_run=False, now=None):
    """Delete the stored files of failed batches uploaded more than ``days`` days ago.

    ``days`` defaults to ``IMPORT_FAILED_FILE_RETENTION_DAYS``. A failed
    upload's file is kept that long for looking into why it failed (zip bombs
    and other refused files included), then it only costs storage and backup
    space. The batch rows stay, with their counts and error reports, as the
    import history; only their ``file`` is emptied. Batches whose process
    died mid-import are marked ``failed`` first, so their files count too.
    ``dry_run`` deletes and marks nothing and reports what it would do.
    """
    days = settings.IMPORT_FAILED_FILE_RETENTION_DAYS if days is None else days
    if days < 0:
        raise DomainError(f"days must be 0 or more, not {days}.", code="validation_error")
    cutoff = (now or timezone.now()) - timedelta(days=days)
    result = PurgeResult(cutoff=cutoff, reaped=reap_dead_batches(dry_run=dry_run))
    failed = Q(state=ImportBatch.State.FAILED)
    if dry_run:
        # The dead batches are only marked failed by a real run; their files would go too.
        failed |= Q(pk__in=result.reaped)
    batches = (
        ImportBatch.objects.filter(failed, created_at__lt=cutoff)
        .exclude(file="")
        .only("id", "file")
        .order_by("id")
    )
    for batch in batches.iterator(chunk_size=500):
        name = batch.file.name
        storage = batch.file.storage
        try:
            size = storage.size(name)
        except (OSError, NotImplementedError):
            size = None  # already gone (or the storage cannot say)
        if not dry_run:
            storage.delete(name)  # a missing file is not an error here
            ImportBatch.objects.filter(pk=batch.pk, file=name).update(file="")
            logger.info("import batch %s: stored file %s deleted", batch.pk, name)
        result.removed.append((batch.pk, name, size))
    return result
