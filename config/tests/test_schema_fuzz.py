"""The OpenAPI schema tells the truth about what the API answers.

Fuzzing the schema (schemathesis, ``scripts/schema_fuzz.py`` in ``.ci/run``)
found fields served as ``null`` but declared as strings, status codes the API
returns but the schema did not list, and query values accepted although
invalid (``common.filtering``; ``test_schema_fuzz_query_params.py``). These
tests hold the schema to real responses without the fuzzer.
"""

import importlib.util
import re
import tomllib
from pathlib import Path

import jsonschema
import pytest
from django.conf import settings
from drf_spectacular.generators import SchemaGenerator
from rest_framework import serializers

from accounts.schema import CONFLICT_OPERATIONS, NON_BLANK_PATTERN
from leads.models import LeadActivity

pytestmark = pytest.mark.django_db

ROOT = Path(settings.BASE_DIR)
SCHEMA = SchemaGenerator().get_schema(request=None, public=True)
OPERATIONS = {
    (method.upper(), path): operation
    for path, methods in SCHEMA["paths"].items()
    for method, operation in methods.items()
}
ERROR_REF = {"$ref": "#/components/schemas/ErrorEnvelope"}


def _json_schema(node):
    """OpenAPI 3.0's schema dialect as JSON Schema (``nullable`` is its only difference here)."""
    if isinstance(node, list):
        return [_json_schema(item) for item in node]
    if not isinstance(node, dict):
        return node
    node = {key: _json_schema(value) for key, value in node.items()}
    if node.pop("nullable", False):
        return {"anyOf": [node, {"type": "null"}]}
    return node


def _assert_documented(method, path, response):
    """``response`` has a status the operation documents, and a body of that shape."""
    documented = OPERATIONS[(method, path)]["responses"]
    status = str(response.status_code)
    assert status in documented, (method, path, status, sorted(documented))
    content = documented[status].get("content", {})
    assert "application/json" in content, (method, path, status)
    document = {
        "components": _json_schema(SCHEMA["components"]),
        "allOf": [_json_schema(content["application/json"]["schema"])],
    }
    validator = jsonschema.Draft202012Validator
    validator(document, format_checker=validator.FORMAT_CHECKER).validate(response.json())


def test_fields_served_as_null_are_declared_nullable(auth, manager, agent, make_lead):
    owned = make_lead(agent=agent)  # its assignment has no assigned_by: the system made it
    unassigned = make_lead()
    LeadActivity.objects.create(lead=owned, kind="note", new_value="imported", actor=None)
    client = auth(manager)
    response = client.get("/api/v1/leads/")
    assert {row["agent_name"] for row in response.json()["results"]} == {agent.name, None}
    _assert_documented("GET", "/api/v1/leads/", response)
    response = client.get(f"/api/v1/leads/{unassigned.pk}/")
    assert response.json()["agent_name"] is None
    _assert_documented("GET", "/api/v1/leads/{id}/", response)
    response = client.get(f"/api/v1/leads/{owned.pk}/activity/")
    assert response.json()["results"][0]["actor"] is None
    _assert_documented("GET", "/api/v1/leads/{id}/activity/", response)
    response = client.get("/api/v1/assignments/")
    assert response.json()["results"][0]["assigned_by"] is None
    _assert_documented("GET", "/api/v1/assignments/", response)


def test_error_answers_are_documented_in_the_envelope_shape(
    auth, api_client, manager, agent, make_lead
):
    lead = make_lead()
    as_manager, as_agent = auth(manager), auth(agent)
    answers = [
        ("GET", "/api/v1/leads/", api_client.get("/api/v1/leads/"), 401),
        ("GET", "/api/v1/agents/", as_agent.get("/api/v1/agents/"), 403),
        ("GET", "/api/v1/leads/{id}/", as_manager.get("/api/v1/leads/999999/"), 404),
        ("GET", "/api/v1/leads/", as_manager.get("/api/v1/leads/?unassigned=null"), 400),
        ("GET", "/api/v1/leads/", as_manager.get("/api/v1/leads/?page=9"), 404),
        ("DELETE", "/api/v1/leads/{id}/", as_manager.delete(f"/api/v1/leads/{lead.pk}/"), 405),
        (
            "POST",
            "/api/v1/leads/",
            as_manager.post("/api/v1/leads/", "x", content_type="text/plain"),
            415,
        ),
        ("POST", "/api/v1/leads/", as_agent.post("/api/v1/leads/", {}, format="json"), 403),
    ]
    agent.is_active = False  # nobody left to take leads
    agent.save()
    answers.append(("POST", "/api/v1/distribute/", as_manager.post("/api/v1/distribute/", {}), 409))
    for method, path, response, status in answers:
        assert response.status_code == status, (method, path, response.content[:300])
        _assert_documented(method, path, response)


NO_ROLE_REFUSED = {
    "/api/v1/auth/me/",
    "/api/v1/auth/password-reset/",
    "/api/v1/auth/password-reset/confirm/",
    "/api/v1/leads/exports/{id}/",
    "/api/v1/leads/exports/{id}/download/",
}


