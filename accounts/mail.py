"""Sending Leadline's emails: templates, safe recipients, and the queue.

Every email is a text part and an HTML part rendered from
``templates/emails/<name>.txt`` / ``.html`` (the subject from
``<name>_subject.txt``), sent by a Celery task (``accounts.tasks``,
``agents.tasks``) that ``enqueue`` hands over after the writing transaction
commits: a rolled-back write sends nothing, and a request never waits on SMTP.

Addresses are checked again right before sending (``deliverable``): what the
database holds went through ``common.emails`` once, but a row written by a
migration, a shell or a restore did not, and a recipient with a line break
("a@b.c\\nBcc: x@y") or a non-ASCII local part (SMTPUTF8, which not every
relay speaks; a non-ASCII domain is fine, sent as punycode) is skipped and
logged rather than sent.
"""

import functools
import logging
from smtplib import SMTPException, SMTPRecipientsRefused

from celery import shared_task
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.mail import EmailMultiAlternatives
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string

logger = logging.getLogger("leadline.mail")

# What a task retries (the server is down, busy or answers 4xx) and what it
# does not: a recipient the server refuses will be refused again.
RETRY_ON = (SMTPException, OSError)
DO_NOT_RETRY = (SMTPRecipientsRefused,)

# Marks automatic mail (RFC 3834) so auto-responders do not answer it.
_HEADERS = {"Auto-Submitted": "auto-generated"}


def email_task(fn):
    """A Celery task that sends email: SMTP failures retried with exponential backoff.

    About 30 s, 1, 2, 4 ... minutes between attempts (full jitter, capped at
    ``EMAIL_RETRY_MAX_DELAY``), at most ``EMAIL_MAX_RETRIES`` retries; then
    the failure is logged by the worker. Late-acknowledged like every task
    (settings), so a worker lost mid-send sends again: at least once.
    """
    return shared_task(
        autoretry_for=RETRY_ON,
        dont_autoretry_for=DO_NOT_RETRY,
        retry_backoff=30,
        retry_backoff_max=settings.EMAIL_RETRY_MAX_DELAY,
        retry_jitter=True,
        max_retries=settings.EMAIL_MAX_RETRIES,
    )(fn)


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
    this process, and an email it could not send is logged the same way
    (there is no worker to retry it later).
    """
    try:
        task.delay(*args)
    except Exception:
        logger.exception("email task %s could not be queued or run; not sent", task.name)


def enqueue(task, *args):
    """``queue(task, *args)`` once the current transaction commits (at once outside one)."""
    transaction.on_commit(functools.partial(queue, task, *args))
