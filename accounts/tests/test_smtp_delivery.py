"""Emails over real SMTP: an aiosmtpd server on loopback, busy, refusing, or down.

Tasks run in-process (``CELERY_TASK_ALWAYS_EAGER`` in pytest.ini), here
without propagating their errors and without the in-process outbox, as a
worker runs them: a retry is run again at once instead of after its
countdown, and Celery's ``task_retry`` signal tells each retry and the
countdown a worker would have waited. The embedded mode's own retries (the
outbox): ``test_email_outbox``.
"""

import email
import email.policy
import socket
from contextlib import closing
from smtplib import SMTPRecipientsRefused

import pytest
from aiosmtpd.controller import Controller
from celery.signals import task_retry

from accounts.tasks import send_password_reset
from agents.models import Agent
from agents.tasks import send_assignment_email
from assignments import services
from config.celery import app as celery_app
from leads.models import Lead

pytestmark = pytest.mark.django_db

# The ports this suite may use for SMTP (two test processes run side by side).
PORTS = range(8125, 8136)


class Recorder:
    """An aiosmtpd handler that keeps what it accepts and can answer 4xx/5xx."""

    def __init__(self):
        self.messages = []
        self.attempts = 0
        self.busy_answers = 0  # this many DATA commands get "451 try later"
        self.refused_recipients = set()

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        if address in self.refused_recipients:
            return "550 5.1.1 No such user here"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        self.attempts += 1
        if self.busy_answers:
            self.busy_answers -= 1
            return "451 4.3.0 Busy, try again later"
        self.messages.append(
            (envelope.mail_from, list(envelope.rcpt_tos), bytes(envelope.original_content))
        )
        return "250 Message accepted"


def _free_port():
    for port in PORTS:
        with closing(socket.socket(socket.AF_INET, socket.SOCK_STREAM)) as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    pytest.fail(f"no free SMTP test port in {PORTS}")


def _use_smtp(settings, port):
    settings.EMAIL_BACKEND = "django.core.mail.backends.smtp.EmailBackend"
    settings.EMAIL_HOST = "127.0.0.1"
    settings.EMAIL_PORT = port
    settings.EMAIL_USE_TLS = settings.EMAIL_USE_SSL = False
    settings.EMAIL_HOST_USER = settings.EMAIL_HOST_PASSWORD = ""
    settings.EMAIL_TIMEOUT = 5
    settings.DEFAULT_FROM_EMAIL = "Leadline <noreply@leadline.test>"


@pytest.fixture(autouse=True)
def _retry_in_process(settings):
    settings.EMAIL_OUTBOX = False
    propagates = celery_app.conf.task_eager_propagates
    celery_app.conf.task_eager_propagates = False
    yield
    celery_app.conf.task_eager_propagates = propagates


@pytest.fixture
def smtp_server(settings):
    recorder = Recorder()
    for _attempt in range(5):
        port = _free_port()
        controller = Controller(recorder, hostname="127.0.0.1", port=port)
        try:
            controller.start()
        except (OSError, RuntimeError):  # taken between the probe and the start
            controller.stop(no_assert=True)
            continue
        break
    else:
        pytest.fail("could not start the SMTP server")
    _use_smtp(settings, port)
    yield recorder
    controller.stop()


@pytest.fixture
def smtp_down(settings):
    """SMTP settings pointing at a loopback port where nothing listens."""
    _use_smtp(settings, _free_port())


@pytest.fixture
def retries():
    """The retries scheduled while the test runs: (task name, countdown in seconds)."""
    seen = []

    def record(sender=None, reason=None, **kwargs):
        seen.append((sender.name, reason.when))

    task_retry.connect(record, weak=False)
    yield seen
    task_retry.disconnect(record)


def _parse(raw):
    return email.message_from_bytes(raw, policy=email.policy.default)


