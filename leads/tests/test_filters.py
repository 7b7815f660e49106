"""The lead list's and the CSV export's filters refuse what they cannot serve.

The attack: datetimes that exist with their offset but not in UTC
(``0001-01-01T00:00:00+14:00`` is in year 0 in UTC, ``9999-12-31T23:59:59-14:00``
in year 10000) made the lead list a 500 (OverflowError while the driver
converted them) and cut the export's stream after its 200 had gone out.
"""

from datetime import UTC, datetime, timedelta

import pytest
from django.db import OperationalError
from django.utils import timezone

from leads.models import Lead

pytestmark = pytest.mark.django_db
LIST = "/api/v1/leads/"
EXPORT = "/api/v1/leads/export.csv"

OUT_OF_RANGE = [
    ("created_before", "0001-01-01T00:00:00+14:00"),
    ("created_after", "9999-12-31T23:59:59-14:00"),
    ("created_after", "0001-01-01T00:00:00+00:01"),
    ("created_before", "9999-12-31T23:59:59.999999-00:01"),
]


def _assert_names(response, name):
    assert response.status_code == 400, response.content[:300]
    assert not response.streaming
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [name]


@pytest.mark.parametrize("url", [LIST, EXPORT])
@pytest.mark.parametrize(("name", "value"), OUT_OF_RANGE)
def test_out_of_range_datetime_is_a_400_naming_the_filter(
    auth, manager, agent, make_lead, url, name, value
):
    make_lead(agent=agent)
    for who in (manager, agent):
        _assert_names(auth(who).get(url, {name: value}), name)


@pytest.mark.parametrize("url", [LIST, EXPORT])
@pytest.mark.parametrize(
    "value",
    [
        "2026-01-31",  # a date is not a date-time
        "2026-01-31T09:30:00",  # no offset: which time zone?
        "2026-02-30T00:00:00Z",  # no such day
        "2026-01-31 09:30:00Z",
        "\uff12\uff10\uff12\uff16-01-31T09:30:00Z",  # full-width digits
        "0999-12-31T23:59:59Z",
        "9999-01-01T00:00:00Z",
    ],
)
def test_datetime_filters_take_rfc3339_between_1000_and_9998(auth, manager, url, value):
    _assert_names(auth(manager).get(url, {"created_after": value}), "created_after")


@pytest.mark.parametrize(
    ("value", "count"),
    [
        ("1000-01-01T00:00:00+23:59", 1),
        ("9998-12-31T23:59:59.999999-23:59", 0),
        ("2026-01-31T15:00:00+05:30", None),
    ],
)
def test_datetimes_at_the_edges_of_the_range_are_served(auth, manager, make_lead, value, count):
    make_lead()
    response = auth(manager).get(LIST, {"created_after": value})
    assert response.status_code == 200, response.content[:300]
    if count is not None:
        assert response.json()["count"] == count
    response = auth(manager).get(EXPORT, {"created_before": value})
    assert response.status_code == 200
    assert b"".join(response.streaming_content).startswith("\ufeffid,".encode())


def test_datetime_filters_compare_instants_whatever_the_offset(auth, manager, make_lead):
    lead = make_lead()
    created = Lead.objects.get(pk=lead.pk).created_at
    ist = (created + timedelta(seconds=1)).astimezone(timezone.get_fixed_timezone(330))
    client = auth(manager)
    assert client.get(LIST, {"created_before": ist.isoformat()}).json()["count"] == 1
    assert client.get(LIST, {"created_after": ist.isoformat()}).json()["count"] == 0
    utc = (created - timedelta(seconds=1)).astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    assert client.get(LIST, {"created_after": utc}).json()["count"] == 1


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("unassigned", "null"),
        ("unassigned", "1"),
        ("unassigned", "True"),
        ("follow_up_due", "yes"),
        ("agent", "1.5"),
        ("agent", "-1"),
        ("agent", "0"),
        ("batch", "99999999999999999999999"),
        ("agent", str(2**63)),
        ("status", "won"),
        ("ordering", "password"),
        ("ordering", "first_name,"),
        ("search", "x\x00"),
        ("search", "x" * 201),
        ("page_size", "-5"),
        ("page", "0"),
        ("page", "abc"),
    ],
)
def test_values_the_schema_does_not_allow_are_refused_not_ignored(
    auth, manager, agent, make_lead, name, value
):
    make_lead(agent=agent)
    for url in (LIST, EXPORT) if name not in ("ordering", "page", "page_size") else (LIST,):
        _assert_names(auth(manager).get(url, {name: value}), name)


def test_a_search_is_refused_before_it_can_outgrow_the_database(auth, manager, agent, make_lead):
    # 3,000 words made an SQL expression deeper than SQLite allows: a 503 for bad input.
    make_lead(agent=agent, first_name="a")
    client = auth(manager)
    _assert_names(client.get(LIST, {"search": "a " * 3000}), "search")
    _assert_names(client.get(EXPORT, {"search": "a " * 3000}), "search")
    _assert_names(client.get("/api/v1/agents/", {"search": "a " * 3000}), "search")
    longest = " ".join(["a"] * 100)  # 199 characters, 100 words: served
    assert client.get(LIST, {"search": longest}).json()["count"] == 1
    assert client.get("/api/v1/agents/", {"search": longest}).status_code == 200


def test_boolean_filters_take_true_and_false(auth, manager, agent, make_lead):
    owned = make_lead(agent=agent)
    free = make_lead()
    client = auth(manager)

    def ids(**query):
        response = client.get(LIST, query)
        assert response.status_code == 200
        return {row["id"] for row in response.json()["results"]}

    assert ids(unassigned="true") == {free.pk}
    assert ids(unassigned="false") == {owned.pk}
    # An empty value is "not given", as before.
    assert ids(unassigned="", status="", agent="", search="") == {owned.pk, free.pk}


def test_largest_id_and_page_size_are_served(auth, manager, make_lead):
    make_lead()
    client = auth(manager)
    response = client.get(LIST, {"agent": str(2**63 - 1)})
    assert response.status_code == 200
    assert response.json()["count"] == 0
    response = client.get(LIST, {"page_size": "9" * 30})
    assert response.status_code == 200
    assert len(response.json()["results"]) == 1


def test_export_runs_its_query_before_the_response_starts(auth, manager, make_lead, monkeypatch):
    """A query that fails is an error answer, never a 200 whose stream is cut."""
    from leads import exporting

    make_lead()

    def failing_rows(queryset, **kwargs):
        raise OperationalError("server has gone away")
        yield  # pragma: no cover - a generator, like iter_rows

    monkeypatch.setattr(exporting, "iter_rows", failing_rows)
    response = auth(manager).get(EXPORT)
    assert response.status_code == 503
    assert not response.streaming
    assert response.json()["error"]["code"] == "database_unavailable"


def test_export_with_filters_streams_every_matching_row(auth, manager, agent, make_lead):
    mine = [make_lead(agent=agent) for _ in range(3)]
    make_lead()
    since = datetime(2000, 1, 1, tzinfo=UTC).isoformat()
    response = auth(manager).get(
        EXPORT, {"agent": agent.pk, "created_after": since, "unassigned": "false"}
    )
    assert response.status_code == 200
    lines = b"".join(response.streaming_content).decode().splitlines()
    assert [int(line.split(",")[0]) for line in lines[1:]] == [lead.pk for lead in mine]
