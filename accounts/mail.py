"""Sending Leadline's emails: templates, safe recipients, and the queue.

Every email is a text part and an HTML part rendered from
``templates/emails/<name>.txt`` / ``.html`` (the subject from
``<name>_subject.txt``), sent by a Celery task (``accounts.tasks``,
``agents.tasks``) that ``enqueue`` hands over after the writing transaction
commits: a rolled-back write sends nothing, and a request never waits on SMTP.

Without a worker (tasks run in-process: the embedded default) an email the
SMTP server did not take is kept in the database (``PendingEmail``) and sent
again with the workers' backoff by :func:`send_pending`: after a later request
of the process that kept it, and from ``manage.py send_pending_emails`` (cron).

Addresses are checked again right before sending (``deliverable``): what the
database holds went through ``common.emails`` once, but a row written by a
migration, a shell or a restore did not, and a recipient with a line break
("a@b.c\\nBcc: x@y") or a non-ASCII local part (SMTPUTF8, which not every
relay speaks; a non-ASCII domain is fine, sent as punycode) is skipped and
logged rather than sent.
"""

import functools
import logging
import threading
import time
from dataclasses import dataclass
from datetime import timedelta
from smtplib import SMTPException, SMTPRecipientsRefused

from celery import current_app, shared_task
from celery.utils.time import get_exponential_backoff_interval
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone

from .models import PendingEmail

logger = logging.getLogger("leadline.mail")

# What a task retries (the server is down, busy or answers 4xx) and what it
# does not: a recipient the server refuses will be refused again.
RETRY_ON = (SMTPException, OSError)
DO_NOT_RETRY = (SMTPRecipientsRefused,)

# Marks automatic mail (RFC 3834) so auto-responders do not answer it.
_HEADERS = {"Auto-Submitted": "auto-generated"}


BACKOFF_FACTOR = 30
# How long a pass of send_pending holds a kept email (another pass skips it);
# a process that dies mid-send leaves it to be tried again after this.
_SENDING_LEASE = timedelta(minutes=10)
# A process that kept an email looks for due ones after a request at most this often.
_LOOK_EVERY = 5.0

# The email tasks' functions by task name, for send_pending.
_SENDERS = {}


def email_task(fn):
    """A Celery task that sends email: SMTP failures retried with exponential backoff.

    On a worker: about 30 s, 1, 2, 4 ... minutes between attempts (full
    jitter, capped at ``EMAIL_RETRY_MAX_DELAY``), at most
    ``EMAIL_MAX_RETRIES`` retries; then the failure is logged by the worker.
    Late-acknowledged like every task (settings), so a worker lost mid-send
    sends again: at least once. In-process (``EMAIL_OUTBOX``) the same
    failure keeps the email for :func:`send_pending`, with the same backoff.
    """
    name = f"{fn.__module__}.{fn.__name__}"
    _SENDERS[name] = fn

    @functools.wraps(fn)
    def run(*args):
        if not settings.EMAIL_OUTBOX:
            return fn(*args)
        try:
            return fn(*args)
        except DO_NOT_RETRY:
            raise
        except RETRY_ON as exc:
            keep(name, args, exc)
            return False

    return shared_task(
        autoretry_for=RETRY_ON,
        dont_autoretry_for=DO_NOT_RETRY,
        retry_backoff=BACKOFF_FACTOR,
        retry_backoff_max=settings.EMAIL_RETRY_MAX_DELAY,
        retry_jitter=True,
        max_retries=settings.EMAIL_MAX_RETRIES,
    )(run)


def deliverable(address):
    """Whether ``address`` is one recipient Leadline may send to (see module doc)."""
    if not isinstance(address, str) or not address or address != address.strip():
        return False
    if any(ch in address for ch in "\r\n\0,;<>\"'"):
        return False
    # An internationalized domain is sent as punycode; a local part cannot be.
    if not address.rpartition("@")[0].isascii():
        return False
    try:
        validate_email(address)
    except ValidationError:
        return False
    return True


def send(template, *, to, context):
    """Render ``template`` and send it to the single address ``to``.

    Returns False (and logs) when ``to`` is not ``deliverable``; SMTP errors
    propagate, for the task to retry.
    """
    if not deliverable(to):
        logger.warning("email %s not sent: undeliverable recipient %r", template, to)
        return False
    context = {"site_url": settings.SITE_URL, **context}
    subject = render_to_string(f"emails/{template}_subject.txt", context)
    # One line, however the template or a name in it is written.
    subject = " ".join(subject.split())
    message = EmailMultiAlternatives(
        subject=settings.EMAIL_SUBJECT_PREFIX + subject,
        body=render_to_string(f"emails/{template}.txt", context),
        to=[to],
        headers=_HEADERS,
    )
    message.attach_alternative(render_to_string(f"emails/{template}.html", context), "text/html")
    message.send()
    logger.info("email %s sent", template, extra={"email_template": template})
    return True


