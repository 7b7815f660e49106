"""The lead list's follow-up views, prefix search, stable orderings and cursor paging."""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from common import dataversion, filtering
from common.filtering import KeysetPageNumberPagination, encode_cursor
from leads.models import Lead

pytestmark = pytest.mark.django_db
URL = "/api/v1/leads/"


def _ids(response):
    assert response.status_code == 200, response.content[:300]
    return [row["id"] for row in response.json()["results"]]


def _refused(response, name):
    assert response.status_code == 400, response.content[:300]
    error = response.json()["error"]
    assert error["code"] == "validation_error"
    assert list(error["fields"]) == [name]


@pytest.fixture
def follow_ups(agent, other_agent, make_lead):
    now = timezone.now()
    # Within today whatever the hour: a minute ago is overdue, a minute ahead is due
    # today unless the day ends within the minute (not at the test's hours).
    leads = {
        "overdue_old": make_lead(agent=agent, next_follow_up=now - timedelta(days=3)),
        "overdue_recent": make_lead(agent=agent, next_follow_up=now - timedelta(minutes=1)),
        "due_soon": make_lead(agent=agent, next_follow_up=now + timedelta(minutes=1)),
        "due_later": make_lead(agent=agent, next_follow_up=now + timedelta(seconds=90)),
        "tomorrow": make_lead(agent=agent, next_follow_up=now + timedelta(days=1, hours=1)),
        "none": make_lead(agent=agent),
        "closed_overdue": make_lead(
            agent=agent, status="converted", next_follow_up=now - timedelta(hours=2)
        ),
        "lost_due": make_lead(
            agent=agent, status="lost", next_follow_up=now + timedelta(minutes=2)
        ),
        "others_overdue": make_lead(agent=other_agent, next_follow_up=now - timedelta(hours=1)),
    }
    return leads


def test_overdue_view_lists_the_agents_open_leads_past_their_follow_up_oldest_first(
    auth, agent, follow_ups
):
    ids = _ids(auth(agent).get(URL, {"view": "overdue"}))
    assert ids == [follow_ups["overdue_old"].pk, follow_ups["overdue_recent"].pk]


def test_due_today_view_lists_open_leads_due_from_now_to_midnight_soonest_first(
    auth, agent, follow_ups
):
    now = timezone.localtime()
    if now.hour == 23 and now.minute >= 57:
        pytest.skip("the day ends within the fixture's follow-ups")
    ids = _ids(auth(agent).get(URL, {"view": "due_today"}))
    assert ids == [follow_ups["due_soon"].pk, follow_ups["due_later"].pk]


def test_follow_up_views_take_an_explicit_ordering_and_the_other_filters(auth, agent, follow_ups):
    client = auth(agent)
    ids = _ids(client.get(URL, {"view": "overdue", "ordering": "-next_follow_up"}))
    assert ids == [follow_ups["overdue_recent"].pk, follow_ups["overdue_old"].pk]
    Lead.objects.filter(pk=follow_ups["overdue_old"].pk).update(status="contacted")
    assert _ids(client.get(URL, {"view": "overdue", "status": "contacted"})) == [
        follow_ups["overdue_old"].pk
    ]
    assert client.get(URL, {"view": "overdue"}).json()["count"] == 2


def test_manager_sees_every_agents_overdue_leads(auth, manager, follow_ups):
    ids = _ids(auth(manager).get(URL, {"view": "overdue"}))
    assert set(ids) == {
        follow_ups["overdue_old"].pk,
        follow_ups["overdue_recent"].pk,
        follow_ups["others_overdue"].pk,
    }


@pytest.mark.parametrize("value", ["today", "DUE_TODAY", "overdue,due_today", "x\x00"])
def test_an_unknown_view_is_a_400_naming_it(auth, agent, follow_ups, value):
    _refused(auth(agent).get(URL, {"view": value}), "view")


def test_an_empty_view_means_no_view(auth, agent, follow_ups):
    assert len(_ids(auth(agent).get(URL, {"view": ""}))) == 8


def test_export_takes_the_views_too(auth, agent, follow_ups):
    response = auth(agent).get("/api/v1/leads/export.csv", {"view": "overdue"})
    assert response.status_code == 200
    text = b"".join(response.streaming_content).decode("utf-8-sig")
    assert len(text.strip().splitlines()) == 3  # header + two overdue leads


