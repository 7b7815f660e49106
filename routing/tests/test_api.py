"""Teams, rules, reorder, settings and explain over HTTP: shapes, roles, refusals."""

import pytest

from leads.models import Lead
from routing import services
from routing.models import RoutingRule, RoutingSettings, Team

pytestmark = pytest.mark.django_db

GULF = [{"field": "phone_country", "op": "in", "value": ["AE", "SA"]}]


@pytest.fixture
def api(auth, manager):
    return auth(manager)


@pytest.fixture
def arabic(make_agent):
    members = [make_agent(name="Omar"), make_agent(name="Layla")]
    return services.team_create(name="Arabic", members=members)


def test_team_create_and_read_have_the_contract_shape(api, make_agent):
    a, b = make_agent(), make_agent()
    response = api.post(
        "/api/v1/teams/",
        {"name": "Field", "strategy": "balanced", "members": [b.pk, a.pk]},
        format="json",
    )
    assert response.status_code == 201, response.content
    body = response.json()
    assert body == {
        "id": body["id"],
        "name": "Field",
        "active": True,
        "strategy": "balanced",
        "members": sorted([a.pk, b.pk]),
    }
    assert api.get(f"/api/v1/teams/{body['id']}/").json() == body


@pytest.mark.parametrize("first", ["Field", "\U0001f600"])
def test_a_team_name_the_database_holds_equal_is_a_400_not_a_500(api, first):
    # MariaDB's utf8mb4_unicode_ci weighs every character outside the BMP the
    # same: the unique index refuses what the name check let through. SQLite
    # compares them apart, so there the second name is simply another team.
    second = {"Field": "FIELD", "\U0001f600": "\U0010ffff"}[first]
    assert api.post("/api/v1/teams/", {"name": first}, format="json").status_code == 201
    response = api.post("/api/v1/teams/", {"name": second}, format="json")
    assert response.status_code in (201, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["fields"]["name"]
    other = api.post("/api/v1/teams/", {"name": "Other"}, format="json").json()
    response = api.patch(f"/api/v1/teams/{other['id']}/", {"name": second}, format="json")
    assert response.status_code in (200, 400), response.content
    if response.status_code == 400:
        assert response.json()["error"]["fields"]["name"]
        assert Team.objects.get(pk=other["id"]).name == "Other"


def test_rule_create_has_the_contract_shape_and_goes_last(api, arabic):
    first = api.post(
        "/api/v1/routing-rules/",
        {"name": "Gulf numbers", "conditions": GULF, "target": {"team": arabic.pk}},
        format="json",
    )
    assert first.status_code == 201, first.content
    assert first.json() == {
        "id": first.json()["id"],
        "name": "Gulf numbers",
        "position": 1,
        "active": True,
        "conditions": GULF,
        "target": {"team": arabic.pk},
    }
    second = api.post(
        "/api/v1/routing-rules/",
        {"name": "Expo", "conditions": [], "target": {"team": arabic.pk}},
        format="json",
    )
    assert second.json()["position"] == 2


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"conditions": [{"field": "shoe_size", "op": "eq", "value": "9"}]}, "conditions"),
        ({"conditions": [{"field": "status", "op": "matches", "value": ".*"}]}, "conditions"),
        ({"conditions": [{"field": "status", "op": "in", "value": []}]}, "conditions"),
        ({"conditions": [{"field": 12, "op": "eq", "value": "x"}]}, "conditions"),
        ({"conditions": [{"field": "status", "op": "eq", "value": 5}]}, "conditions"),
        ({"conditions": {"field": "status"}}, "conditions"),
        # Not a list at all: refused as sent, never a 500 (True, 7) nor an empty rule ({}).
        ({"conditions": ""}, "conditions"),
        ({"conditions": {}}, "conditions"),
        ({"conditions": 0}, "conditions"),
        ({"conditions": True}, "conditions"),
        ({"conditions": 7}, "conditions"),
        ({"conditions": 1.5}, "conditions"),
        ({"conditions": "status"}, "conditions"),
        (
            {"conditions": [{"field": "status", "op": "empty", "value": None}] * 10_000},
            "conditions",
        ),
        (
            {"conditions": [{"field": "status", "op": "eq", "value": [[[[[["deep"]]]]]]}]},
            "conditions",
        ),
        ({"target": {"team": 999999}}, "target"),
        ({"target": {"team": "1"}}, "target"),
        ({"target": {"team": 1, "agent": 1}}, "target"),
        ({"target": {"group": 1}}, "target"),
        ({"target": {}}, "target"),
        ({"name": ""}, "name"),
    ],
)
def test_bad_rule_input_is_a_400_naming_the_field_and_changes_nothing(api, arabic, body, field):
    payload = {"name": "R", "conditions": [], "target": {"team": arabic.pk}, **body}
    response = api.post("/api/v1/routing-rules/", payload, format="json")
    assert response.status_code == 400, response.content
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert field in error["fields"]
    assert not RoutingRule.objects.exists()


