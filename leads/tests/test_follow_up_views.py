"""The web app's follow-up views: "Due today", "Overdue" and the list sorted by
next follow-up with the leads that have none last."""

from datetime import timedelta

import pytest
from django.utils import timezone

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/"


def _iso(value):
    return value.isoformat().replace("+00:00", "Z")


def _ids(client, params):
    response = client.get(URL, params)
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


def test_follow_up_window_selects_the_day_and_only_the_agents_own(
    auth, agent, other_agent, make_lead
):
    now = timezone.now().replace(microsecond=0)
    start = now - timedelta(hours=1)
    end = now + timedelta(hours=1)
    inside = make_lead(agent=agent, next_follow_up=now)
    at_start = make_lead(agent=agent, next_follow_up=start)
    make_lead(agent=agent, next_follow_up=end)  # the bound is exclusive
    make_lead(agent=agent, next_follow_up=now - timedelta(days=1))
    make_lead(agent=agent)
    make_lead(agent=other_agent, next_follow_up=now)

    ids = _ids(
        auth(agent),
        {
            "follow_up_after": _iso(start),
            "follow_up_before": _iso(end),
            "ordering": "next_follow_up,id",
        },
    )
    assert ids == [at_start.pk, inside.pk]


def test_overdue_is_open_leads_with_a_past_follow_up(auth, agent, make_lead):
    now = timezone.now()
    late = make_lead(agent=agent, next_follow_up=now - timedelta(days=2))
    later = make_lead(agent=agent, next_follow_up=now - timedelta(hours=2))
    make_lead(agent=agent, next_follow_up=now - timedelta(days=1), status="converted")
    make_lead(agent=agent, next_follow_up=now + timedelta(days=1))
    make_lead(agent=agent)

    ids = _ids(
        auth(agent),
        {
            "follow_up_before": _iso(now),
            "status": ["new", "contacted", "qualified"],
            "ordering": "next_follow_up,id",
        },
    )
    assert ids == [late.pk, later.pk]


@pytest.mark.parametrize("ordering", ["next_follow_up,id", "-next_follow_up,id"])
def test_leads_without_follow_up_sort_as_the_index_does(auth, agent, make_lead, ordering):
    """The follow-up ordering is the index's (no filesort at a million leads): a
    lead without a follow-up sorts before every date ascending, after descending,
    on MariaDB and SQLite alike."""
    now = timezone.now()
    none_first = make_lead(agent=agent)
    soon = make_lead(agent=agent, next_follow_up=now + timedelta(hours=1))
    later = make_lead(agent=agent, next_follow_up=now + timedelta(days=1))
    none_last = make_lead(agent=agent)

    ids = _ids(auth(agent), {"ordering": ordering})
    if ordering.startswith("-"):
        assert ids == [later.pk, soon.pk, none_first.pk, none_last.pk]
    else:
        assert ids == [none_first.pk, none_last.pk, soon.pk, later.pk]


@pytest.mark.parametrize("name", ["follow_up_after", "follow_up_before"])
@pytest.mark.parametrize("value", ["today", "2026-01-31", "0001-01-01T00:00:00+14:00"])
def test_bad_follow_up_bounds_are_a_400_naming_the_filter(auth, agent, make_lead, name, value):
    make_lead(agent=agent)
    response = auth(agent).get(URL, {name: value})
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [name]


def test_sorted_follow_up_window_query_count_is_constant(
    auth, agent, make_lead, django_assert_max_num_queries
):
    now = timezone.now()
    for hours in range(12):
        make_lead(agent=agent, next_follow_up=now - timedelta(hours=hours))
    client = auth(agent)
    params = {"follow_up_before": _iso(now), "ordering": "next_follow_up,id", "page_size": 5}
    client.get(URL, params)  # warm the per-process caches (user, token checks)
    with django_assert_max_num_queries(4):
        assert len(_ids(client, params)) == 5
