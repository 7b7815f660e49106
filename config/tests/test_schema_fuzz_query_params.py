"""Every query parameter of every GET operation answers as the OpenAPI schema says.

The operations and their parameters are read from the schema itself, so a new
list or a new filter is covered the day it appears. Each parameter is sent
hostile values (huge and negative numbers, ``null``, arrays, NUL bytes, very
long strings, datetimes that overflow in UTC, ...) and the answer must be what
the parameter's published schema implies: a value the schema allows is served
(200; a page past the last one is a 404), any other value is a 400
``validation_error`` naming the parameter. Never a 500, never a value silently
ignored.
"""

import math
import re
from datetime import datetime

import pytest
from drf_spectacular.generators import SchemaGenerator

from assignments.models import Assignment
from leads.models import ImportBatch, LeadActivity

pytestmark = pytest.mark.django_db

HOSTILE = [
    "",
    "0",
    "1",
    "-5",
    "007",
    "1.5",
    "1e400",
    "NaN",
    "-Infinity",
    "99999999999999999999999999",
    "9" * 5000,  # int() refuses more than 4,300 digits
    "0" * 30,
    str(2**63 - 1),
    str(2**63),
    "true",
    "false",
    "null",
    "True",
    "[1,2]",
    "{}",
    "a\x00b",
    "\x00",
    "x" * 5000,
    "é" * 100,
    " 1",
    "\uff11",  # FULLWIDTH DIGIT ONE: int() would read it
    "1_000",  # and this
    "0001-01-01T00:00:00+14:00",
    "9999-12-31T23:59:59-14:00",
    "1000-01-01T00:00:00+23:59",
    "9998-12-31T23:59:59.999999-23:59",
    "2026-02-30T00:00:00Z",
    "2026-01-31",
    "2026-01-31T09:30:00",
    "2026-01-31T09:30:00.1234567Z",
    "new",
    "manual",
    "-id",
    "id,-id",
    "id,",
    "password",
    "last",
    "1\n",
    "id\n",
]


def _get_operations():
    """``(path, query parameters)`` of every GET operation that has any."""
    schema = SchemaGenerator().get_schema(request=None, public=True)
    cases = []
    for path, operations in schema["paths"].items():
        parameters = [
            p for p in operations.get("get", {}).get("parameters", []) if p["in"] == "query"
        ]
        if parameters:
            cases.append(pytest.param(path, parameters, id=path))
    return cases


def _valid(value, schema):
    """Whether ``value`` (one query value) is allowed by the parameter's ``schema``."""
    if "anyOf" in schema:
        return any(_valid(value, branch) for branch in schema["anyOf"])
    kind = schema.get("type")
    if "enum" in schema:
        return value in schema["enum"]
    if kind == "integer":
        if not re.fullmatch(r"[0-9]+", value):
            return False
        digits = value.lstrip("0") or "0"
        if len(digits) > 30:  # more than any maximum here, and int() may refuse it
            return "maximum" not in schema
        number = int(digits)
        return schema.get("minimum", -math.inf) <= number <= schema.get("maximum", math.inf)
    if kind == "boolean":
        return value in ("true", "false")
    if kind == "string":
        if len(value) > schema.get("maxLength", len(value)):
            return False
        # fullmatch: like ECMA-262, "$" must not match before a trailing newline.
        if "pattern" in schema and not re.fullmatch(schema["pattern"], value):
            return False
        if schema.get("format") == "date-time":
            try:
                datetime.fromisoformat(value)
            except ValueError:
                return False
        return True
    raise AssertionError(f"no rule for {schema}")


def _expected(parameter, values):
    if all(value == "" for value in values):
        assert parameter.get("allowEmptyValue"), parameter
        return 200
    schema = parameter["schema"]
    items = schema["items"] if schema.get("type") == "array" else schema
    if not all(_valid(value, items) for value in values if value != ""):
        return 400
    if parameter["name"] == "page" and values[-1] not in ("1", "last", ""):
        return 404  # the desk has one page of everything
    return 200


@pytest.fixture
def desk(manager, agent, other_agent, make_lead):
    """A little of everything each list shows."""
    batch = ImportBatch.objects.create(file_name="june.csv", sha256="0" * 64, created_by=manager)
    lead = make_lead(agent=agent, batch=batch)
    make_lead(agent=other_agent)
    make_lead()
    LeadActivity.objects.create(lead=lead, kind="note", new_value="called", actor=agent.user)
    assert Assignment.objects.count() == 2
    return lead


@pytest.mark.parametrize(("path", "parameters"), _get_operations())
def test_query_parameters_answer_as_their_schema_says(auth, manager, agent, desk, path, parameters):
    url = path.replace("{id}", str(desk.pk))
    # The agents' own lead list is served by its own code path without filters.
    clients = [auth(manager)] + ([auth(agent)] if path == "/api/v1/leads/" else [])
    for parameter in parameters:
        name = parameter["name"]
        values = [[value] for value in HOSTILE]
        if parameter["schema"].get("type") == "array":
            values += [["new", "lost"], ["new", "won"], ["", "new"]]
        for client in clients:
            for sent in values:
                response = client.get(url, {name: sent})
                expected = _expected(parameter, sent)
                assert response.status_code == expected, (name, sent, response.content[:300])
                if response.streaming:
                    assert b"".join(response.streaming_content)
                elif expected == 400:
                    error = response.json()["error"]
                    assert (error["code"], list(error["fields"])) == ("validation_error", [name])
        # A scalar given twice: the last value counts (Django's rule); never a 500.
        for sent in (["1", "x\x00"], ["x", "1"], ["9" * 40, "-1"]):
            response = clients[0].get(url, {name: sent})
            assert response.status_code in (200, 400, 404), (name, sent, response.content[:300])