def test_search_matches_the_start_of_a_name_or_email(auth, manager, make_lead):
    kiran = make_lead(first_name="Kiran", last_name="Sharma", email="k.sharma@example.com")
    meera = make_lead(first_name="Meera", last_name="Kiranmayi", email="meera@example.org")
    client = auth(manager)
    assert set(_ids(client.get(URL, {"search": "kir"}))) == {kiran.pk, meera.pk}
    assert _ids(client.get(URL, {"search": "KIRAN SHAR"})) == [kiran.pk]
    assert _ids(client.get(URL, {"search": "k.sharma@"})) == [kiran.pk]
    assert _ids(client.get(URL, {"search": "meera@example.org"})) == [meera.pk]
    # A prefix, not a substring: the middle of a word is not searched.
    assert _ids(client.get(URL, {"search": "arma"})) == []
    assert _ids(client.get(URL, {"search": "example"})) == []


def test_an_address_with_digits_is_searched_as_words_not_as_a_phone(auth, manager, make_lead):
    kiara = make_lead(first_name="Kiara", email="kiara.bose540762@example.com")
    make_lead(first_name="Bose", phone="+919540762000")
    client = auth(manager)
    assert _ids(client.get(URL, {"search": "kiara.bose540762@example.com"})) == [kiara.pk]
    assert _ids(client.get(URL, {"search": "kiara.bose540762"})) == [kiara.pk]


def test_part_of_a_phone_finds_the_numbers_it_begins(auth, manager, agent, make_lead):
    first = make_lead(phone="+919876543210", agent=agent)
    second = make_lead(phone="+919876543299")
    make_lead(phone="+918876543210")
    client = auth(manager)
    # Too short to be a number: the start of the E.164 value, as typed.
    assert set(_ids(client.get(URL, {"search": "098765 432"}))) == {first.pk, second.pk}
    assert set(_ids(client.get(URL, {"search": "+91 98765-43"}))) == {first.pk, second.pk}
    assert _ids(client.get(URL, {"search": "00 91 98765 43299"})) == [second.pk]
    # Not the middle of a number, and an agent still sees only its own.
    assert _ids(client.get(URL, {"search": "876543"})) == []
    assert _ids(auth(agent).get(URL, {"search": "98765 432"})) == [first.pk]


def test_search_words_are_each_matched_within_the_other_filters(auth, manager, agent, make_lead):
    both = make_lead(first_name="Kiran", last_name="Rao", agent=agent, status="new")
    make_lead(first_name="Kiran", last_name="Das", agent=agent, status="new")
    make_lead(first_name="Rao", last_name="Kiran", status="new")
    make_lead(first_name="Kiran", last_name="Rao", agent=agent, status="lost")
    assert _ids(auth(agent).get(URL, {"search": "rao kir", "status": "new"})) == [both.pk]
    assert len(_ids(auth(manager).get(URL, {"search": "rao kir", "status": "new"}))) == 2


def test_search_treats_like_wildcards_as_text(auth, manager, make_lead):
    make_lead(first_name="Kiran")
    percent = make_lead(first_name="100%Sure")
    client = auth(manager)
    assert _ids(client.get(URL, {"search": "%"})) == []
    assert _ids(client.get(URL, {"search": "_iran"})) == []
    assert _ids(client.get(URL, {"search": "100%"})) == [percent.pk]


def test_ties_in_an_ordering_are_broken_by_id_in_its_direction(auth, agent, make_lead):
    leads = [make_lead(agent=agent, status="contacted") for _ in range(5)]
    ids = sorted(lead.pk for lead in leads)
    client = auth(agent)
    assert _ids(client.get(URL, {"ordering": "status"})) == ids
    assert _ids(client.get(URL, {"ordering": "-status"})) == ids[::-1]
    # Paged one by one, every lead shows exactly once.
    paged = [
        _ids(client.get(URL, {"ordering": "status", "page_size": 1, "page": n}))[0]
        for n in range(1, 6)
    ]
    assert paged == ids


def _walk(client, first, direction="next"):
    seen, url = [], first
    while url:
        response = client.get(url)
        seen.append(_ids(response))
        url = response.json()[direction]
    return seen


def test_cursor_pages_walk_the_list_both_ways(auth, manager, make_lead):
    leads = [make_lead() for _ in range(7)]
    newest_first = sorted((lead.pk for lead in leads), reverse=True)
    client = auth(manager)
    start = f"{URL}?page_size=3&cursor={encode_cursor(newest_first[0] + 1)}"
    pages = _walk(client, start)
    assert pages == [newest_first[0:3], newest_first[3:6], newest_first[6:7]]
    last = client.get(start).json()
    assert last["count"] == 7
    # From the last page back to the first through the previous links.
    tail = client.get(f"{URL}?page_size=3&cursor={encode_cursor(newest_first[5])}").json()
    assert [row["id"] for row in tail["results"]] == newest_first[6:7]
    assert tail["next"] is None
    back = _walk(client, tail["previous"], "previous")
    assert back == [newest_first[3:6], newest_first[0:3]]


