"""Committing an import: all of its leads in one transaction, or none and a ``failed`` batch.

The batch row is locked and must still be a ``preview``; the distribution's
rotation lock is taken before any lead is written; the pipeline writes every
chunk; the counts, the audit entry, the metrics and the data version follow in
the same transaction. When anything fails, the transaction leaves nothing and
the batch is marked ``failed`` with the reason, outside it.
"""

import logging

from django.db import transaction
from django.utils import timezone

from accounts import audit
from assignments.planning import lock_for_distribution
from common import dataversion
from common.errors import Conflict, DomainError
from leads.models import ImportBatch

from . import metrics, pipeline
from .errors import InvalidRows, strict_error

logger = logging.getLogger(__name__)


def require_preview(batch):
    """Only a preview batch can be committed (``batch_not_in_preview``, 409)."""
    if batch.state != ImportBatch.State.PREVIEW:
        raise Conflict(
            f"Batch #{batch.pk} is {batch.state}; only a preview can be committed.",
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
    if outcome.errors_truncated:
        notes.append(f"The error report lists the first {len(outcome.errors)} errors.")
    batch.message = " ".join(notes)


def commit_or_fail(*, batch, table, actor, options, now=None, progress=None):
    """Commit ``batch`` from ``table``; return the outcome, ``batch`` refreshed.

    On any error the batch is marked ``failed`` (with the counts of a strict
    refusal) and the error is raised again.
    """
    try:
        outcome = _commit(
            batch_id=batch.pk, table=table, actor=actor, options=options, now=now, progress=progress
        )
    except Exception as exc:
        # The commit's transaction has rolled back; record why, outside it.
        outcome = getattr(exc, "outcome", None)
        fields = {"state": ImportBatch.State.FAILED, "message": _failure_message(exc)}
        if isinstance(exc, InvalidRows) and outcome is not None:
            fields.update(rows=outcome.rows, invalid=outcome.invalid, errors=outcome.errors)
        ImportBatch.objects.filter(pk=batch.pk).update(**fields)
        logger.warning("import batch %s failed: %s", batch.pk, fields["message"])
        raise
    batch.refresh_from_db()
    return outcome


def _failure_message(exc):
    if isinstance(exc, DomainError):
        return exc.message
    return f"The import failed and nothing was written ({type(exc).__name__})."


@transaction.atomic
def _commit(*, batch_id, table, actor, options, now=None, progress=None):
    now = now or timezone.now()
    batch = ImportBatch.objects.select_for_update().get(pk=batch_id)
    require_preview(batch)
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
    batch.state = ImportBatch.State.COMMITTED
    batch.committed_at = now
    batch.save()
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
