from datetime import timedelta

from django.contrib.messages import get_messages
from django.utils import timezone

from accounts.audit import Action
from accounts.models import AuditLog
from agents.models import Agent
from assignments.models import Assignment, Reason
from leads.models import Lead

CHANGELIST = "/admin/agents/agent/"


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _act(console, action, agents, **extra):
    data = {"action": action, "_selected_action": [a.pk for a in agents], **extra}
    return console.post(CHANGELIST, data, follow=True)


def test_changelist_shows_columns_and_open_counts_without_n_plus_1(
    console, make_agent, make_lead, django_assert_max_num_queries
):
    agents = [make_agent() for _ in range(5)]
    for agent in agents:
        make_lead(agent=agent)
        make_lead(agent=agent)
    with django_assert_max_num_queries(12):
        response = console.get(CHANGELIST)
    assert response.status_code == 200
    rows = response.context["cl"].result_list
    assert {row.open_leads for row in rows} == {2}
    body = response.content.decode()
    headers = ["Name", "Email", "Mobile", "Accepts leads", "Away until", "Capacity", "Open leads"]
    assert all(header in body for header in headers)


def test_search_and_availability_filter(console, make_agent):
    away = make_agent(name="Zed Away", away_until=timezone.now() + timedelta(days=1))
    here = make_agent(name="Yan Here")
    assert list(console.get(CHANGELIST, {"q": "Zed"}).context["cl"].result_list) == [away]
    assert list(console.get(CHANGELIST, {"away": "yes"}).context["cl"].result_list) == [away]
    assert here in console.get(CHANGELIST, {"away": "no"}).context["cl"].result_list


def test_add_agent_goes_through_the_service(console, manager):
    response = console.post(
        "/admin/agents/agent/add/",
        {
            "name": "Nina New",
            "email": "Nina@Example.com",
            "mobile": "098100 00077",
            "accepts_leads": "on",
            "weight": "2",
            "capacity": "",
            "password": "",
        },
    )
    assert response.status_code == 302, response.context["adminform"].form.errors
    agent = Agent.objects.get(name="Nina New")
    assert agent.email == "nina@example.com"
    assert agent.mobile == "+919810000077"
    assert agent.user.email == "nina@example.com"
    assert not agent.user.has_usable_password()
    entry = AuditLog.objects.get(action=Action.AGENT_CREATED, target=f"agent:{agent.pk}")
    assert entry.actor == manager


def test_add_agent_refuses_a_bad_mobile(console):
    response = console.post(
        "/admin/agents/agent/add/",
        {"name": "Bad", "email": "bad@example.com", "mobile": "12", "weight": "1"},
    )
    assert response.status_code == 200
    assert "mobile" in response.context["adminform"].form.errors
    assert not Agent.objects.filter(email="bad@example.com").exists()


def test_deactivate_and_redistribute_moves_open_leads(console, agent, other_agent, make_lead):
    leads = [make_lead(agent=agent) for _ in range(3)]
    response = _act(console, "deactivate_and_redistribute", [agent])
    assert "3 leads moved to other agents" in " ".join(_messages(response))
    agent.refresh_from_db()
    assert not agent.is_active and not agent.user.is_active
    assert Lead.objects.filter(pk__in=[lead.pk for lead in leads], agent=other_agent).count() == 3
    assert Assignment.objects.filter(agent=other_agent, reason=Reason.REDISTRIBUTE).count() == 3


def test_activate(console, manager, agent):
    _act(console, "deactivate_and_redistribute", [agent])
    response = _act(console, "activate", [agent])
    assert "Activated: Asha Agent." in _messages(response)
    agent.refresh_from_db()
    assert agent.is_active and agent.user.is_active
    entry = AuditLog.objects.get(action=Action.AGENT_ACTIVATED)
    assert (entry.actor, entry.target) == (manager, f"agent:{agent.pk}")


def test_mark_away_shows_a_form_then_applies_it(console, manager, agent, other_agent):
    page = _act(console, "mark_away", [agent, other_agent])
    assert page.status_code == 200
    assert b'name="away_until"' in page.content
    assert b'name="apply"' in page.content
    response = _act(console, "mark_away", [agent], apply="1", away_until="2030-01-02T09:30")
    assert "1 agent(s) marked away until 2030-01-02 09:30." in _messages(response)
    agent.refresh_from_db()
    other_agent.refresh_from_db()
    assert agent.away_until.year == 2030
    assert other_agent.away_until is None
    entry = AuditLog.objects.get(action=Action.AGENT_UPDATED)
    assert (entry.actor, entry.target) == (manager, f"agent:{agent.pk}")
    assert list(entry.data["changed"]) == ["away_until"]


def test_redistribute_action_reports_a_domain_error(console, agent, make_lead):
    make_lead(agent=agent)
    response = _act(console, "redistribute_leads", [agent])  # nobody else to take them
    assert response.status_code == 200
    assert any("No other agent is eligible" in m for m in _messages(response))
    assert Lead.objects.filter(agent=agent).count() == 1


def test_redistribute_action_moves_leads(console, agent, other_agent, make_lead):
    make_lead(agent=agent)
    make_lead(agent=agent)
    response = _act(console, "redistribute_leads", [agent])
    assert "Asha Agent: 2 open leads moved to other agents, 0 left unassigned." in _messages(
        response
    )
    assert Lead.objects.filter(agent=other_agent).count() == 2


def test_agents_cannot_be_deleted_from_the_console(client, admin_user, agent):
    client.force_login(admin_user)
    assert client.get(f"/admin/agents/agent/{agent.pk}/delete/").status_code == 403