def test_cursor_pages_follow_ordering_id_and_the_filters(auth, agent, other_agent, make_lead):
    mine = [make_lead(agent=agent) for _ in range(4)]
    make_lead(agent=other_agent)
    oldest_first = sorted(lead.pk for lead in mine)
    client = auth(agent)
    start = f"{URL}?ordering=id&page_size=2&cursor={encode_cursor(oldest_first[0] - 1)}"
    assert _walk(client, start) == [oldest_first[:2], oldest_first[2:]]
    # An agent's cursor never reaches another agent's leads, whatever the id.
    response = client.get(URL, {"cursor": encode_cursor(10**12)})
    assert sorted(_ids(response)) == oldest_first
    assert response.json()["count"] == 4


@pytest.mark.parametrize("value", ["abc", "a", "c5", "a-1", "a 5", "a5\n", "A5", "a" + "9" * 20])
def test_a_bad_cursor_is_a_400_naming_it(auth, manager, make_lead, value):
    make_lead()
    _refused(auth(manager).get(URL, {"cursor": value}), "cursor")


def test_cursor_refuses_a_page_number_or_another_ordering(auth, manager, make_lead):
    make_lead()
    client = auth(manager)
    cursor = encode_cursor(1)
    _refused(client.get(URL, {"cursor": cursor, "page": 2}), "cursor")
    _refused(client.get(URL, {"cursor": cursor, "ordering": "first_name"}), "cursor")


def test_cursor_page_query_count_is_constant(
    auth, manager, agent, make_lead, django_assert_max_num_queries
):
    for _ in range(30):
        make_lead(agent=agent)
    top = Lead.objects.order_by("-id").values_list("id", flat=True).first()
    for client in (auth(manager), auth(agent)):
        with django_assert_max_num_queries(4):  # user (+profile), count, page
            response = client.get(URL, {"cursor": encode_cursor(top + 1), "page_size": 10})
        assert len(_ids(response)) == 10


def test_deep_page_numbers_link_on_by_cursor(auth, manager, make_lead, monkeypatch):
    monkeypatch.setattr(KeysetPageNumberPagination, "DEEP_OFFSET", 4)
    leads = [make_lead() for _ in range(9)]
    newest_first = sorted((lead.pk for lead in leads), reverse=True)
    client = auth(manager)
    shallow = client.get(URL, {"page_size": 2, "page": 2}).json()
    assert "page=3" in shallow["next"] and "cursor" not in shallow["next"]
    for query in ({"page_size": 2, "page": 3}, {"page_size": 2, "page": 3, "status": "new"}):
        deep = client.get(URL, query).json()
        assert [row["id"] for row in deep["results"]] == newest_first[4:6]
        assert "cursor=" in deep["next"] and "page=" not in deep["next"]
        assert "cursor=" in deep["previous"]
        assert _ids(client.get(deep["next"])) == newest_first[6:8]
        assert _ids(client.get(deep["previous"])) == newest_first[2:4]


def test_the_schema_documents_view_and_cursor(client):
    from drf_spectacular.generators import SchemaGenerator

    schema = SchemaGenerator().get_schema(request=None, public=True)
    names = {p["name"] for p in schema["paths"]["/api/v1/leads/"]["get"]["parameters"]}
    assert {"view", "cursor", "page", "search", "ordering"} <= names


