"""Managers above their station: nobody changes a user whose role outranks theirs.

The attack: an admin who also has an agent profile. A manager could
``PATCH /api/v1/agents/{id}/`` that profile's email (the email follows to the
login, so the attacker then signs in as the admin with a reset of their own)
or ``DELETE`` it (the admin is deactivated). Every path (API, the agents
admin's change form and actions, the services the commands call) now refuses
with ``permission_denied``; desk settings (weight, capacity, availability)
stay a manager's to set.
"""

import pytest
from django.contrib.messages import get_messages
from rest_framework.test import APIClient

from accounts.audit import Action
from accounts.models import AuditLog, Role, User
from agents import services
from agents.models import Agent
from assignments.services import agent_deactivate
from common.errors import DomainError

pytestmark = pytest.mark.django_db
URL = "/api/v1/agents/"
CHANGELIST = "/admin/agents/agent/"
ATTACKER = "mallory@attacker.example"


def _promote(agent, role):
    user = agent.user
    user.role = role
    user.save()
    return Agent.objects.select_related("user").get(pk=agent.pk)


@pytest.fixture
def admin_agent(make_agent):
    """An admin who also works leads (has an agent profile)."""
    return _promote(make_agent(name="Ada Admin", email="ada@example.com"), Role.ADMIN)


@pytest.fixture
def manager_agent(make_agent):
    return _promote(make_agent(name="Max Manager", email="max@example.com"), Role.MANAGER)


def _assert_refused(response):
    assert response.status_code == 403, response.content
    error = response.json()["error"]
    assert error["code"] == "permission_denied"
    assert error["message"]
    assert error["fields"] == {}


def _assert_untouched(agent, *, email="ada@example.com", active=True):
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    assert (agent.email, agent.user.email) == (email, email)
    assert (agent.is_active, agent.user.is_active) == (active, active)
    assert agent.user.role == Role.ADMIN
    assert not User.objects.filter(email=ATTACKER).exists()


def _login(email, password):
    return APIClient().post(
        "/api/v1/auth/token/", {"email": email, "password": password}, format="json"
    )


# --- API ---------------------------------------------------------------------------


def test_manager_cannot_take_over_an_admins_login_by_its_agent_email(
    auth, manager, admin_agent, password
):
    response = auth(manager).patch(f"{URL}{admin_agent.pk}/", {"email": ATTACKER}, format="json")
    _assert_refused(response)
    _assert_untouched(admin_agent)
    assert not AuditLog.objects.filter(action=Action.AGENT_UPDATED).exists()
    # The admin still signs in as themself; the attacker's address is nobody.
    assert _login("ada@example.com", password).status_code == 200
    assert _login(ATTACKER, password).status_code == 401


@pytest.mark.parametrize(
    "changes",
    [
        {"email": ATTACKER},
        {"name": "Not Ada"},
        {"mobile": "+91 91234 56789"},
        {"email": ATTACKER, "weight": 3},  # a permitted field does not carry a refused one
    ],
)
@pytest.mark.parametrize("method", ["patch", "put"])
def test_manager_cannot_change_an_admins_identity(auth, manager, admin_agent, changes, method):
    response = getattr(auth(manager), method)(f"{URL}{admin_agent.pk}/", changes, format="json")
    _assert_refused(response)
    agent = Agent.objects.get(pk=admin_agent.pk)
    assert (agent.name, agent.mobile, agent.weight) == (
        admin_agent.name,
        admin_agent.mobile,
        admin_agent.weight,
    )
    _assert_untouched(admin_agent)


def test_manager_cannot_deactivate_an_admin(auth, manager, admin_agent, make_lead):
    lead = make_lead(agent=admin_agent)
    stamp = admin_agent.user.tokens_valid_after
    _assert_refused(auth(manager).delete(f"{URL}{admin_agent.pk}/"))
    _assert_untouched(admin_agent)
    lead.refresh_from_db()
    assert lead.agent_id == admin_agent.pk
    assert User.objects.get(pk=admin_agent.user_id).tokens_valid_after == stamp
    assert not AuditLog.objects.filter(action=Action.AGENT_DEACTIVATED).exists()


def test_manager_still_sets_an_admins_desk_settings(auth, manager, admin_agent):
    response = auth(manager).patch(
        f"{URL}{admin_agent.pk}/",
        {"weight": 4, "capacity": 9, "accepts_leads": False, "away_until": None},
        format="json",
    )
    assert response.status_code == 200, response.json()
    agent = Agent.objects.get(pk=admin_agent.pk)
    assert (agent.weight, agent.capacity, agent.accepts_leads) == (4, 9, False)
    _assert_untouched(admin_agent)


