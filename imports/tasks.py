"""Celery tasks of the imports: a batch's queued work, and the sweep of lost work.

Late acknowledgement (``acks_late``, ``reject_on_worker_lost``, settings):
a worker killed mid-import never acks, so its message comes back. The task is
idempotent: :func:`imports.services.run_queued` claims the batch first and
does nothing for a batch that is finished or held by a live worker, and a
dead worker's transaction left nothing behind. The broker redelivers only
after its visibility timeout (``CELERY_VISIBILITY_TIMEOUT``, two hours), and
the next claim takes the dead worker's batch over; the sweep (beat, every
``IMPORT_SWEEP_SECONDS``, and once when a worker starts) requeues it at once.
"""

import logging

from celery import shared_task
from celery.signals import worker_ready, worker_shutting_down
from django.conf import settings

from common.errors import DomainError
from common.logging import request_id_var
from imports import queueing, services

logger = logging.getLogger(__name__)


@shared_task(name="imports.run_batch", bind=True, acks_late=True, reject_on_worker_lost=True)
def run_batch(self, *, batch_id, actor_id=None, request_id=None):
    """Claim import batch ``batch_id`` and do its queued work (import, preview,
    commit or undo); the batch row says how it went."""
    token = request_id_var.set(request_id or "-")
    extra = {"batch_id": batch_id}
    # Redis marks a message it hands out again after the visibility timeout.
    again = " (redelivered)" if (self.request.delivery_info or {}).get("redelivered") else ""
    logger.info("import batch %s: task received%s", batch_id, again, extra=extra)
    try:
        result = services.run_queued(batch_id=batch_id, actor_id=actor_id)
    except DomainError as exc:
        # A refusal (a bad file, a cancel, a lost race): the batch says why.
        logger.info("import batch %s ended: %s (%s)", batch_id, exc.message, exc.code, extra=extra)
    else:
        state = result.batch.state if result is not None else "nothing to do"
        logger.info("import batch %s: task done (%s)", batch_id, state, extra=extra)
    finally:
        request_id_var.reset(token)


@shared_task(name="imports.sweep", acks_late=True)
def sweep():
    """Requeue or fail batches whose worker died; resend lost messages."""
    result = services.sweep()
    if result.requeued or result.failed or result.resent:
        logger.warning(
            "import sweep: requeued %s, failed %s, resent %s",
            result.requeued,
            result.failed,
            result.resent,
        )
    return {"requeued": result.requeued, "failed": result.failed, "resent": result.resent}


@worker_ready.connect
def _sweep_on_start(sender=None, **kwargs):
    """A new worker (often the replacement of a killed one) looks for lost work
    first, unless the sweep is off (``IMPORT_SWEEP_SECONDS`` 0)."""
    if not settings.IMPORT_SWEEP_SECONDS:
        return
    try:
        sweep.delay()
    except Exception:  # the broker's own retry logs it; the beat sweep comes anyway
        logger.exception("import sweep at worker start could not be queued")


@worker_shutting_down.connect
def _stop_between_chunks(**kwargs):
    """Warm shutdown (SIGTERM): a running import stops at its next chunk, rolls
    back and is queued again, so the pod ends within its grace period."""
    queueing.stop_between_chunks()