def test_deep_pages_read_ids_first_then_the_rows(
    auth, manager, agent, make_lead, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(KeysetPageNumberPagination, "DEEP_OFFSET", 4)
    leads = [make_lead(agent=agent, status="new" if n % 2 else "lost") for n in range(12)]
    new_first = sorted((lead.pk for lead in leads if lead.status == "new"), reverse=True)
    client = auth(manager)
    client.get(URL, {"status": "new"})  # the total is cached for managers
    # user, ids of the page, its rows
    with django_assert_num_queries(3):
        response = client.get(URL, {"status": "new", "page_size": 2, "page": 3})
    assert _ids(response) == new_first[4:6]
    assert response.json()["count"] == 6
    assert (
        _ids(client.get(URL, {"ordering": "first_name", "page_size": 2, "page": 4}))
        == sorted((lead.pk for lead in leads), key=lambda pk: Lead.objects.get(pk=pk).first_name)[
            6:8
        ]
    )
    agent_page = auth(agent).get(URL, {"ordering": "-next_follow_up", "page_size": 5, "page": 2})
    assert len(_ids(agent_page)) == 5


def test_a_cursor_past_the_largest_id_is_served(auth, manager, make_lead):
    lead = make_lead()
    client = auth(manager)
    # Newest first: "after" is a smaller id, "before" a larger one.
    assert _ids(client.get(URL, {"cursor": "a" + "9" * 19})) == [lead.pk]
    assert _ids(client.get(URL, {"cursor": "a0"})) == []
    assert _ids(client.get(URL, {"cursor": "b0"})) == [lead.pk]
    assert _ids(client.get(URL, {"cursor": "b" + "9" * 19})) == []


def test_deep_pages_by_number_seek_from_cached_anchors(
    auth, manager, make_lead, monkeypatch, django_assert_num_queries
):
    monkeypatch.setattr(KeysetPageNumberPagination, "DEEP_OFFSET", 4)
    monkeypatch.setattr(filtering, "ANCHOR_STEP", 4)
    leads = [make_lead(status="new" if n % 3 else "lost") for n in range(15)]
    newest_first = sorted((lead.pk for lead in leads), reverse=True)
    client = auth(manager)

    def page(number, **params):
        return _ids(client.get(URL, {"page_size": 2, "page": number, **params}))

    assert page(4) == newest_first[6:8]  # counts the total, then up to the anchor at 4
    # user, the page's ids from the anchor, its rows
    with django_assert_num_queries(3):
        assert page(4) == newest_first[6:8]
    assert [page(n) for n in range(3, 9)] == [newest_first[k : k + 2] for k in range(4, 16, 2)]
    assert page("last") == newest_first[14:]
    new = [pk for pk in newest_first if Lead.objects.get(pk=pk).status == "new"]
    assert [page(n, status="new") for n in (3, 4, 5)] == [new[4:6], new[6:8], new[8:10]]
    # A write bumps the data version: the anchors are found again.
    newer = make_lead()
    dataversion.bump()
    assert page(4) == [newest_first[5], newest_first[6]]
    assert page(1)[0] == newer.pk
    assert page("last") == newest_first[13:]
    # Ascending id order seeks the other way.
    assert page(4, ordering="id") == sorted(newest_first)[6:8]


def test_managers_totals_by_status_and_owner_come_from_the_counters(
    auth, manager, agent, other_agent, make_lead
):
    for n in range(9):
        owner = (agent, other_agent, None)[n % 3]
        make_lead(agent=owner, status=("new", "lost", "contacted", "new")[n % 4])
    client = auth(manager)
    cases = [
        {},
        {"status": "new"},
        {"status": ["new", "lost"]},
        {"agent": agent.pk},
        {"agent": agent.pk, "status": "new"},
        {"unassigned": "true"},
        {"unassigned": "false", "status": "new"},
        {"unassigned": "true", "agent": agent.pk},
        {"agent": 10**12},
        {"status": "", "agent": ""},
    ]
    for params in cases:
        dataversion.bump()  # nothing cached: each total is computed here
        with CaptureQueriesContext(connection) as captured:
            response = client.get(URL, {**params, "page_size": 1})
        expected = len(_ids(client.get(URL, {**params, "page_size": 100})))
        assert response.json()["count"] == expected, params
        counts = [q["sql"] for q in captured if "COUNT(" in q["sql"].upper()]
        assert counts == [], (params, counts)
    # An agent's own totals too, never another agent's rows.
    own = auth(agent)
    for params in [{}, {"status": "new"}, {"ordering": "first_name"}, {"agent": other_agent.pk}]:
        dataversion.bump()
        with CaptureQueriesContext(connection) as captured:
            response = own.get(URL, {**params, "page_size": 1})
        expected = len(_ids(own.get(URL, {**params, "page_size": 100})))
        assert response.json()["count"] == expected, params
        assert not [q for q in captured if "COUNT(" in q["sql"].upper()], params
    # Any other filter is counted from the leads.
    for user in (manager, agent):
        dataversion.bump()
        with CaptureQueriesContext(connection) as captured:
            auth(user).get(URL, {"status": "new", "search": "Lead"})
        assert any("COUNT(" in q["sql"] for q in captured)
