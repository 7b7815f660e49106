"""Without a worker (the embedded default), an email the SMTP server did not take
is kept and sent again with backoff, against a real SMTP server that is down, then up.

Tasks run in-process with their errors propagating, as the settings run them
with no broker (``EMAIL_OUTBOX`` on). The server is aiosmtpd on loopback
(``test_smtp_delivery``'s); "down" is its port with nothing listening.
"""

import email
import email.policy
import io
from datetime import timedelta

import pytest
from aiosmtpd.controller import Controller
from django.core.management import call_command
from django.utils import timezone

from accounts import mail
from accounts.models import PendingEmail
from accounts.tests.test_smtp_delivery import Recorder, _free_port, _use_smtp
from imports.services import import_file
from leads.models import Lead

pytestmark = pytest.mark.django_db


@pytest.fixture
def smtp(settings):
    """An SMTP server on a loopback port that starts down: ``smtp.up()`` starts it."""
    settings.EMAIL_OUTBOX = True
    port = _free_port()
    _use_smtp(settings, port)

    class Smtp:
        recorder = Recorder()
        controller = None

        def up(self):
            self.controller = Controller(self.recorder, hostname="127.0.0.1", port=port)
            self.controller.start()

    server = Smtp()
    yield server
    if server.controller is not None:
        server.controller.stop()
    mail._kept_here.clear()


def _import(manager, settings, tmp_path, django_capture_on_commit_callbacks, rows=5):
    settings.MEDIA_ROOT = tmp_path
    data = b"FirstName,Phone\n" + b"".join(b"P%d,98%08d\n" % (n, n) for n in range(rows))
    with django_capture_on_commit_callbacks(execute=True):
        return import_file(file=io.BytesIO(data), file_name="leads.csv", actor=manager)


def test_an_import_while_smtp_is_down_keeps_its_email_and_sends_it_once_when_up(
    smtp, make_agent, manager, settings, tmp_path, django_capture_on_commit_callbacks
):
    agent = make_agent(email="asha@example.com")
    before = timezone.now()
    result = _import(manager, settings, tmp_path, django_capture_on_commit_callbacks)
    assert result.batch.state == "committed"
    assert Lead.objects.filter(batch=result.batch, agent=agent).count() == 5

    kept = PendingEmail.objects.get()
    assert (kept.task, kept.args, kept.attempts) == (
        "agents.tasks.send_assignment_email",
        [agent.pk, 5],
        1,
    )
    assert "ConnectionRefusedError" in kept.last_error
    # The first retry waits 0..30 s (full jitter), as a worker's would.
    assert before <= kept.next_attempt_at <= timezone.now() + timedelta(seconds=30)

    # Not due yet: nothing is tried.
    early = mail.send_pending(now=kept.next_attempt_at - timedelta(seconds=1))
    assert (early.sent, early.retried, early.waiting) == (0, 0, 1)
    # Due, still down: tried, kept, the next wait up to twice as long.
    again = mail.send_pending(now=kept.next_attempt_at)
    assert (again.sent, again.retried) == (0, 1)
    second = PendingEmail.objects.get()
    assert second.attempts == 2
    assert kept.next_attempt_at <= second.next_attempt_at
    assert second.next_attempt_at <= kept.next_attempt_at + timedelta(seconds=60)

    smtp.up()
    done = mail.send_pending(now=second.next_attempt_at)
    assert (done.sent, done.retried, done.given_up, done.waiting) == (1, 0, 0, 0)
    assert not PendingEmail.objects.exists()
    ((_sender, recipients, raw),) = smtp.recorder.messages
    assert recipients == ["asha@example.com"]
    message = email.message_from_bytes(raw, policy=email.policy.default)
    assert "5" in message.get_body(("plain",)).get_content()
    # Sent once: a later pass finds nothing.
    assert mail.send_pending(now=second.next_attempt_at + timedelta(days=1)).sent == 0
    assert len(smtp.recorder.messages) == 1


def test_the_next_request_of_the_process_sends_a_due_email(
    smtp, make_user, api_client, django_capture_on_commit_callbacks
):
    make_user(email="asha@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password-reset/", {"email": "asha@example.com"})
    assert response.status_code == 202
    assert PendingEmail.objects.get().task == "accounts.tasks.send_password_reset"
    smtp.up()
    PendingEmail.objects.update(next_attempt_at=timezone.now() - timedelta(seconds=1))
    mail._last_look = 0.0

    assert api_client.get("/healthz").status_code == 200
    assert not PendingEmail.objects.exists()
    ((_sender, recipients, _raw),) = smtp.recorder.messages
    assert recipients == ["asha@example.com"]


def test_the_command_sends_due_emails(smtp, make_agent, capsys):
    agent = make_agent(email="asha@example.com")
    PendingEmail.objects.create(
        task="agents.tasks.send_assignment_email",
        args=[agent.pk, 2],
        next_attempt_at=timezone.now(),
    )
    smtp.up()
    call_command("send_pending_emails")
    assert "sent 1, failed again 0, given up 0, waiting 0" in capsys.readouterr().out
    assert len(smtp.recorder.messages) == 1


def test_an_email_is_given_up_after_the_retries_and_logged(smtp, make_agent, settings, caplog):
    settings.EMAIL_MAX_RETRIES = 2
    agent = make_agent(email="asha@example.com")
    PendingEmail.objects.create(
        task="agents.tasks.send_assignment_email",
        args=[agent.pk, 2],
        next_attempt_at=timezone.now(),
    )
    later = timezone.now() + timedelta(days=1)
    outcomes = [mail.send_pending(now=later + timedelta(hours=n)) for n in range(3)]
    # The first attempt and two retries, as a worker with EMAIL_MAX_RETRIES=2.
    assert [(r.retried, r.given_up) for r in outcomes] == [(1, 0), (0, 1), (0, 0)]
    assert not PendingEmail.objects.exists()
    assert "given up after 3 attempts" in caplog.text


def test_a_refused_recipient_is_not_kept(smtp, make_agent, manager, caplog):
    smtp.up()
    smtp.recorder.refused_recipients.add("gone@example.com")
    agent = make_agent(email="gone@example.com")
    mail.queue(mail.current_app.tasks["agents.tasks.send_assignment_email"], agent.pk, 1)
    assert not PendingEmail.objects.exists()
    assert "could not be queued or run" in caplog.text
    assert smtp.recorder.messages == []
