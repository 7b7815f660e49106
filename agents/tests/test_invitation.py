"""Inviting a new agent: the email, its one-time link, a new invitation."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.contrib.messages import get_messages
from django.db import transaction
from django.utils import timezone

from accounts.audit import Action
from accounts.models import AuditLog, User
from agents.models import Agent
from agents.services import agent_create
from agents.tasks import send_invitation

pytestmark = pytest.mark.django_db

CONFIRM = "/api/v1/auth/password-reset/confirm/"
NEW = {"name": "Nina New", "email": "Nina@Example.com", "mobile": "+919810000077"}


def _link_query(message):
    (url,) = set(re.findall(r"https?://\S+/set-password\?\S+", message.body))
    return {key: values[0] for key, values in parse_qs(urlsplit(url).query).items()}


def _create(auth, manager, capture, **extra):
    with capture(execute=True):
        return auth(manager).post("/api/v1/agents/", {**NEW, **extra}, format="json")


def test_an_agent_created_without_password_is_invited(
    auth, manager, api_client, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://desk.example.com"
    response = _create(auth, manager, django_capture_on_commit_callbacks)
    assert response.status_code == 201
    (message,) = mailoutbox
    assert message.to == ["nina@example.com"]
    assert message.subject == "[Leadline] You are invited to Leadline"
    assert "Hello Nina New" in message.body and "7 days" in message.body
    assert "https://desk.example.com/set-password?uid=" in message.body
    html, _mime = message.alternatives[0]
    assert "Set my password" in html
    entry = AuditLog.objects.get(action=Action.AGENT_INVITED)
    assert entry.actor == manager and entry.target == f"agent:{response.json()['id']}"

    query = _link_query(message)
    done = api_client.post(CONFIRM, {**query, "password": "nina-chooses-a-passphrase"})
    assert done.status_code == 200 and done.json() == {"email": "nina@example.com"}
    login = api_client.post(
        "/api/v1/auth/token/",
        {"email": "nina@example.com", "password": "nina-chooses-a-passphrase"},
    )
    assert login.status_code == 200
    # Single use: the link signed the unusable password that is now gone.
    again = api_client.post(CONFIRM, {**query, "password": "someone-else-tries-this"})
    assert again.status_code == 400 and "token" in again.json()["error"]["fields"]


def test_an_agent_created_with_a_password_gets_no_invitation(
    auth, manager, mailoutbox, django_capture_on_commit_callbacks
):
    response = _create(
        auth, manager, django_capture_on_commit_callbacks, password="set-by-the-manager-42"
    )
    assert response.status_code == 201
    assert mailoutbox == []
    assert User.objects.get(email="nina@example.com").check_password("set-by-the-manager-42")


def test_a_refused_create_sends_nothing(
    auth, manager, agent, mailoutbox, django_capture_on_commit_callbacks
):
    response = _create(auth, manager, django_capture_on_commit_callbacks, email=agent.email)
    assert response.status_code == 400
    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        agent_create(name="Rolled Back", email="rb@example.com", mobile="+919810000078")
        raise RuntimeError("the transaction fails after the create")
    assert mailoutbox == []


def test_the_admin_add_page_invites_too(console, mailoutbox, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post(
            "/admin/agents/agent/add/",
            {**NEW, "accepts_leads": "on", "notify_assignments": "on", "weight": "1"},
        )
    assert response.status_code == 302
    assert [m.to for m in mailoutbox] == [["nina@example.com"]]
    assert Agent.objects.get(email="nina@example.com").notify_assignments is True


def test_the_invitation_link_expires(
    auth, manager, api_client, mailoutbox, django_capture_on_commit_callbacks, settings,
    monkeypatch,
):  # fmt: skip
    settings.INVITATION_TIMEOUT = 2 * 24 * 3600
    _create(auth, manager, django_capture_on_commit_callbacks)
    assert "2 days" in mailoutbox[0].body
    later = timezone.now().replace(tzinfo=None) + timedelta(days=2, seconds=1)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = api_client.post(
        CONFIRM, {**_link_query(mailoutbox[0]), "password": "nina-chooses-a-passphrase"}
    )
    assert response.status_code == 400 and "token" in response.json()["error"]["fields"]


def test_a_new_invitation_on_request(
    auth, manager, make_agent, mailoutbox, django_capture_on_commit_callbacks
):
    invited = make_agent(email="late@example.com", password=None)
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = auth(manager).post(f"/api/v1/agents/{invited.pk}/invite/")
    assert response.status_code == 202
    assert [m.to for m in mailoutbox] == [["late@example.com"]]

    has_password = make_agent(email="set@example.com")
    refused = auth(manager).post(f"/api/v1/agents/{has_password.pk}/invite/")
    assert refused.status_code == 409
    assert refused.json()["error"]["code"] == "password_already_set"
    assert auth(has_password).post(f"/api/v1/agents/{invited.pk}/invite/").status_code == 403


def test_the_admin_action_sends_a_new_invitation(
    console, make_agent, mailoutbox, django_capture_on_commit_callbacks
):
    invited = make_agent(name="Late Larry", email="late@example.com", password=None)
    with_password = make_agent(name="Set Sam")
    mailoutbox.clear()
    with django_capture_on_commit_callbacks(execute=True):
        response = console.post(
            "/admin/agents/agent/",
            {"action": "send_invitation", "_selected_action": [invited.pk, with_password.pk]},
            follow=True,
        )
    messages = " ".join(str(m) for m in get_messages(response.wsgi_request))
    assert "Invitation sent to: Late Larry." in messages
    assert "Set Sam has already set a password" in messages
    assert [m.to for m in mailoutbox] == [["late@example.com"]]


def test_no_invitation_once_the_password_is_set_or_the_agent_is_gone(make_agent, mailoutbox):
    invited = make_agent(password=None)
    mailoutbox.clear()
    invited.user.set_password("set-meanwhile-by-an-admin")
    invited.user.save()
    assert send_invitation.delay(invited.pk).get() is False
    assert send_invitation.delay(10**9).get() is False
    assert mailoutbox == []


@pytest.mark.parametrize(
    "address",
    [
        "nina@example.com\nBcc: evil@example.com",
        "nina@example.com\r\nSubject: hi",
        "ñina@example.com",
    ],
)
def test_an_undeliverable_address_is_skipped_not_sent(make_agent, mailoutbox, address):
    # A row that bypassed the model's checks (a migration, a shell, a restore).
    invited = make_agent(password=None)
    mailoutbox.clear()
    User.objects.filter(pk=invited.user_id).update(email=address)
    assert send_invitation.delay(invited.pk).get() is False
    assert mailoutbox == []
