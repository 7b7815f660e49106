"""The assignment digest: one email per agent per import or distribution."""

import io
import re
from collections import Counter

import pytest
from django.db import transaction

from agents.models import Agent
from assignments import services
from assignments.models import Assignment
from imports.services import import_file
from leads.models import Lead

pytestmark = pytest.mark.django_db


def _digests(mailoutbox):
    """{recipient: count} from the digest emails sent, failing on a second email to anyone."""
    found = {}
    for message in mailoutbox:
        (to,) = message.to
        assert to not in found, f"two digests to {to}"
        match = re.search(r"(\d+) new leads? (?:has|have) been assigned to you", message.body)
        assert match, message.body
        found[to] = int(match.group(1))
    return found


def _owned():
    return Counter(Lead.objects.filter(agent__isnull=False).values_list("agent__email", flat=True))


@pytest.fixture
def agents(make_agent):
    return [make_agent() for _ in range(3)]


def test_a_distribution_sends_each_agent_one_email_with_their_count(
    auth, manager, agents, make_lead, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://desk.example.com"
    for _ in range(23):
        make_lead()
    with django_capture_on_commit_callbacks(execute=True):
        response = auth(manager).post("/api/v1/distribute/", {}, format="json")
    assert response.status_code == 200
    expected = {a.email: n for a, n in zip(agents, (8, 8, 7), strict=True)}
    assert _digests(mailoutbox) == _owned() == expected
    message = mailoutbox[0]
    assert message.subject == "[Leadline] 8 new leads assigned to you"
    assert "https://desk.example.com/leads" in message.body
    html, mime = message.alternatives[0]
    assert mime == "text/html" and 'href="https://desk.example.com/leads"' in html


def test_an_import_sends_one_email_per_agent_however_many_chunks(
    manager, agents, mailoutbox, django_capture_on_commit_callbacks, settings, tmp_path
):
    settings.MEDIA_ROOT = tmp_path
    settings.IMPORT_CHUNK_ROWS = 4  # 23 rows: six chunks, six calls to the writer
    rows = "\n".join(f"Person{n},98{n:08d}" for n in range(23))
    data = f"FirstName,Phone\n{rows}\n".encode()
    with django_capture_on_commit_callbacks(execute=True):
        result = import_file(file=io.BytesIO(data), file_name="leads.csv", actor=manager)
    assert Lead.objects.filter(batch=result.batch, agent__isnull=False).count() == 23
    assert _digests(mailoutbox) == _owned()
    assert sum(_digests(mailoutbox).values()) == 23


def test_agents_who_turned_it_off_get_nothing(
    auth, agents, make_lead, manager, mailoutbox, django_capture_on_commit_callbacks
):
    quiet = agents[0]
    response = auth(quiet).patch("/api/v1/auth/me/", {"notify_assignments": False}, format="json")
    assert response.status_code == 200
    assert response.json()["agent"]["notify_assignments"] is False
    for _ in range(6):
        make_lead()
    with django_capture_on_commit_callbacks(execute=True):
        services.distribute(actor=manager)
    assert Lead.objects.filter(agent=quiet).count() == 2
    assert set(_digests(mailoutbox)) == {agents[1].email, agents[2].email}


def test_a_reassignment_of_many_leads_is_one_email(
    agents, make_lead, manager, mailoutbox, django_capture_on_commit_callbacks, auth
):
    leads = [make_lead(agent=agents[0]) for _ in range(5)]
    with django_capture_on_commit_callbacks(execute=True):
        response = auth(manager).post(
            "/api/v1/reassign/",
            {"lead_ids": [lead.pk for lead in leads], "agent": agents[1].pk},
            format="json",
        )
    assert response.status_code == 200
    assert _digests(mailoutbox) == {agents[1].email: 5}


def test_redistributing_an_agent_tells_only_the_receivers(
    agents, make_lead, manager, mailoutbox, django_capture_on_commit_callbacks
):
    for _ in range(4):
        make_lead(agent=agents[0])
    with django_capture_on_commit_callbacks(execute=True):
        services.redistribute_agent(agent=agents[0], actor=manager)
    assert _digests(mailoutbox) == {agents[1].email: 2, agents[2].email: 2}


def test_a_dry_run_or_a_rolled_back_distribution_sends_nothing(
    agents, make_lead, manager, mailoutbox, django_capture_on_commit_callbacks
):
    for _ in range(3):
        make_lead()
    with django_capture_on_commit_callbacks(execute=True):
        services.distribute(actor=manager, dry_run=True)
        with pytest.raises(RuntimeError), transaction.atomic():
            services.distribute(actor=manager)
            raise RuntimeError("the caller's transaction fails after the distribution")
    assert mailoutbox == []
    assert not Assignment.objects.exists()
    # The next distribution in the same outer transaction is a digest of its own.
    with django_capture_on_commit_callbacks(execute=True):
        services.distribute(actor=manager)
    assert _digests(mailoutbox) == {a.email: 1 for a in agents}


def test_deactivated_agents_get_no_digest(agents, make_lead, manager, mailoutbox):
    from agents.tasks import send_assignment_digest

    Agent.objects.filter(pk=agents[0].pk).update(is_active=False)
    send_assignment_digest.delay({str(agents[0].pk): 3, str(agents[1].pk): 2})
    assert _digests(mailoutbox) == {agents[1].email: 2}


def test_managers_set_the_preference_through_the_api(auth, manager, agents):
    url = f"/api/v1/agents/{agents[0].pk}/"
    response = auth(manager).patch(url, {"notify_assignments": False}, format="json")
    assert response.status_code == 200 and response.json()["notify_assignments"] is False
    assert not Agent.objects.get(pk=agents[0].pk).notify_assignments
    bad = auth(manager).patch(url, {"notify_assignments": "no"}, format="json")
    assert bad.status_code == 400 and "notify_assignments" in bad.json()["error"]["fields"]


def test_patch_me_refuses_bad_input_and_users_without_a_profile(auth, manager, agents):
    bad = auth(agents[0]).patch("/api/v1/auth/me/", {"notify_assignments": 0}, format="json")
    assert bad.status_code == 400
    assert "notify_assignments" in bad.json()["error"]["fields"]
    assert Agent.objects.get(pk=agents[0].pk).notify_assignments is True
    no_profile = auth(manager).patch("/api/v1/auth/me/", {"notify_assignments": False})
    assert no_profile.status_code == 400
    assert "notify_assignments" in no_profile.json()["error"]["fields"]
    # Nothing else of the user can be changed here.
    other = auth(agents[0]).patch("/api/v1/auth/me/", {"role": "admin"}, format="json")
    assert other.status_code == 200 and other.json()["role"] == "agent"


def test_the_admin_edits_the_preference(console, agents):
    agent = agents[0]
    response = console.post(
        f"/admin/agents/agent/{agent.pk}/change/",
        {
            "name": agent.name,
            "email": agent.email,
            "mobile": agent.mobile,
            "accepts_leads": "on",
            "weight": "1",
            "capacity": "",
            "away_until_0": "",
            "away_until_1": "",
        },
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    assert Agent.objects.get(pk=agent.pk).notify_assignments is False