@pytest.mark.parametrize(("method", "path"), sorted(OPERATIONS))
def test_every_operation_documents_the_errors_it_can_answer(method, path):
    operation = OPERATIONS[(method, path)]
    responses = operation["responses"]
    errors = {int(code) for code in responses if int(code) >= 400}
    expected = {401, 429, 503}
    # A role can be refused outside auth/; the web client's cookie flow refuses a
    # cross-site request (csrf_failed). Refusing no role: auth/me/ (anyone signed
    # in), the password reset (anyone), and an export job (its owner; others 404).
    if path not in NO_ROLE_REFUSED:
        expected.add(403)
    query = [p for p in operation.get("parameters", []) if p["in"] == "query"]
    if query or "requestBody" in operation:
        expected.add(400)
    if "{id}" in path or any(p["name"] == "page" for p in query):
        expected.add(404)
    if "requestBody" in operation:
        expected |= {413, 415}
    if operation["operationId"] in CONFLICT_OPERATIONS:
        expected.add(409)
    assert expected <= errors, sorted(expected - errors)
    assert errors - expected <= {400, 405}, sorted(errors - expected)  # 400: every write
    for code in errors:
        assert responses[str(code)]["content"]["application/json"]["schema"] == ERROR_REF
    for code in (429, 503):
        assert "Retry-After" in responses[str(code)]["headers"]
    assert all(p.get("allowEmptyValue") for p in query)


def test_json_operations_document_json_bodies_and_uploads_multipart():
    bodies = {
        key: sorted(operation["requestBody"]["content"])
        for key, operation in OPERATIONS.items()
        if "requestBody" in operation
    }
    assert bodies.pop(("POST", "/api/v1/imports/")) == ["multipart/form-data"]
    assert set(map(tuple, bodies.values())) == {("application/json",)}


def test_lead_update_says_it_refuses_unknown_fields(auth, manager, make_lead):
    components = SCHEMA["components"]["schemas"]
    for name in ("LeadUpdateInputRequest", "PatchedLeadUpdateInputRequest"):
        assert components[name]["additionalProperties"] is False
    lead = make_lead()
    response = auth(manager).patch(f"/api/v1/leads/{lead.pk}/", {"colour": "red"}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["colour"]


@pytest.mark.parametrize("value", [0, 1, "true", "false", "yes", None])
def test_json_booleans_are_true_or_false(auth, manager, agent, value):
    """The schema says boolean; ``0`` or ``"yes"`` is a client bug named by a 400,
    not a guess (fuzzing found ``"dry_run": 0`` accepted)."""
    client = auth(manager)
    response = client.post("/api/v1/distribute/", {"dry_run": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["dry_run"]
    response = client.patch(f"/api/v1/agents/{agent.pk}/", {"accepts_leads": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["accepts_leads"]
    agent.refresh_from_db()
    assert agent.accepts_leads is True
    response = client.patch(f"/api/v1/agents/{agent.pk}/", {"accepts_leads": False}, format="json")
    assert response.status_code == 200
    assert response.json()["accepts_leads"] is False


@pytest.mark.parametrize("value", ["9999-12-31T20:00:00Z", "0001-01-01T00:00:00Z", "2030-01-01"])
def test_away_until_outside_the_range_is_refused(auth, manager, agent, settings, value):
    """Like a lead's follow-up (leads/tests/test_datetime_bodies.py): an agent away
    until 9999-12-31T20:00:00Z, stored under UTC, made the agents list a 500 once
    the time zone was +05:30."""
    client = auth(manager)
    response = client.patch(f"/api/v1/agents/{agent.pk}/", {"away_until": value}, format="json")
    assert response.status_code == 400
    assert list(response.json()["error"]["fields"]) == ["away_until"]
    agent.refresh_from_db()
    assert agent.away_until is None
    settings.TIME_ZONE = "Asia/Kolkata"
    assert client.get("/api/v1/agents/").status_code == 200


def test_text_patterns_refuse_exactly_what_drf_refuses():
    """The pattern on request text fields is DRF's CharField rule, character by character."""
    samples = ["a", " a ", "", "\x00", "a\x00", "é", "\ufeff", "\u200b"]
    samples += [chr(code) for code in range(0x3001) if chr(code).isspace()]
    samples += [f"{chr(code)}x{chr(code)}" for code in range(0x3001) if chr(code).isspace()]
    field = serializers.CharField()
    for value in samples:
        try:
            field.run_validation(value)
            accepted = True
        except serializers.ValidationError:
            accepted = False
        assert accepted == bool(re.fullmatch(NON_BLANK_PATTERN, value)), repr(value)


def test_every_operation_named_elsewhere_exists():
    """The 409 list, the fuzz run's exclusions and its per-operation settings name
    operations the schema has (a renamed operation must not drop out silently)."""
    ids = {operation["operationId"] for operation in OPERATIONS.values()}
    assert set(CONFLICT_OPERATIONS) <= ids
    spec = importlib.util.spec_from_file_location("schema_fuzz", ROOT / "scripts/schema_fuzz.py")
    runner = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(runner)
    assert set(runner.EXCLUDED) <= ids
    config = tomllib.loads((ROOT / "scripts/schemathesis.toml").read_text())
    for entry in config["operations"]:
        named = entry["include-operation-id"]
        assert set([named] if isinstance(named, str) else named) <= ids
