"""Distribute / redistribute / reassign over HTTP and from manage.py: roles, input, errors."""

import pytest
from django.core.management import CommandError, call_command

from agents.models import Agent
from assignments.models import Assignment, RotationState
from leads.models import ImportBatch, Lead

from .helpers import assert_assignment_invariants, open_counts

pytestmark = [pytest.mark.django_db]

DISTRIBUTE = "/api/v1/distribute/"
REASSIGN = "/api/v1/reassign/"


def redistribute_url(agent_id):
    return f"/api/v1/agents/{agent_id}/redistribute/"


@pytest.fixture
def as_manager(auth, manager):
    return auth(manager)


def error(response):
    body = response.json()
    assert set(body) == {"error"}
    return body["error"]


# --- roles ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("method", "url"),
    [("post", DISTRIBUTE), ("post", REASSIGN), ("post", redistribute_url(1))],
)
def test_agents_get_403_and_strangers_401(method, url, auth, agent, api_client):
    response = getattr(auth(agent), method)(url, {}, format="json")
    assert response.status_code == 403
    assert error(response)["code"] == "permission_denied"
    response = getattr(api_client, method)(url, {}, format="json")
    assert response.status_code == 401
    assert error(response)["code"] == "not_authenticated"
    assert not Assignment.objects.exists()


def test_admin_may_distribute(auth, admin_user, agent, make_leads):
    make_leads(2)
    response = auth(admin_user).post(DISTRIBUTE, {}, format="json")
    assert response.status_code == 200
    assert response.json()["assigned"] == 2
    assert Assignment.objects.get(lead=Lead.objects.first()).assigned_by == admin_user


# --- distribute ----------------------------------------------------------------------


def test_distribute_all_returns_counts_per_agent(as_manager, manager, make_agent, make_leads):
    agents = [make_agent() for _ in range(5)]
    make_leads(23)

    response = as_manager.post(DISTRIBUTE, {}, format="json")

    assert response.status_code == 200
    assert response.json() == {
        "assigned": 23,
        "unassigned": 0,
        "unassigned_ids": [],
        "skipped": 0,
        "per_agent": {str(a.pk): n for a, n in zip(agents, [5, 5, 5, 4, 4], strict=True)},
        "routing": [],  # no routing rules: nothing per rule
        "dry_run": False,
        "strategy": "round_robin",
    }
    assert set(Assignment.objects.values_list("assigned_by", flat=True)) == {manager.pk}
    assert_assignment_invariants()


def test_distribute_dry_run_writes_nothing(as_manager, agent, make_leads):
    make_leads(3)
    response = as_manager.post(DISTRIBUTE, {"dry_run": True}, format="json")
    assert response.status_code == 200
    assert response.json()["assigned"] == 3 and response.json()["dry_run"] is True
    assert not Assignment.objects.exists()
    assert not RotationState.objects.exclude(last_agent_id=None).exists()


def test_distribute_selected_ids_with_a_strategy(as_manager, make_agent, make_lead, make_leads):
    busy = make_agent()
    idle = make_agent()
    make_lead(agent=busy)
    make_lead(agent=busy)
    leads = make_leads(3)
    body = {"lead_ids": [leads[0].pk, leads[2].pk], "strategy": "balanced"}

    response = as_manager.post(DISTRIBUTE, body, format="json")

    assert response.status_code == 200
    assert response.json()["per_agent"] == {str(busy.pk): 0, str(idle.pk): 2}
    assert Lead.objects.get(pk=leads[1].pk).agent is None


def test_distribute_one_batch(as_manager, agent, make_leads):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="x")
    make_leads(2, batch=batch)
    make_leads(1)
    response = as_manager.post(DISTRIBUTE, {"batch": batch.pk}, format="json")
    assert response.json()["assigned"] == 2
    assert Lead.objects.filter(agent=None).count() == 1


def test_distribute_reports_what_fits_nowhere(as_manager, make_agent, make_leads):
    make_agent(capacity=1)
    leads = make_leads(3)
    response = as_manager.post(DISTRIBUTE, {}, format="json")
    assert response.status_code == 200
    body = response.json()
    assert (body["assigned"], body["unassigned"]) == (1, 2)
    assert body["unassigned_ids"] == [leads[1].pk, leads[2].pk]