def queue(task, *args):
    """Hand ``task(*args)`` to the workers now; a failure is logged, never raised.

    The write that wanted the email has committed and stays done whether or
    not the broker takes the message. Without a broker the task runs here, in
    this process; an email the SMTP server did not take is kept and sent
    again later (:func:`send_pending`), any other failure is logged.
    """
    try:
        task.delay(*args)
    except Exception:
        logger.exception("email task %s could not be queued or run; not sent", task.name)


def enqueue(task, *args):
    """``queue(task, *args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(queue, task, *args))


# --- In-process retries (no worker) --------------------------------------------

_kept_here = threading.Event()  # this process kept an email that may still wait
_last_look = 0.0


def _retry_at(now, retries):
    """When the retry after ``retries`` earlier ones is due: a worker's countdown."""
    countdown = get_exponential_backoff_interval(
        factor=BACKOFF_FACTOR,
        retries=retries,
        maximum=settings.EMAIL_RETRY_MAX_DELAY,
        full_jitter=True,
    )
    return now + timedelta(seconds=countdown)


def _error_text(exc):
    return f"{type(exc).__name__}: {exc}"[:255]


def keep(task_name, args, exc, *, now=None):
    """Keep the email ``task_name(*args)`` that failed with ``exc``, to send again."""
    now = now or timezone.now()
    pending = PendingEmail.objects.create(
        task=task_name,
        args=list(args),
        next_attempt_at=_retry_at(now, 0),
        last_error=_error_text(exc),
    )
    _kept_here.set()
    logger.warning(
        "email task %s not sent (%s); kept, next attempt at %s",
        task_name,
        pending.last_error,
        pending.next_attempt_at.isoformat(),
    )
    return pending


@dataclass
class PendingResult:
    sent: int = 0
    retried: int = 0  # failed again, kept for a later attempt
    given_up: int = 0
    waiting: int = 0  # kept emails not yet due, and those left for another pass


def send_pending(*, now=None):
    """Send again the kept emails whose time has come (see the module docstring).

    Each is claimed first (its time moved on by a lease), so passes running at
    once in several threads or processes never send one twice. One that fails
    again waits longer (``EMAIL_RETRY_MAX_DELAY`` at most) and is given up,
    logged, after ``EMAIL_MAX_RETRIES`` retries, as a worker would; a refused
    recipient is given up at once.
    """
    now = now or timezone.now()
    result = PendingResult()
    due = PendingEmail.objects.filter(next_attempt_at__lte=now).order_by("next_attempt_at", "pk")
    for pending in due[:100]:
        claimed = PendingEmail.objects.filter(
            pk=pending.pk, next_attempt_at=pending.next_attempt_at
        ).update(next_attempt_at=now + _SENDING_LEASE)
        if not claimed:
            continue
        _send_kept(pending, now, result)
    result.waiting = PendingEmail.objects.count()
    if not result.waiting:
        _kept_here.clear()
    return result


def _send_kept(pending, now, result):
    if pending.task not in _SENDERS:
        # A process that never imported the task's module (the cron command).
        current_app.autodiscover_tasks(force=True)
    sender = _SENDERS.get(pending.task)
    try:
        if sender is None:
            raise LookupError(f"no email task {pending.task!r}")
        sender(*pending.args)
    except RETRY_ON as exc:
        # ``attempts`` so far, the first (the task's own) included: retries done.
        if not isinstance(exc, DO_NOT_RETRY) and pending.attempts < settings.EMAIL_MAX_RETRIES:
            pending.next_attempt_at = _retry_at(now, pending.attempts)
            pending.attempts += 1
            pending.last_error = _error_text(exc)
            pending.save(update_fields=["next_attempt_at", "attempts", "last_error"])
            result.retried += 1
            return
        _give_up(pending, exc, result)
    except Exception as exc:
        _give_up(pending, exc, result)
    else:
        pending.delete()
        result.sent += 1
        logger.info("kept email task %s sent (attempt %s)", pending.task, pending.attempts + 1)


def _give_up(pending, exc, result):
    pending.delete()
    result.given_up += 1
    logger.error(
        "email task %s%s given up after %s attempts: %s",
        pending.task,
        tuple(pending.args),
        pending.attempts + 1,
        _error_text(exc),
    )


def send_pending_after_request(**kwargs):
    """``request_finished``: a process that kept an email sends the due ones,
    at most every few seconds, after its response has gone out. A process
    that kept nothing does nothing (not even a query)."""
    global _last_look
    if not (settings.EMAIL_OUTBOX and _kept_here.is_set()):
        return
    if time.monotonic() - _last_look < _LOOK_EVERY:
        return
    _last_look = time.monotonic()
    try:
        send_pending()
    except Exception:  # the response is gone; the next request or the command tries again
        logger.exception("kept emails could not be sent")
