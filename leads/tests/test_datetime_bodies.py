"""A datetime in a request body is held to the filters' rule (``common.filtering``).

DRF's DateTimeField refused only what the current time zone cannot show, and
stored the rest of years 1 to 9999: years below MariaDB's DATETIME range, and
values a later time zone cannot show. 9999-12-31T20:00:00Z, stored while
``TIME_ZONE`` is UTC, is in year 10000 in India's time zone (+05:30), which
Python cannot hold: once the desk moves to ``Asia/Kolkata`` every read of the
lead is a 500.
"""

import pytest

from leads.models import Lead

pytestmark = pytest.mark.django_db
LIST = "/api/v1/leads/"
BAD = [
    "9999-12-31T23:59:59Z",
    "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59-14:00",
    "0999-12-31T23:59:59Z",
    "2026-01-31T09:30:00",  # no offset
    "2026-01-31",
]


@pytest.mark.parametrize("value", BAD)
def test_a_follow_up_outside_the_range_is_refused_and_nothing_is_stored(
    auth, manager, agent, make_lead, settings, value
):
    settings.TIME_ZONE = "Asia/Kolkata"
    lead = make_lead(agent=agent)
    for who in (manager, agent):
        response = auth(who).patch(f"{LIST}{lead.pk}/", {"next_follow_up": value}, format="json")
        assert response.status_code == 400, response.content[:300]
        assert list(response.json()["error"]["fields"]) == ["next_follow_up"]
    lead.refresh_from_db()
    assert lead.next_follow_up is None
    response = auth(manager).post(
        LIST,
        {"first_name": "Anita", "phone": "+919812345670", "next_follow_up": value},
        format="json",
    )
    assert response.status_code == 400
    assert not Lead.objects.filter(phone="+919812345670").exists()
    assert auth(agent).get(LIST).status_code == 200


def test_a_follow_up_stored_today_is_readable_in_any_time_zone_tomorrow(
    auth, agent, make_lead, settings
):
    lead = make_lead(agent=agent)
    client = auth(agent)
    url = f"{LIST}{lead.pk}/"
    response = client.patch(url, {"next_follow_up": "9999-12-31T20:00:00Z"}, format="json")
    assert response.status_code == 400
    lead.refresh_from_db()
    assert lead.next_follow_up is None
    settings.TIME_ZONE = "Asia/Kolkata"
    assert client.get(LIST).status_code == 200
    assert client.get(url).status_code == 200


@pytest.mark.parametrize(
    ("value", "stored"),
    [
        ("9998-12-31T23:59:59-23:59", "9999-01-01T23:58:59+00:00"),
        ("1000-01-01T00:00:00+23:59", "0999-12-31T00:01:00+00:00"),
        ("2026-01-31T15:00:00+05:30", "2026-01-31T09:30:00+00:00"),
    ],
)
def test_a_follow_up_in_the_range_is_stored_and_shown_in_any_time_zone(
    auth, agent, make_lead, settings, value, stored
):
    lead = make_lead(agent=agent)
    client = auth(agent)
    response = client.patch(f"{LIST}{lead.pk}/", {"next_follow_up": value}, format="json")
    assert response.status_code == 200, response.content[:300]
    lead.refresh_from_db()
    assert lead.next_follow_up.isoformat() == stored
    for zone in ("Pacific/Kiritimati", "Pacific/Pago_Pago", "Asia/Kolkata"):  # +14:00, -11:00
        settings.TIME_ZONE = zone
        assert client.get(LIST).status_code == 200
        assert client.get(f"{LIST}{lead.pk}/").status_code == 200
        assert client.get(f"{LIST}?status=new").status_code == 200
