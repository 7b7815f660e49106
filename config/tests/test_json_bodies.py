"""JSON bodies the parser cannot take are a 400 ``parse_error``, and change nothing.

The attack: ``[`` x 5000 on the token endpoint (no login needed), refresh,
logout and reassign was a 500 (``RecursionError``); an integer past 64 bits in
``lead_ids`` was a 500 (``OverflowError`` in the driver). One parser class
(``common.parsers.JSONParser``, DRF's default) closes it for every endpoint.
"""

import json

import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.token_blacklist.models import BlacklistedToken, OutstandingToken

from accounts.models import AuditLog
from accounts.tokens import issue_tokens
from assignments.models import Assignment
from leads.models import Lead

DEEP = "[" * 5000
# Each is something no client means: refused as a whole, before any view code.
BAD_BODIES = {
    "deep-5000": DEEP,
    "deep-just-over-the-limit": "[" * 33 + "]" * 33,
    "deep-inside-an-object": '{"lead_ids": ' + "[" * 100 + "]" * 100 + "}",
    "int-over-64-bits": '{"lead_ids": [9223372036854775808], "agent": 1}',
    "negative-int-over-64-bits": '{"lead_ids": [-9223372036854775809], "agent": 1}',
    "huge-int": '{"lead_ids": [1' + "0" * 5000 + '], "agent": 1}',
    "overflowing-float": '{"lead_ids": [1e999], "agent": 1}',
    "nan": '{"lead_ids": [NaN], "agent": 1}',
    "infinity": '{"agent": -Infinity}',
    "lone-surrogate": '{"email": "\\ud800@example.com", "refresh": "\\udfff"}',
    "invalid-utf8": b'{"email": "\xff\xfe@example.com"}',
    "truncated": '{"email": "a@example.com"',
    "bom": b'\xef\xbb\xbf{"email": "a@example.com"}',
}


def _post(client, url, body, content_type="application/json"):
    return client.post(url, body, content_type=content_type)


def _assert_parse_error(response):
    assert response.status_code == 400, response.content
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["code"] == "parse_error"
    assert body["error"]["message"].startswith(("JSON parse error", "Unsupported charset"))
    assert body["error"]["fields"] == {}


def _state():
    return (
        OutstandingToken.objects.count(),
        BlacklistedToken.objects.count(),
        AuditLog.objects.count(),
        list(Lead.objects.order_by("pk").values_list("pk", "agent_id", "notes", "status")),
        Assignment.objects.count(),
    )


@pytest.fixture
def desk(manager, agent, other_agent, make_lead):
    lead = make_lead(agent=agent)
    refresh, _access = issue_tokens(agent.user)
    return {"lead": lead, "refresh": refresh, "target": other_agent}


def _endpoints(desk, manager, auth):
    lead = desk["lead"]
    return {
        "token": (APIClient(), "post", "/api/v1/auth/token/"),
        "refresh": (APIClient(), "post", "/api/v1/auth/token/refresh/"),
        "logout": (APIClient(), "post", "/api/v1/auth/logout/"),
        "reassign": (auth(manager), "post", "/api/v1/reassign/"),
        # Generic: any JSON endpoint goes through the same parser.
        "lead-patch": (auth(manager), "patch", f"/api/v1/leads/{lead.pk}/"),
        "distribute": (auth(manager), "post", "/api/v1/distribute/"),
    }


@pytest.mark.django_db
@pytest.mark.parametrize("endpoint", ["token", "refresh", "logout", "reassign", "lead-patch"])
def test_deeply_nested_json_is_a_400_not_a_500(endpoint, desk, manager, auth):
    # Before: 500 (RecursionError in json.loads). After: 400 parse_error.
    client, method, url = _endpoints(desk, manager, auth)[endpoint]
    client.raise_request_exception = False
    before = _state()
    response = getattr(client, method)(url, DEEP, content_type="application/json")
    _assert_parse_error(response)
    assert _state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("name", sorted(BAD_BODIES))
@pytest.mark.parametrize("endpoint", ["token", "refresh", "logout", "reassign", "distribute"])
def test_every_unparsable_body_is_a_400_on_every_json_endpoint(endpoint, name, desk, manager, auth):
    client, method, url = _endpoints(desk, manager, auth)[endpoint]
    client.raise_request_exception = False
    before = _state()
    response = getattr(client, method)(url, BAD_BODIES[name], content_type="application/json")
    _assert_parse_error(response)
    assert _state() == before


@pytest.mark.django_db
@pytest.mark.parametrize("url", ["/api/v1/reassign/", "/api/v1/distribute/"])
def test_lead_ids_past_64_bits_are_refused_before_the_database(url, desk, manager, auth):
    # Before: 500 (OverflowError from the driver). After: 400 parse_error.
    client = auth(manager)
    client.raise_request_exception = False
    body = {"lead_ids": [2**63], "agent": desk["target"].pk}
    before = _state()
    response = client.post(url, json.dumps(body), content_type="application/json")
    _assert_parse_error(response)
    assert _state() == before


@pytest.mark.django_db
def test_the_largest_64_bit_integer_still_parses(desk, manager, auth):
    body = {"lead_ids": [2**63 - 1], "agent": desk["target"].pk}
    response = auth(manager).post("/api/v1/reassign/", body, format="json")
    # Parsed; then the lead simply does not exist.
    assert response.status_code != 500
    assert response.json()["error"]["code"] != "parse_error"


@pytest.mark.django_db
def test_nesting_up_to_the_limit_reaches_the_serializer(desk, manager, auth):
    nested = "[" * 31 + "]" * 31
    response = auth(manager).post(
        "/api/v1/reassign/",
        f'{{"lead_ids": {nested}, "agent": {desk["target"].pk}}}',
        content_type="application/json",
    )
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"


@pytest.mark.django_db
def test_duplicate_keys_are_fine_the_last_one_wins(agent, password):
    email = agent.user.email
    body = f'{{"email": "nobody@example.com", "email": "{email}", "password": "{password}"}}'
    response = APIClient().post("/api/v1/auth/token/", body, content_type="application/json")
    assert response.status_code == 200, response.content
    assert set(response.json()) == {"access", "refresh"}


@pytest.mark.django_db
@pytest.mark.parametrize("charset", ["utf-16", "UTF-8", "latin-1"])
def test_declared_text_charsets_still_work(charset, agent, password):
    text = json.dumps({"email": agent.user.email, "password": password})
    response = APIClient().post(
        "/api/v1/auth/token/",
        text.encode(charset),
        content_type=f"application/json; charset={charset}",
    )
    assert response.status_code == 200, response.content
