"""The assignment history's filters refuse what they cannot serve.

The attack: ``assigned_after=9999-12-31T23:59:59-14:00`` (year 10000 in UTC)
made the list a 500 (OverflowError while the driver converted it), and a
``lead`` wider than a BIGINT did the same on SQLite.
"""

import pytest

from assignments.models import Assignment

pytestmark = pytest.mark.django_db
URL = "/api/v1/assignments/"


def _assert_names(response, name):
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [name]


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("assigned_after", "9999-12-31T23:59:59-14:00"),
        ("assigned_before", "0001-01-01T00:00:00+14:00"),
        ("assigned_after", "2026-01-31"),
        ("assigned_before", "2026-01-31T09:30:00"),
        ("lead", "1.2666191387349715e+25"),
        ("lead", "99999999999999999999999"),
        ("agent", "1.5"),
        ("batch", "-1"),
        ("open", "null"),
        ("open", "1"),
        ("reason", "stolen"),
        ("strategy", "random"),
        ("ordering", "lead__phone"),
        ("page_size", "0"),
    ],
)
def test_bad_filter_values_are_a_400_naming_the_filter(
    auth, manager, agent, make_lead, name, value
):
    make_lead(agent=agent)
    for who in (manager, agent):
        _assert_names(auth(who).get(URL, {name: value}), name)


def test_filters_select_the_rows(auth, manager, agent, other_agent, make_lead):
    mine = make_lead(agent=agent)
    theirs = make_lead(agent=other_agent)
    Assignment.objects.filter(lead=theirs).update(ended_at="2026-01-01T00:00:00Z")
    client = auth(manager)

    def leads(**query):
        response = client.get(URL, query)
        assert response.status_code == 200, response.content[:300]
        return {row["lead"] for row in response.json()["results"]}

    assert leads(open="true") == {mine.pk}
    assert leads(open="false") == {theirs.pk}
    assert leads(agent=str(other_agent.pk)) == {theirs.pk}
    assert leads(assigned_after="1000-01-01T00:00:00+23:59") == {mine.pk, theirs.pk}
    assert leads(assigned_before="9998-12-31T23:59:59-23:59") == {mine.pk, theirs.pk}
    assert leads(assigned_after="9998-12-31T23:59:59-23:59") == set()
    assert leads(reason="manual", ordering="-id,assigned_at") == {mine.pk, theirs.pk}
    # The agent sees its own rows whatever it asks for.
    response = auth(agent).get(URL, {"agent": str(other_agent.pk)})
    assert response.json()["count"] == 0


def test_history_shows_who_assigned_as_null_for_the_system(auth, manager, agent, make_lead):
    # Rows written by imports and commands have no user: the schema says nullable.
    make_lead(agent=agent)
    row = auth(manager).get(URL).json()["results"][0]
    assert row["assigned_by"] is None
