"""The OpenAPI schema, walked as a typed client (frontend/) reads it.

- Every property of every response component (and of the objects nested in
  them) is ``required``, except the few an answer really leaves out, listed
  here; a field that can be ``null`` is ``nullable`` and still required.
- Every operation documents its error answers in the ``ErrorEnvelope``: 401,
  429 and 503 everywhere (with ``Retry-After`` on 429/503), 404 exactly where a
  path has an id or a list has pages, 413/415 exactly where there is a body, 400
  where there is a body or query parameters, 403 where a role can be refused.
- The web client's cookie flow is in the schema (header, cookie, Set-Cookie).
- Real error answers match the documented envelope.
"""

import jsonschema
import pytest
from rest_framework.test import APIClient

pytestmark = pytest.mark.django_db

ENVELOPE_REF = "#/components/schemas/ErrorEnvelope"

# The only response fields an answer may leave out.
OPTIONAL_RESPONSE_FIELDS = {
    ("TokenOutput", "refresh"),  # absent for the web client: the refresh token is its cookie
}

# Always-present fields that can be null: a typed client sees `T | null`, never `undefined`.
NULLABLE_RESPONSE_FIELDS = {
    ("LeadOutput", "agent"),
    ("LeadOutput", "agent_name"),
    ("LeadOutput", "next_follow_up"),
    ("LeadOutput", "batch"),
    ("MeOutput", "agent"),
    ("AgentOutput", "away_until"),
    ("AgentOutput", "capacity"),
    ("PaginatedLeadOutputList", "next"),
    ("PaginatedLeadOutputList", "previous"),
}

COOKIE_OPERATIONS = ("/api/v1/auth/token/", "/api/v1/auth/token/refresh/", "/api/v1/auth/logout/")
MANAGER_ONLY = ("/api/v1/agents/", "/api/v1/imports/", "/api/v1/distribute/", "/api/v1/reassign/")


@pytest.fixture(scope="module")
def schema(django_db_blocker):
    with django_db_blocker.unblock():
        response = APIClient().get("/api/schema/?format=json")
    assert response.status_code == 200
    return response.json()


def operations(schema):
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            yield path, method.upper(), operation


def _component(schema, ref):
    return ref.rsplit("/", 1)[-1], schema["components"]["schemas"][ref.rsplit("/", 1)[-1]]


def response_components(schema):
    """Names of the components answers are made of (followed through $ref)."""
    seen, todo = set(), []
    for _path, _method, operation in operations(schema):
        for response in operation["responses"].values():
            for media in response.get("content", {}).values():
                todo.append(media.get("schema", {}))
    while todo:
        node = todo.pop()
        if isinstance(node, dict):
            ref = node.get("$ref")
            if ref:
                name, target = _component(schema, ref)
                if name not in seen:
                    seen.add(name)
                    todo.append(target)
            todo.extend(node.values())
        elif isinstance(node, list):
            todo.extend(node)
    return seen


def objects_in(name, node, where=""):
    """``(where, object schema)`` for a component and every inline object nested in it."""
    if isinstance(node, dict):
        if "properties" in node:
            yield where or name, node
        for key, value in node.items():
            if key != "$ref":
                yield from objects_in(name, value, f"{where or name}.{key}")
    elif isinstance(node, list):
        for value in node:
            yield from objects_in(name, value, where)


def test_every_response_field_is_required_unless_listed(schema):
    components = response_components(schema)
    assert {"LeadOutput", "MeOutput", "AgentOutput", "PaginatedLeadOutputList"} <= components
    assert not [name for name in components if name.endswith("Request")]
    missing = []
    for name in sorted(components):
        for where, node in objects_in(name, schema["components"]["schemas"][name]):
            required = set(node.get("required", ()))
            for field in node["properties"]:
                if field not in required and (where, field) not in OPTIONAL_RESPONSE_FIELDS:
                    missing.append(f"{where}.{field}")
    assert missing == []
    # The listed exceptions exist (a stale list would hide a regression).
    for name, field in OPTIONAL_RESPONSE_FIELDS:
        assert field in schema["components"]["schemas"][name]["properties"]


def test_lead_output_is_complete_for_a_typed_client(schema):
    lead = schema["components"]["schemas"]["LeadOutput"]
    for field in ("status", "email", "notes", "agent", "agent_name", "next_follow_up", "extra"):
        assert field in lead["required"], field


