"""The conditions as data: validation names the bad part; matching is case-insensitive."""

from dataclasses import dataclass

import pytest

from routing.matching import (
    MAX_CONDITIONS,
    ConditionError,
    Router,
    Rule,
    attribute,
    phone_country,
    validate_conditions,
)


@pytest.mark.parametrize(
    ("phone", "country"),
    [
        ("+971501234567", "AE"),
        ("+919812345678", "IN"),
        ("+966501234567", "SA"),
        ("+12025550123", "US"),  # +1 is shared: Washington DC
        ("+14165550123", "CA"),  # +1 416 is Toronto
        ("+442079460000", "GB"),
        ("+79161234567", "RU"),
        ("+77011234567", "KZ"),
        ("", ""),
        ("0501234567", ""),
        ("+", ""),
        ("+999123", ""),
    ],
)
def test_phone_country_is_the_region_of_the_e164_number(phone, country):
    assert phone_country(phone) == country


def _rule(conditions, rule_id=1, position=1, team=7):
    return Rule.from_data(
        {
            "id": rule_id,
            "name": f"r{rule_id}",
            "position": position,
            "conditions": validate_conditions(conditions),
            "team": team,
        }
    )


LEAD = {
    "phone": "+971501234567",
    "email": "Omar@Example.AE",
    "status": "new",
    "source": "expo-2026.csv",
    "extra": {"City": " Dubai ", "Language": "Arabic"},
}


@pytest.mark.parametrize(
    ("condition", "matches"),
    [
        ({"field": "phone_country", "op": "eq", "value": "ae"}, True),
        ({"field": "phone_country", "op": "in", "value": ["SA", "AE"]}, True),
        ({"field": "phone_country", "op": "eq", "value": "IN"}, False),
        ({"field": "email_domain", "op": "eq", "value": "example.ae"}, True),
        ({"field": "source", "op": "startswith", "value": "EXPO"}, True),
        ({"field": "source", "op": "contains", "value": "2026"}, True),
        ({"field": "extra.City", "op": "eq", "value": "dubai"}, True),
        ({"field": "extra.city", "op": "eq", "value": "DUBAI"}, True),  # header case-insensitive
        ({"field": "extra.Product", "op": "empty"}, True),
        ({"field": "extra.City", "op": "empty"}, False),
        ({"field": "extra.Product", "op": "eq", "value": "x"}, False),
        ({"field": "status", "op": "eq", "value": "NEW"}, True),
    ],
)
def test_each_operator_compares_case_insensitively(condition, matches):
    assert (Router([_rule([condition])]).match(LEAD) is not None) is matches


@dataclass
class ImportRow:  # what Router.row_matcher reads of an import's row
    phone: str
    email: str
    extra: dict


@pytest.mark.parametrize(
    "condition",
    [
        {"field": "phone_country", "op": "in", "value": ["SA", "AE"]},
        {"field": "phone_country", "op": "eq", "value": "us"},
        {"field": "email_domain", "op": "eq", "value": "example.ae"},
        {"field": "email_domain", "op": "empty"},
        {"field": "source", "op": "startswith", "value": "EXPO"},
        {"field": "source", "op": "eq", "value": "website"},
        {"field": "extra.City", "op": "eq", "value": "dubai"},
        {"field": "extra.city", "op": "eq", "value": "PUNE"},
        {"field": "extra.Product", "op": "empty"},
    ],
)
def test_an_import_row_matches_as_the_same_lead_would(condition):
    rows = [
        ImportRow("+971501234567", "Omar@Example.AE", {"City": " Dubai ", "Language": "Arabic"}),
        ImportRow("+919812345678", "", {"city": "Pune", "Source": "Website"}),
        ImportRow("+12025550123", "x@y.us", {}),
        ImportRow("+919812345679", "", {"Source": " ", "Product": "Gold"}),
    ]
    router = Router([_rule([condition])])
    match_row = router.row_matcher("expo-2026.csv")
    for row in rows:
        lead = {"phone": row.phone, "email": row.email, "extra": row.extra}
        assert match_row(row).rule is router.match({**lead, "source": "expo-2026.csv"}), row
    shared = {match_row(row) for row in rows}
    assert {m.rule for m in shared} == {None, router.rules[0]}  # holds for some rows only
    assert len(shared) == 2  # one Matched per rule, shared by its rows


def test_a_source_column_wins_over_the_file_name():
    lead = {**LEAD, "extra": {"Source": "Website"}}
    assert attribute(lead, "source") == "website"
    assert attribute({**LEAD, "extra": {}}, "source") == "expo-2026.csv"


def test_the_first_matching_rule_in_position_order_wins():
    gulf = _rule([{"field": "phone_country", "op": "in", "value": ["AE"]}], 1, position=2)
    everyone = _rule([], 2, position=3)
    dubai = _rule([{"field": "extra.City", "op": "eq", "value": "Dubai"}], 3, position=1)
    router = Router([everyone, gulf, dubai])
    assert router.match(LEAD).id == 3
    assert router.match({"phone": "+919812345678"}).id == 2  # the catch-all
    assert router.match(LEAD).id == 3  # memoized, same answer


@pytest.mark.parametrize(
    ("conditions", "path"),
    [
        ("phone_country", "conditions"),
        ([{"field": "nope", "op": "eq", "value": "x"}], "conditions[0].field"),
        ([{"field": 5, "op": "eq", "value": "x"}], "conditions[0].field"),
        ([{"field": "extra.", "op": "eq", "value": "x"}], "conditions[0].field"),
        ([{"field": "status", "op": "regex", "value": ".*"}], "conditions[0].op"),
        ([{"field": "status", "op": "in", "value": []}], "conditions[0].value"),
        ([{"field": "status", "op": "in", "value": "new"}], "conditions[0].value"),
        ([{"field": "status", "op": "in", "value": ["new", 3]}], "conditions[0].value"),
        ([{"field": "status", "op": "eq", "value": 3}], "conditions[0].value"),
        ([{"field": "status", "op": "eq", "value": {"a": {"b": ["c"]}}}], "conditions[0].value"),
        ([{"field": "status", "op": "eq"}], "conditions[0].value"),
        ([{"field": "status", "op": "eq", "value": "  "}], "conditions[0].value"),
        ([{"field": "status", "op": "eq", "value": "x", "extra": 1}], "conditions[0]"),
        ([["status", "eq", "x"]], "conditions[0]"),
        ([{"field": "status", "op": "empty"}] * (MAX_CONDITIONS + 1), "conditions"),
    ],
)
def test_bad_conditions_are_refused_naming_the_part(conditions, path):
    with pytest.raises(ConditionError) as caught:
        validate_conditions(conditions)
    assert caught.value.path == path


def test_empty_stores_no_value():
    assert validate_conditions([{"field": "extra.City", "op": "empty", "value": "x"}]) == [
        {"field": "extra.City", "op": "empty", "value": None}
    ]
