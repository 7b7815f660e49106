"""The routing console: team and rule pages, saving through the services, explain, dry run."""

import pytest

from agents.models import Agent
from assignments import services as distribution
from leads.models import ImportBatch, Lead
from routing import services
from routing.models import RoutingRule, RoutingSettings

pytestmark = pytest.mark.django_db

GULF = [{"field": "phone_country", "op": "in", "value": ["AE"]}]


@pytest.fixture
def arabic(make_agent):
    return services.team_create(name="Arabic", members=[make_agent(name="Omar")])


def test_team_and_rule_lists_and_forms_render(console, arabic):
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    for url in [
        "/admin/routing/team/",
        f"/admin/routing/team/{arabic.pk}/change/",
        "/admin/routing/routingrule/",
        "/admin/routing/routingrule/add/",
        "/admin/routing/routingsettings/",
    ]:
        assert console.get(url).status_code == 200, url
    page = console.get("/admin/routing/routingrule/").content.decode()
    assert "Gulf numbers" in page and "team Arabic" in page and "phone_country in" in page


def test_a_rule_saved_in_the_admin_is_validated_by_the_service(console, arabic):
    bad = console.post(
        "/admin/routing/routingrule/add/",
        {"name": "Bad", "active": "on", "conditions": '[{"field": "x", "op": "eq"}]',
         "team": arabic.pk},
    )  # fmt: skip
    assert bad.status_code == 200
    assert "Unknown field" in bad.content.decode()
    assert not RoutingRule.objects.exists()
    good = console.post(
        "/admin/routing/routingrule/add/",
        {"name": "Gulf", "active": "on", "conditions": '[{"field": "phone_country", '
         '"op": "eq", "value": "AE"}]', "team": arabic.pk},
    )  # fmt: skip
    assert good.status_code == 302
    rule = RoutingRule.objects.get()
    assert rule.position == 1 and rule.conditions[0]["value"] == "AE"


@pytest.mark.parametrize("conditions", ["{}", '""', "0", "false"])
def test_conditions_that_are_not_a_list_are_refused_in_the_admin(console, arabic, conditions):
    response = console.post(
        "/admin/routing/routingrule/add/",
        {"name": "All", "active": "on", "conditions": conditions, "team": arabic.pk},
    )
    assert response.status_code == 200
    assert "Expected a list of conditions" in response.content.decode()
    assert not RoutingRule.objects.exists()


def test_an_empty_conditions_box_is_a_rule_for_every_lead(console, arabic):
    response = console.post(
        "/admin/routing/routingrule/add/",
        {"name": "All", "active": "on", "conditions": "", "team": arabic.pk},
    )
    assert response.status_code == 302
    assert RoutingRule.objects.get().conditions == []


def test_the_fallback_setting_is_editable(console):
    response = console.post("/admin/routing/routingsettings/add/", {"fallback": "unassigned"})
    assert response.status_code == 302
    assert RoutingSettings.objects.get(pk=1).fallback == "unassigned"


def test_explain_form_answers_for_a_sample_lead(console, arabic):
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    response = console.post(
        "/admin/routing/routingrule/explain/",
        {"phone": "+971501234567", "email": "", "source": "", "extra": '{"City": "Dubai"}'},
    )
    page = response.content.decode()
    assert response.status_code == 200
    assert "Rule 1 &#x27;Gulf numbers&#x27; → team Arabic → round robin" in page
    assert "Omar" in page


def test_dry_run_routes_the_last_batch_and_writes_nothing(console, arabic, manager):
    batch = ImportBatch.objects.create(
        file_name="gulf.csv", sha256="x" * 64, state=ImportBatch.State.COMMITTED
    )
    Lead.objects.bulk_create(
        Lead(first_name=f"G{i}", phone=f"+9715012345{i:02d}", batch=batch) for i in range(3)
    )
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    response = console.get("/admin/routing/routingrule/dry-run/")
    page = response.content.decode()
    assert response.status_code == 200
    assert "Gulf numbers" in page and "3 would be assigned" in page
    assert not Lead.objects.filter(agent__isnull=False).exists()


def test_the_lead_history_in_the_admin_says_why(console, arabic, make_lead):
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    lead = make_lead(phone="+971501234599")
    distribution.distribute()
    page = console.get(f"/admin/leads/lead/{lead.pk}/change/").content.decode()
    assert "Rule 1 &#x27;Gulf numbers&#x27; → team Arabic → round robin" in page
    assert Agent.objects.get(name="Omar").pk == Lead.objects.get(pk=lead.pk).agent_id
