"""A lead's ``extra`` holds only what every reader of the lead can take.

Fuzzing found it: ``PATCH {"extra": {"n": 876050756799401203597312}}`` was
stored, and the lead list's encoder (orjson) cannot write an integer past 64
bits, so the PATCH's own answer and every list holding the lead were a 500.
"""

import pytest

from leads.api.serializers import LeadCreateInput, LeadUpdateInput
from leads.models import Lead

pytestmark = pytest.mark.django_db
LIST = "/api/v1/leads/"


def _nested(depth):
    value = "bottom"
    for _ in range(depth - 1):
        value = [value]
    return {"x": value}  # depth levels of objects and lists


@pytest.mark.parametrize(
    "extra",
    [
        {"n": 876050756799401203597312},
        {"n": -(2**63) - 1},
        {"deep": [[{"n": 2**64}]]},
        {"n": [1, 2, 3, 2**63]},
        {"deep": _nested(40)},
    ],
)
def test_extra_every_reader_cannot_take_is_a_400_and_nothing_changes(
    auth, manager, make_lead, extra
):
    lead = make_lead(extra={"city": "Pune"})
    client = auth(manager)
    response = client.patch(f"{LIST}{lead.pk}/", {"extra": extra}, format="json")
    assert response.status_code == 400, response.content[:300]
    # The strict JSON parser (common/parsers.py) refuses such a body before any view.
    assert response.json()["error"]["code"] == "parse_error"
    lead.refresh_from_db()
    assert lead.extra == {"city": "Pune"}
    response = client.post(
        LIST, {"first_name": "A", "phone": "+919812345670", "extra": extra}, format="json"
    )
    assert response.status_code == 400
    assert not Lead.objects.filter(phone="+919812345670").exists()


@pytest.mark.parametrize("extra", [{"n": 2**63}, {"n": [1, -(2**63) - 1]}, {"deep": _nested(40)}])
def test_the_lead_serializers_refuse_such_extra_whatever_parsed_it(extra):
    for serializer in (LeadCreateInput, LeadUpdateInput):
        data = {"first_name": "A", "phone": "+919812345670", "extra": extra}
        form = serializer(data=data, partial=serializer is LeadUpdateInput)
        assert not form.is_valid()
        assert list(form.errors) == ["extra"]


def test_extra_at_the_limits_is_kept(auth, manager, make_lead):
    lead = make_lead()
    extra = {"max": 2**63 - 1, "min": -(2**63), "big float": 1e18, "deep": _nested(30)}
    response = auth(manager).patch(f"{LIST}{lead.pk}/", {"extra": extra}, format="json")
    assert response.status_code == 200, response.content[:300]
    assert response.json()["extra"] == extra
    lead.refresh_from_db()
    assert lead.extra == extra


def test_a_lead_whose_extra_orjson_cannot_write_still_lists(auth, manager, agent, make_lead):
    # Stored before the API refused it, or through the admin: the lists still answer.
    lead = make_lead(agent=agent, extra={"n": 2**70})
    for who in (manager, agent):
        client = auth(who)
        for url in (LIST, f"{LIST}?status=new", f"{LIST}{lead.pk}/"):
            response = client.get(url)
            assert response.status_code == 200, (url, response.content[:300])
    row = auth(manager).get(f"{LIST}{lead.pk}/").json()
    assert row["extra"] == {"n": 2**70}


def test_extra_over_the_size_kept_per_lead_is_a_400_naming_it(auth, manager, make_lead, settings):
    # An import keeps at most IMPORT_MAX_EXTRA_BYTES of JSON per lead; so does the API
    # (a manager could store megabytes per lead that every list then carries).
    settings.IMPORT_MAX_EXTRA_BYTES = 1000
    lead = make_lead(extra={"city": "Pune"})
    client = auth(manager)
    fits = {"note": "x" * 980}  # {"note":"…"} is 991 bytes
    big = {"note": "é" * 500}  # 1,000 characters of UTF-8, 1,011 bytes as JSON
    response = client.patch(f"{LIST}{lead.pk}/", {"extra": big}, format="json")
    assert response.status_code == 400
    error = response.json()["error"]
    assert list(error["fields"]) == ["extra"]
    assert "1,011 bytes" in error["fields"]["extra"][0] and "1,000" in error["fields"]["extra"][0]
    lead.refresh_from_db()
    assert lead.extra == {"city": "Pune"}
    new = {"first_name": "A", "phone": "+919812345670", "extra": big}
    assert client.post(LIST, new, format="json").status_code == 400
    assert not Lead.objects.filter(phone="+919812345670").exists()
    assert client.patch(f"{LIST}{lead.pk}/", {"extra": fits}, format="json").status_code == 200
    lead.refresh_from_db()
    assert lead.extra == fits