def test_a_reset_email_arrives_at_a_real_smtp_server(
    smtp_server, make_user, api_client, django_capture_on_commit_callbacks
):
    make_user(email="asha@example.com")
    with django_capture_on_commit_callbacks(execute=True):
        response = api_client.post("/api/v1/auth/password-reset/", {"email": "asha@example.com"})
    assert response.status_code == 202
    ((sender, recipients, raw),) = smtp_server.messages
    assert sender == "noreply@leadline.test"
    assert recipients == ["asha@example.com"]
    message = _parse(raw)
    assert message["To"] == "asha@example.com"
    assert message["Subject"] == "[Leadline] Set a new Leadline password"
    assert message["Auto-Submitted"] == "auto-generated"
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "/set-password?uid=" in text and "/set-password?uid=" in html


def test_a_busy_server_is_retried_with_backoff_until_it_takes_the_email(
    smtp_server, make_agent, retries
):
    agent = make_agent(email="asha@example.com")
    smtp_server.busy_answers = 2
    assert send_assignment_email.delay(agent.pk, 3).get() is True
    assert smtp_server.attempts == 3
    assert [recipients for _, recipients, _ in smtp_server.messages] == [["asha@example.com"]]
    assert [name for name, _ in retries] == ["agents.tasks.send_assignment_email"] * 2
    # Exponential backoff with full jitter: the n-th retry waits 0..30*2^n s.
    for n, (_name, countdown) in enumerate(retries):
        assert 0 <= countdown <= 30 * 2**n


def test_a_down_server_is_retried_and_the_distribution_still_stands(
    smtp_down, make_agent, make_lead, manager, retries, django_capture_on_commit_callbacks
):
    agents = [make_agent() for _ in range(2)]
    leads = [make_lead() for _ in range(4)]
    with django_capture_on_commit_callbacks(execute=True):
        result = services.distribute(actor=manager)
    assert result.assigned == 4
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], agent__in=agents).count() == 4
    # Each agent's email was retried up to the limit, its waits growing.
    limit = send_assignment_email.max_retries
    assert limit >= 3
    assert len(retries) == 2 * limit
    for n, (name, countdown) in enumerate(retries[:limit]):
        assert name == "agents.tasks.send_assignment_email"
        assert 0 <= countdown <= min(30 * 2**n, send_assignment_email.retry_backoff_max)


def test_an_import_commits_while_the_smtp_server_is_down(
    smtp_down, make_agent, manager, retries, django_capture_on_commit_callbacks, settings, tmp_path
):
    import io

    from imports.services import import_file

    settings.MEDIA_ROOT = tmp_path
    make_agent()
    data = b"FirstName,Phone\n" + b"".join(b"P%d,98%08d\n" % (n, n) for n in range(5))
    with django_capture_on_commit_callbacks(execute=True):
        result = import_file(file=io.BytesIO(data), file_name="leads.csv", actor=manager)
    assert result.batch.state == "committed"
    assert Lead.objects.filter(batch=result.batch, agent__isnull=False).count() == 5
    assert retries, "the email was retried"


def test_a_refused_recipient_is_not_retried(smtp_server, make_agent, retries):
    agent = make_agent(email="gone@example.com")
    smtp_server.refused_recipients.add("gone@example.com")
    with pytest.raises(SMTPRecipientsRefused):
        send_assignment_email.delay(agent.pk, 1).get()
    assert retries == []
    assert smtp_server.messages == []


def test_an_internationalized_domain_is_sent_as_punycode(smtp_server, make_user):
    make_user(email="asha@bücher.example")
    assert send_password_reset.delay("asha@bücher.example").get() is True
    ((_sender, recipients, raw),) = smtp_server.messages
    assert recipients == ["asha@xn--bcher-kva.example"]
    assert _parse(raw)["To"] == "asha@xn--bcher-kva.example"


@pytest.mark.parametrize(
    "address",
    [
        "asha@example.com\nBcc: evil@example.com",
        "asha@example.com\r\nBcc: evil@example.com",
        "asha@example.com, evil@example.com",
        "Evil <evil@example.com>",
        "ásha@example.com",
        "asha@exa mple.com",
    ],
)
def test_header_injection_and_bad_addresses_never_reach_the_server(
    smtp_server, make_agent, address, retries
):
    agent = make_agent(email="asha@example.com")
    Agent.objects.filter(pk=agent.pk).update(email=address)
    assert send_assignment_email.delay(agent.pk, 2).get() is False
    assert smtp_server.attempts == 0 and smtp_server.messages == []
    assert retries == []