def test_distribute_without_eligible_agents_is_409(as_manager, make_agent, make_leads):
    make_agent(accepts_leads=False)
    make_leads(1)
    response = as_manager.post(DISTRIBUTE, {}, format="json")
    assert response.status_code == 409
    assert error(response)["code"] == "no_eligible_agent"
    assert not Assignment.objects.exists()


def test_distribute_with_nothing_to_do_is_200(as_manager, agent):
    response = as_manager.post(DISTRIBUTE, {}, format="json")
    assert response.status_code == 200
    assert response.json()["assigned"] == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"lead_ids": "1,2"}, "lead_ids"),
        ({"lead_ids": ["1"]}, "lead_ids"),
        ({"lead_ids": [1.5]}, "lead_ids"),
        ({"lead_ids": [True]}, "lead_ids"),
        ({"lead_ids": [0]}, "lead_ids"),
        ({"lead_ids": []}, "lead_ids"),
        ({"lead_ids": list(range(1, 10_002))}, "lead_ids"),
        ({"strategy": "random"}, "strategy"),
        ({"batch": 987654}, "batch"),
        ({"batch": "1"}, "batch"),
        ({"dry_run": "perhaps"}, "dry_run"),
    ],
)
def test_distribute_bad_input_is_a_400_naming_the_field(as_manager, agent, body, field):
    response = as_manager.post(DISTRIBUTE, body, format="json")
    assert response.status_code == 400
    assert error(response)["code"] == "validation_error"
    assert field in error(response)["fields"]


def test_distribute_accepts_10000_ids(as_manager, agent, make_leads):
    leads = make_leads(3)
    ids = [lead.pk for lead in leads] + list(range(10**8, 10**8 + 9_997))
    response = as_manager.post(DISTRIBUTE, {"lead_ids": ids}, format="json")
    assert response.status_code == 200
    assert (response.json()["assigned"], response.json()["skipped"]) == (3, 9_997)


# --- redistribute --------------------------------------------------------------------


def test_redistribute_agent(as_manager, agent, other_agent, make_lead):
    for _ in range(2):
        make_lead(agent=agent)
    response = as_manager.post(redistribute_url(agent.pk), {}, format="json")
    assert response.status_code == 200
    assert response.json()["per_agent"] == {str(other_agent.pk): 2}
    assert open_counts() == {other_agent.pk: 2}
    assert_assignment_invariants()


def test_redistribute_unknown_agent_is_404_and_alone_is_409(as_manager, agent, make_lead):
    assert as_manager.post(redistribute_url(99999), {}, format="json").status_code == 404
    make_lead(agent=agent)
    response = as_manager.post(redistribute_url(agent.pk), {}, format="json")
    assert response.status_code == 409
    assert error(response)["code"] == "no_eligible_agent"
    assert Lead.objects.get().agent == agent


def test_redistribute_unknown_strategy_is_400(as_manager, agent):
    response = as_manager.post(redistribute_url(agent.pk), {"strategy": "x"}, format="json")
    assert response.status_code == 400
    assert "strategy" in error(response)["fields"]


# --- reassign ------------------------------------------------------------------------


def test_reassign_selected_leads(as_manager, manager, agent, other_agent, make_lead):
    leads = [make_lead(agent=other_agent) for _ in range(2)]
    body = {"lead_ids": [lead.pk for lead in leads], "agent": agent.pk}
    response = as_manager.post(REASSIGN, body, format="json")
    assert response.status_code == 200
    assert response.json()["assigned"] == 2
    assert response.json()["strategy"] == "manual"
    assert open_counts() == {agent.pk: 2}
    row = Assignment.objects.get(lead=leads[0], ended_at=None)
    assert (row.reason, row.assigned_by) == ("manual", manager)
    assert_assignment_invariants()


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"agent": 1}, "lead_ids"),
        ({"lead_ids": [1]}, "agent"),
        ({"lead_ids": [1], "agent": 424242}, "agent"),
        ({"lead_ids": [1], "agent": "1"}, "agent"),
        ({"lead_ids": [424242], "agent": None}, "agent"),
    ],
)
def test_reassign_bad_input_is_a_400_naming_the_field(as_manager, body, field):
    response = as_manager.post(REASSIGN, body, format="json")
    assert response.status_code == 400
    assert field in error(response)["fields"]