def test_a_rule_cannot_target_an_inactive_or_deleted_team(api, arabic):
    services.team_update(team=arabic, active=False)
    response = api.post(
        "/api/v1/routing-rules/", {"name": "R", "target": {"team": arabic.pk}}, format="json"
    )
    assert response.status_code == 400
    assert "inactive" in response.json()["error"]["fields"]["target"][0]
    pk = arabic.pk
    arabic.delete()
    response = api.post(
        "/api/v1/routing-rules/", {"name": "R", "target": {"team": pk}}, format="json"
    )
    assert response.status_code == 400
    assert not RoutingRule.objects.exists()


def test_a_team_a_rule_targets_cannot_be_deleted(api, arabic):
    services.rule_create(name="Gulf", conditions=GULF, team=arabic)
    response = api.delete(f"/api/v1/teams/{arabic.pk}/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "team_in_use"
    assert Team.objects.filter(pk=arabic.pk).exists()


def test_reorder_puts_the_rules_in_the_given_order(api, arabic):
    rules = [services.rule_create(name=n, team=arabic) for n in ("a", "b", "c")]
    ids = [rules[2].pk, rules[0].pk, rules[1].pk]
    response = api.post("/api/v1/routing-rules/reorder/", {"ids": ids}, format="json")
    assert response.status_code == 200, response.content
    assert [r["id"] for r in response.json()] == ids
    assert [r["position"] for r in response.json()] == [1, 2, 3]
    assert list(RoutingRule.objects.order_by("position").values_list("id", flat=True)) == ids


@pytest.mark.parametrize("ids", [[1], "x", [], ["a"]])
def test_reorder_refuses_a_partial_or_bad_list_and_changes_nothing(api, arabic, ids):
    rules = [services.rule_create(name=n, team=arabic) for n in ("a", "b")]
    before = list(RoutingRule.objects.values_list("id", "position"))
    body = {"ids": ids if ids != [1] else [rules[1].pk]}
    response = api.post("/api/v1/routing-rules/reorder/", body, format="json")
    assert response.status_code == 400
    assert "ids" in response.json()["error"]["fields"]
    assert list(RoutingRule.objects.values_list("id", "position")) == before


def test_agents_get_403_everywhere(auth, agent, arabic):
    client = auth(agent)
    for method, url in [
        ("get", "/api/v1/teams/"),
        ("post", "/api/v1/teams/"),
        ("get", "/api/v1/routing-rules/"),
        ("post", "/api/v1/routing-rules/reorder/"),
        ("post", "/api/v1/routing/explain/"),
        ("get", "/api/v1/routing/settings/"),
        ("put", "/api/v1/routing/settings/"),
    ]:
        response = getattr(client, method)(url, {}, format="json")
        assert response.status_code == 403, (method, url)


def test_settings_read_and_write_the_fallback(api):
    assert api.get("/api/v1/routing/settings/").json() == {"fallback": "pool"}
    response = api.put("/api/v1/routing/settings/", {"fallback": "unassigned"}, format="json")
    assert response.status_code == 200
    assert RoutingSettings.objects.get(pk=1).fallback == "unassigned"
    bad = api.put("/api/v1/routing/settings/", {"fallback": "random"}, format="json")
    assert bad.status_code == 400
    assert "fallback" in bad.json()["error"]["fields"]
    assert RoutingSettings.objects.get(pk=1).fallback == "unassigned"


def test_explain_names_the_rule_team_and_next_agent(api, arabic, make_agent):
    make_agent(name="Pool Agent")
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    response = api.post(
        "/api/v1/routing/explain/",
        {"lead": {"phone": "+971501234567", "extra": {"City": "Dubai"}}},
        format="json",
    )
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["rule"]["name"] == "Gulf numbers"
    assert body["team"] == {"id": arabic.pk, "name": "Arabic"}
    assert body["agent"]["name"] in {"Omar", "Layla"}
    assert body["fallback"] is False
    assert body["explanation"] == "Rule 1 'Gulf numbers' → team Arabic → round robin"

    other = api.post(
        "/api/v1/routing/explain/", {"lead": {"phone": "+919812345678"}}, format="json"
    ).json()
    assert other["rule"] is None and other["team"] is None
    assert other["fallback"] is True
    assert other["agent"] is not None


@pytest.mark.parametrize("phone", ["98123 45678", "098123-45678", "0091 98123 45678"])
def test_explain_reads_a_national_phone_as_an_import_would(api, arabic, settings, phone):
    settings.PHONE_DEFAULT_REGION = "IN"
    india = [{"field": "phone_country", "op": "eq", "value": "IN"}]
    services.rule_create(name="India", conditions=india, team=arabic)
    body = api.post("/api/v1/routing/explain/", {"lead": {"phone": phone}}, format="json").json()
    assert body["rule"] is not None and body["rule"]["name"] == "India"
    assert body["fallback"] is False


def test_explain_with_an_invalid_phone_matches_no_country(api, arabic):
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    body = api.post("/api/v1/routing/explain/", {"lead": {"phone": "not a phone"}}, format="json")
    assert body.status_code == 200
    assert body.json()["rule"] is None


def test_explain_by_lead_id_and_its_refusals(api, arabic, make_lead):
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    lead = make_lead(phone="+966501234567")
    body = api.post("/api/v1/routing/explain/", {"lead_id": lead.pk}, format="json").json()
    assert body["rule"]["name"] == "Gulf numbers"
    assert (
        api.post("/api/v1/routing/explain/", {"lead_id": 99999999}, format="json").status_code
        == 404
    )
    assert api.post("/api/v1/routing/explain/", {}, format="json").status_code == 400
    both = {"lead_id": lead.pk, "lead": {"phone": "+1"}}
    assert api.post("/api/v1/routing/explain/", both, format="json").status_code == 400
    assert (
        api.post(
            "/api/v1/routing/explain/", {"lead": {"extra": {"a": {"b": 1}}}}, format="json"
        ).status_code
        == 400
    )


def test_list_endpoints_use_constant_queries(api, make_agent, django_assert_num_queries):
    def grow(n):
        for i in range(n):
            team = services.team_create(
                name=f"T{Team.objects.count()}-{i}", members=[make_agent(), make_agent()]
            )
            services.rule_create(name=f"R{i}", conditions=GULF, team=team)

    grow(2)
    # auth (user + token checks) + the page's rows + the prefetch/count
    with django_assert_num_queries(4) as small:
        assert api.get("/api/v1/teams/").status_code == 200
    grow(5)
    with django_assert_num_queries(len(small.captured_queries)):
        assert len(api.get("/api/v1/teams/").json()["results"]) == 7
    with django_assert_num_queries(3) as rules_small:
        assert api.get("/api/v1/routing-rules/").status_code == 200
    grow(3)
    with django_assert_num_queries(len(rules_small.captured_queries)):
        assert len(api.get("/api/v1/routing-rules/").json()["results"]) == 10


def test_an_import_preview_shows_per_rule_matches_and_the_split(api, arabic, make_agent):
    from django.core.files.uploadedfile import SimpleUploadedFile

    make_agent(name="Pool Agent")
    services.rule_create(name="Gulf numbers", conditions=GULF, team=arabic)
    data = "FirstName,Phone,City\n" + "".join(
        [f"G{i},+9715012{i:05d},Dubai\n" for i in range(5)]
        + [f"I{i},+9198120{i:05d},Pune\n" for i in range(3)]
    )
    upload = SimpleUploadedFile("gulf.csv", data.encode(), content_type="text/csv")
    response = api.post("/api/v1/imports/", {"file": upload, "preview": "true"}, format="multipart")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["state"] == "preview" and body["assigned"] == 8
    (entry,) = body["routing"]
    assert entry["rule"]["name"] == "Gulf numbers" and entry["matched"] == 5
    assert entry["team"] == {"id": arabic.pk, "name": "Arabic"}
    members = {str(pk) for pk in arabic.members.values_list("id", flat=True)}
    assert set(entry["per_agent"]) == members and sum(entry["per_agent"].values()) == 5
    assert not Lead.objects.exists()


@pytest.mark.parametrize("name", [0, True, ["Field"], None])
def test_a_name_that_is_not_text_is_a_400_and_creates_nothing(api, name):
    for path in ("/api/v1/teams/", "/api/v1/routing-rules/"):
        response = api.post(path, {"name": name, "target": {"agent": 1}}, format="json")
        assert response.status_code == 400, response.content
        assert "name" in response.json()["error"]["fields"]
    assert not Team.objects.exists()
    assert not RoutingRule.objects.exists()


def test_settings_patch_without_a_change_answers_the_current_fallback(api):
    response = api.patch("/api/v1/routing/settings/", {}, format="json")
    assert response.status_code == 200, response.content
    assert response.json() == {"fallback": "pool"}
    response = api.patch("/api/v1/routing/settings/", {"fallback": "unassigned"}, format="json")
    assert response.json() == {"fallback": "unassigned"}
    assert RoutingSettings.objects.get().fallback == "unassigned"
