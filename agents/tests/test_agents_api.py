import pytest
from rest_framework.test import APIClient

from accounts.audit import Action
from accounts.models import AuditLog, Role, User
from agents.models import Agent

pytestmark = pytest.mark.django_db
URL = "/api/v1/agents/"


def payload(**over):
    data = {
        "name": "Priya Shah",
        "email": "Priya@Example.com",
        "mobile": "098765 43210",
        "password": "a-long-enough-passphrase",
        "weight": 2,
        "capacity": 30,
    }
    data.update(over)
    return data


def test_manager_creates_agent_with_login_user(auth, manager):
    response = auth(manager).post(URL, payload(), format="json")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["email"] == "priya@example.com"
    assert body["mobile"] == "+919876543210"
    assert body["open_leads"] == 0
    agent = Agent.objects.get(pk=body["id"])
    assert agent.user.role == Role.AGENT
    assert agent.user.email == "priya@example.com"
    assert agent.user.check_password("a-long-enough-passphrase")


def test_agent_login_works_after_create(auth, manager):
    auth(manager).post(URL, payload(), format="json")
    login = APIClient().post(
        "/api/v1/auth/token/",
        {"email": "priya@example.com", "password": "a-long-enough-passphrase"},
        format="json",
    )
    assert login.status_code == 200


@pytest.mark.parametrize("mobile", ["12345", "+1 555", "not a phone", "", "+91 98765 4321099999"])
def test_invalid_mobile_is_400_naming_the_field(auth, manager, mobile):
    response = auth(manager).post(URL, payload(mobile=mobile), format="json")
    assert response.status_code == 400
    assert "mobile" in response.json()["error"]["fields"]
    assert not Agent.objects.exists()
    assert not User.objects.filter(email="priya@example.com").exists()


@pytest.mark.parametrize(
    ("raw", "e164"),
    [
        ("+91 98765-43210", "+919876543210"),
        ("9876543210", "+919876543210"),
        ("(+44) 20 7946 0958", "+442079460958"),
        ("+1 (415) 555-2671", "+14155552671"),
    ],
)
def test_mobile_stored_as_e164(auth, manager, raw, e164):
    response = auth(manager).post(URL, payload(mobile=raw), format="json")
    assert response.status_code == 201, response.json()
    assert Agent.objects.get().mobile == e164


def test_email_taken_is_400_and_nothing_created(auth, manager, agent):
    response = auth(manager).post(URL, payload(email="ASHA@example.com"), format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]
    assert Agent.objects.count() == 1
    # A manager's own login email is taken too.
    response = auth(manager).post(URL, payload(email="manager@example.com"), format="json")
    assert response.status_code == 400


def test_weak_password_is_rejected(auth, manager):
    response = auth(manager).post(URL, payload(password="123"), format="json")
    assert response.status_code == 400
    assert "password" in response.json()["error"]["fields"]


@pytest.mark.parametrize(
    "bad",
    [{"weight": 0}, {"weight": "heavy"}, {"capacity": -1}, {"name": ""}, {"email": "nope"}],
)
def test_wrong_types_are_400(auth, manager, bad):
    response = auth(manager).post(URL, payload(**bad), format="json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


def test_update_agent_and_email_follows_to_user(auth, manager, agent):
    response = auth(manager).patch(
        f"{URL}{agent.pk}/",
        {"email": "asha.new@example.com", "weight": 3, "mobile": "+91 91234 56789"},
        format="json",
    )
    assert response.status_code == 200, response.json()
    agent.refresh_from_db()
    assert agent.weight == 3
    assert agent.mobile == "+919123456789"
    assert agent.user.email == "asha.new@example.com"


def test_delete_deactivates_and_keeps_history(auth, manager, agent, make_lead):
    lead = make_lead(agent=agent, status="converted")
    response = auth(manager).delete(f"{URL}{agent.pk}/")
    assert response.status_code == 204
    agent.refresh_from_db()
    assert not agent.is_active
    assert not agent.user.is_active
    lead.refresh_from_db()
    assert lead.agent_id == agent.pk  # closed leads keep their owner
    assert agent.assignments.count() == 1
    listed = auth(manager).get(f"{URL}{agent.pk}/").json()
    assert listed["is_active"] is False


def test_list_has_open_counts_without_n_plus_one(
    auth, manager, make_agent, make_lead, django_assert_num_queries
):
    agents = [make_agent() for _ in range(4)]
    for i, a in enumerate(agents):
        for _ in range(i):
            make_lead(agent=a)
        make_lead(agent=a, status="lost")
    client = auth(manager)
    # auth user + count + page
    with django_assert_num_queries(3):
        response = client.get(URL)
    assert response.status_code == 200
    counts = {row["id"]: row["open_leads"] for row in response.json()["results"]}
    assert counts == {a.pk: i for i, a in enumerate(agents)}


def test_agents_cannot_manage_agents(auth, agent, other_agent):
    client = auth(agent)
    assert client.get(URL).status_code == 403
    assert client.get(f"{URL}{other_agent.pk}/").status_code == 403
    assert client.post(URL, payload(), format="json").status_code == 403
    assert client.delete(f"{URL}{other_agent.pk}/").status_code == 403


def test_each_write_leaves_one_audit_entry_naming_the_manager(auth, manager):
    client = auth(manager)
    created = client.post(URL, payload(), format="json").json()
    target = f"agent:{created['id']}"
    assert client.patch(f"{URL}{created['id']}/", {"weight": 5}, format="json").status_code == 200
    response = client.put(f"{URL}{created['id']}/", {"name": "Priya S."}, format="json")
    assert response.status_code == 200
    entries = list(AuditLog.objects.order_by("id"))
    assert [(e.action, e.actor, e.target) for e in entries] == [
        (Action.AGENT_CREATED, manager, target),
        (Action.AGENT_UPDATED, manager, target),
        (Action.AGENT_UPDATED, manager, target),
    ]
    assert entries[0].data == {"email": "priya@example.com"}
    assert entries[1].data == {"changed": {"weight": 5}}
    assert entries[2].data == {"changed": {"name": "Priya S."}}
    assert "a-long-enough-passphrase" not in str(list(AuditLog.objects.values()))


def test_a_refused_write_leaves_no_audit_entry(auth, manager, agent):
    response = auth(manager).patch(f"{URL}{agent.pk}/", {"mobile": "12"}, format="json")
    assert response.status_code == 400
    assert not AuditLog.objects.filter(action=Action.AGENT_UPDATED).exists()