def test_reassign_unknown_leads_and_capacity(as_manager, make_agent, make_lead):
    small = make_agent(capacity=1)
    leads = [make_lead() for _ in range(2)]
    response = as_manager.post(REASSIGN, {"lead_ids": [424242], "agent": small.pk}, format="json")
    assert response.status_code == 400
    assert "lead_ids" in error(response)["fields"]
    body = {"lead_ids": [lead.pk for lead in leads], "agent": small.pk}
    response = as_manager.post(REASSIGN, body, format="json")
    assert response.status_code == 409
    assert error(response)["code"] == "over_capacity"
    assert not Assignment.objects.exists()


def test_reassign_to_deactivated_agent_is_400(as_manager, agent, make_lead):
    Agent.objects.filter(pk=agent.pk).update(is_active=False)
    lead = make_lead()
    response = as_manager.post(REASSIGN, {"lead_ids": [lead.pk], "agent": agent.pk}, format="json")
    assert response.status_code == 400
    assert error(response)["code"] == "agent_inactive"
    assert "agent" in error(response)["fields"]


# --- management commands ---------------------------------------------------------------


def test_distribute_command_prints_a_summary(capsys, make_agent, make_leads):
    agents = [make_agent() for _ in range(2)]
    make_leads(3)

    call_command("distribute", "--dry-run")
    out = capsys.readouterr().out
    assert "Would assign 3 leads (round_robin)." in out
    assert f"{agents[0].email}: 2" in out
    assert not Assignment.objects.exists()

    call_command("distribute", "--strategy", "balanced")
    out = capsys.readouterr().out
    assert "Assigned 3 leads (balanced)." in out
    assert open_counts() == {agents[0].pk: 2, agents[1].pk: 1}

    call_command("distribute")
    assert "Nothing to distribute" in capsys.readouterr().out


def test_distribute_command_batch_and_errors(capsys, make_agent, make_leads):
    with pytest.raises(CommandError, match="No import batch with id 5"):
        call_command("distribute", "--batch", "5")
    make_leads(1)
    with pytest.raises(CommandError, match="No agent is eligible"):
        call_command("distribute")
    with pytest.raises(CommandError, match="invalid choice"):
        call_command("distribute", "--strategy", "random")
    batch = ImportBatch.objects.create(file_name="c.csv", sha256="c")
    make_leads(2, batch=batch)
    make_agent()
    call_command("distribute", "--batch", str(batch.pk))
    assert "Assigned 2 leads" in capsys.readouterr().out
    assert Lead.objects.filter(agent=None).count() == 1


def test_redistribute_command(capsys, agent, other_agent, make_lead):
    make_lead(agent=agent)
    with pytest.raises(CommandError, match="No agent with email"):
        call_command("redistribute", "--agent", "nobody@example.com")
    call_command("redistribute", "--agent", agent.email.upper())
    out = capsys.readouterr().out
    assert "Assigned 1 leads" in out and f"{other_agent.email}: 1" in out
    assert open_counts() == {other_agent.pk: 1}
    call_command("redistribute", "--agent", agent.email)
    assert "nothing to move" in capsys.readouterr().out


def test_redistribute_command_alone_fails_unless_told_to_leave_unassigned(capsys, agent, make_lead):
    make_lead(agent=agent)
    with pytest.raises(CommandError, match="No other agent is eligible"):
        call_command("redistribute", "--agent", agent.email)
    assert Lead.objects.get().agent == agent
    call_command("redistribute", "--agent", agent.email, "--leave-unassigned")
    assert "stay unassigned" in capsys.readouterr().out
    assert Lead.objects.get().agent is None
    assert_assignment_invariants()