def test_nullable_fields_stay_nullable_and_required(schema):
    components = schema["components"]["schemas"]
    for name, field in NULLABLE_RESPONSE_FIELDS:
        prop = components[name]["properties"][field]
        nullable = prop.get("nullable") or any(
            part.get("nullable") or part.get("type") == "null"
            for part in prop.get("oneOf", []) + prop.get("allOf", []) + prop.get("anyOf", [])
        )
        assert nullable, f"{name}.{field}"
        assert field in components[name]["required"], f"{name}.{field}"


def _is_envelope(response):
    return response.get("content", {}).get("application/json", {}).get("schema") == {
        "$ref": ENVELOPE_REF
    }


def test_every_error_answer_is_the_envelope(schema):
    for path, method, operation in operations(schema):
        for status, response in operation["responses"].items():
            if int(status) >= 400:
                assert _is_envelope(response), (method, path, status)
                assert response["description"], (method, path, status)
            else:
                assert not _is_envelope(response), (method, path, status)


def test_every_operation_documents_401_429_503(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        assert {"401", "429", "503"} <= set(responses), (method, path)
        for status in ("429", "503"):
            assert "Retry-After" in responses[status]["headers"], (method, path, status)
        authenticated = any(requirement for requirement in operation.get("security", [{}]))
        assert authenticated or path.startswith("/api/v1/auth/"), (method, path)


def test_404_exactly_on_ids_and_pages(schema):
    for path, method, operation in operations(schema):
        names = {p["name"] for p in operation.get("parameters", []) if p["in"] == "query"}
        expected = "{" in path or "page" in names
        assert ("404" in operation["responses"]) == expected, (method, path)


def test_413_and_415_exactly_with_a_body_400_with_input(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        has_body = "requestBody" in operation
        assert ("413" in responses) == has_body, (method, path)
        assert ("415" in responses) == has_body, (method, path)
        has_query = any(p["in"] == "query" for p in operation.get("parameters", []))
        if has_body or has_query:
            assert "400" in responses, (method, path)


def test_403_where_a_role_or_a_cross_site_request_can_be_refused(schema):
    for path, method, operation in operations(schema):
        responses = operation["responses"]
        if path.startswith(MANAGER_ONLY) or path in COOKIE_OPERATIONS:
            assert "403" in responses, (method, path)
    # Any signed-in user may read who they are: 401, never 403.
    assert "403" not in schema["paths"]["/api/v1/auth/me/"]["get"]["responses"]


def test_409_only_where_the_desk_can_refuse(schema):
    with_409 = {
        (method, path) for path, method, op in operations(schema) if "409" in op["responses"]
    }
    assert ("POST", "/api/v1/distribute/") in with_409
    assert ("POST", "/api/v1/imports/") in with_409
    assert ("GET", "/api/v1/leads/") not in with_409


def test_the_cookie_flow_is_documented(schema):
    for path in COOKIE_OPERATIONS:
        operation = schema["paths"][path]["post"]
        parameters = {(p["in"], p["name"]): p for p in operation["parameters"]}
        header = parameters[("header", "X-Leadline-Client")]
        assert header["schema"]["enum"] == ["web"]
        assert not header.get("required", False)
        if path != "/api/v1/auth/token/":
            assert ("cookie", "leadline_refresh") in parameters
            assert "Set-Cookie" in operation["responses"]["401"]["headers"]
        success = "204" if path.endswith("logout/") else "200"
        assert "Set-Cookie" in operation["responses"][success]["headers"]
        assert "csrf_failed" in operation["responses"]["403"]["description"]
    refresh_body = schema["components"]["schemas"]["RefreshInputRequest"]
    assert "refresh" not in refresh_body.get("required", [])  # {} with the cookie


def test_real_errors_match_the_documented_envelope(schema, manager, auth):
    envelope = schema["components"]["schemas"]["ErrorEnvelope"]
    client = APIClient()
    answers = [
        client.get("/api/v1/auth/me/"),  # 401
        client.post("/api/v1/auth/token/", {"email": "x"}, format="json"),  # 400
        client.post("/api/v1/auth/token/refresh/", {}, format="json", HTTP_X_LEADLINE_CLIENT="web"),
        auth(manager).get("/api/v1/leads/999999/"),  # 404
        auth(manager).get("/api/v1/nowhere/"),  # 404, no view
    ]
    client.cookies["leadline_refresh"] = "x"
    answers.append(client.post("/api/v1/auth/token/refresh/", {}, format="json"))  # 403
    assert [a.status_code for a in answers] == [401, 400, 401, 404, 404, 403]
    for answer in answers:
        jsonschema.validate(answer.json(), envelope)