def test_an_admin_may_change_an_admin(auth, admin_user, admin_agent):
    client = auth(admin_user)
    response = client.patch(f"{URL}{admin_agent.pk}/", {"email": "ada2@example.com"}, format="json")
    assert response.status_code == 200, response.json()
    assert User.objects.get(pk=admin_agent.user_id).email == "ada2@example.com"
    assert client.delete(f"{URL}{admin_agent.pk}/").status_code == 204
    assert not User.objects.get(pk=admin_agent.user_id).is_active


def test_managers_keep_managing_agents_and_their_peers(auth, manager, agent, manager_agent):
    client = auth(manager)
    for target in (agent, manager_agent):
        email = f"new.{target.pk}@example.com"
        response = client.patch(f"{URL}{target.pk}/", {"email": email}, format="json")
        assert response.status_code == 200, response.json()
        assert User.objects.get(pk=target.user_id).email == email
        assert client.delete(f"{URL}{target.pk}/").status_code == 204


# --- Admin console -------------------------------------------------------------------


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _act(console, action, agents, **extra):
    data = {"action": action, "_selected_action": [a.pk for a in agents], **extra}
    return console.post(CHANGELIST, data, follow=True)


def _change_form(agent, **over):
    data = {
        "name": agent.name,
        "email": agent.email,
        "mobile": agent.mobile,
        "accepts_leads": "on",
        "weight": str(agent.weight),
        "capacity": "",
        "away_until": "",
    }
    data.update(over)
    return data


@pytest.mark.parametrize("over", [{"email": ATTACKER}, {"name": "Not Ada"}])
def test_console_change_form_refuses_a_manager_editing_an_admin(console, admin_agent, over):
    response = console.post(
        f"{CHANGELIST}{admin_agent.pk}/change/", _change_form(admin_agent, **over), follow=True
    )
    assert response.status_code == 200
    assert any("role is above yours" in m for m in _messages(response)), _messages(response)
    assert Agent.objects.get(pk=admin_agent.pk).name == "Ada Admin"
    _assert_untouched(admin_agent)


def test_console_actions_refuse_a_manager_deactivating_an_admin(console, admin_agent, agent):
    response = _act(console, "deactivate_and_redistribute", [admin_agent, agent])
    messages = _messages(response)
    assert any("role is above yours" in m for m in messages), messages
    _assert_untouched(admin_agent)
    # The rest of the selection is still handled.
    assert not Agent.objects.get(pk=agent.pk).is_active


def test_console_actions_refuse_a_manager_activating_an_admin(
    console, admin_user, admin_agent, agent
):
    agent_deactivate(agent=admin_agent, actor=admin_user)
    agent_deactivate(agent=agent, actor=admin_user)
    response = _act(console, "activate", [admin_agent, agent])
    messages = _messages(response)
    assert any("role is above yours" in m for m in messages), messages
    assert "Activated: Asha Agent." in messages
    _assert_untouched(admin_agent, active=False)
    assert not AuditLog.objects.filter(
        action=Action.AGENT_ACTIVATED, target__endswith=str(admin_agent.pk)
    ).exists()


def test_console_mark_away_is_still_a_managers_call(console, admin_agent):
    response = _act(console, "mark_away", [admin_agent], apply="1", away_until="2030-01-02T09:30")
    assert "1 agent(s) marked away until 2030-01-02 09:30." in _messages(response)
    assert Agent.objects.get(pk=admin_agent.pk).away_until.year == 2030


# --- Services (what the commands call) -----------------------------------------------


def _refusal(call):
    with pytest.raises(DomainError) as caught:
        call()
    assert (caught.value.status, caught.value.code) == (403, "permission_denied")


def test_services_refuse_a_lower_role_and_accept_the_system(manager, admin_agent):
    _refusal(lambda: services.agent_update(agent=admin_agent, actor=manager, email=ATTACKER))
    _refusal(lambda: agent_deactivate(agent=admin_agent, actor=manager))
    _assert_untouched(admin_agent)
    # actor=None is the system (management commands, the demo seed): not limited.
    agent_deactivate(agent=admin_agent, actor=None)
    _assert_untouched(admin_agent, active=False)
    _refusal(lambda: services.agent_activate(agent=admin_agent, actor=manager))
    _assert_untouched(admin_agent, active=False)
    services.agent_activate(agent=admin_agent, actor=None)
    services.agent_update(agent=admin_agent, actor=None, email="ADA.NEW@example.com")
    assert User.objects.get(pk=admin_agent.user_id).email == "ada.new@example.com"


def test_the_role_is_read_under_the_lock_not_from_the_callers_copy(manager, agent):
    stale = Agent.objects.select_related("user").get(pk=agent.pk)  # still an agent here
    _promote(agent, Role.ADMIN)
    _refusal(lambda: services.agent_update(agent=stale, actor=manager, email=ATTACKER))
    _refusal(lambda: agent_deactivate(agent=stale, actor=manager))
    assert User.objects.get(pk=agent.user_id).email == "asha@example.com"
