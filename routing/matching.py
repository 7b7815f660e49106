"""Routing conditions as data: validation, and which rule a lead matches.

Pure on purpose — no ORM, no clock — so the API, the admin, the planner and the
hypothesis tests share one definition of "matches", and the import can call it
per row on the hot path. A condition is ``{"field", "op", "value"}``:

- ``field``: ``phone_country`` (ISO region of the E.164 phone, e.g. ``AE``),
  ``status``, ``source`` (a ``source`` column of the file, else the import's
  file name), ``email_domain`` or ``extra.<Column>`` (a column of the file kept
  in ``Lead.extra``, the header as written; looked up case-insensitively);
- ``op``: ``eq``, ``in`` (value is a list), ``contains``, ``startswith``,
  ``empty`` (value ignored). Comparison is case-insensitive (``casefold``) and
  ignores surrounding spaces. A missing attribute only matches ``empty``.

Nothing from users is run as code or regex: values are compared as strings.
A rule matches when all its conditions hold (no conditions: every lead).
"""

from dataclasses import dataclass
from functools import lru_cache

import phonenumbers
from phonenumbers import COUNTRY_CODE_TO_REGION_CODE

FIELDS = ("phone_country", "status", "source", "email_domain")
EXTRA_PREFIX = "extra."
OPS = ("eq", "in", "contains", "startswith", "empty")
MAX_CONDITIONS = 50
MAX_IN_VALUES = 1000
MAX_VALUE_LENGTH = 255
MAX_FIELD_LENGTH = 255 + len(EXTRA_PREFIX)


class ConditionError(ValueError):
    """A condition list that is not valid; ``path`` names the offending part."""

    def __init__(self, path, message):
        super().__init__(f"{path}: {message}")
        self.path = path
        self.message = message


def _text(value):
    return value.strip().casefold()


def validate_conditions(conditions):
    """The conditions in their stored form, or ``ConditionError`` naming the bad part.

    Keys other than ``field``, ``op`` and ``value`` are refused, as are values
    of the wrong type (a string for ``eq``/``contains``/``startswith``, a
    non-empty list of strings for ``in``); ``empty`` stores ``value`` null.
    """
    if not isinstance(conditions, list):
        raise ConditionError("conditions", "Expected a list of conditions.")
    if len(conditions) > MAX_CONDITIONS:
        raise ConditionError(
            "conditions", f"At most {MAX_CONDITIONS} conditions per rule, got {len(conditions)}."
        )
    cleaned = []
    for index, condition in enumerate(conditions):
        path = f"conditions[{index}]"
        if not isinstance(condition, dict):
            raise ConditionError(path, 'Expected an object {"field", "op", "value"}.')
        unknown = sorted(set(condition) - {"field", "op", "value"})
        if unknown:
            raise ConditionError(path, f"Unknown key(s): {', '.join(map(str, unknown))}.")
        field = condition.get("field")
        if not isinstance(field, str) or not field:
            raise ConditionError(f"{path}.field", "Expected a field name (a string).")
        if len(field) > MAX_FIELD_LENGTH:
            raise ConditionError(f"{path}.field", "Field name too long.")
        if field.startswith(EXTRA_PREFIX):
            if not field[len(EXTRA_PREFIX) :].strip():
                raise ConditionError(f"{path}.field", "Name the column after 'extra.'.")
        elif field not in FIELDS:
            choices = ", ".join(FIELDS)
            raise ConditionError(
                f"{path}.field",
                f"Unknown field {field!r}; use one of {choices} or extra.<Column>.",
            )
        op = condition.get("op")
        if op not in OPS:
            raise ConditionError(
                f"{path}.op", f"Unknown operator {op!r}; use one of {', '.join(OPS)}."
            )
        value = condition.get("value")
        if op == "empty":
            value = None
        elif op == "in":
            if not isinstance(value, list) or not value:
                raise ConditionError(f"{path}.value", "'in' needs a non-empty list of strings.")
            if len(value) > MAX_IN_VALUES:
                raise ConditionError(f"{path}.value", f"At most {MAX_IN_VALUES} values.")
            for item in value:
                _check_string(item, f"{path}.value")
        else:
            if "value" not in condition:
                raise ConditionError(f"{path}.value", f"'{op}' needs a value.")
            _check_string(value, f"{path}.value")
        cleaned.append({"field": field, "op": op, "value": value})
    return cleaned


def _check_string(value, path):
    if not isinstance(value, str):
        raise ConditionError(path, f"Expected a string, got {type(value).__name__}.")
    if len(value) > MAX_VALUE_LENGTH:
        raise ConditionError(path, f"At most {MAX_VALUE_LENGTH} characters.")
    if not value.strip():
        raise ConditionError(path, "Must not be blank (use the 'empty' operator).")


# --- lead attributes ---------------------------------------------------------


@lru_cache(maxsize=65536)
def _region_of(phone):
    try:
        return phonenumbers.region_code_for_number(phonenumbers.parse(phone, None)) or ""
    except phonenumbers.NumberParseException:
        return ""


_BY_PREFIX = {}  # "+" and the first 3 digits -> region, or None for a shared code


def phone_country(phone):
    """ISO region (``AE``, ``IN``) of an E.164 number; ``""`` when unknown.

    Country calling codes are prefix-free, so the first 1-3 digits name the
    code; most codes belong to one region and need no parsing (the answer is
    cached per 3-digit prefix). Shared codes (``+1``, ``+7``, ``+44``…) are
    resolved by ``phonenumbers`` from the whole number (cached).
    """
    if not phone or phone[0] != "+":
        return ""
    prefix = phone[:4]
    region = _BY_PREFIX.get(prefix, _BY_PREFIX)
    if region is _BY_PREFIX:
        region = _region_of_prefix(phone)
        if len(_BY_PREFIX) < 10_000:
            _BY_PREFIX[prefix] = region
    return _region_of(phone) if region is None else region


def _region_of_prefix(phone):
    """The region of ``phone``'s calling code, None when the code is shared."""
    for length in (1, 2, 3):
        digits = phone[1 : 1 + length]
        if not digits.isdigit():
            return ""
        regions = COUNTRY_CODE_TO_REGION_CODE.get(int(digits))
        if regions:
            if len(regions) == 1:
                return "" if regions[0] == "001" else regions[0]
            return None
    return ""


def _email_domain(email):
    if not email or "@" not in email:
        return ""
    return email.rsplit("@", 1)[1]


_SOURCE_KEYS = {}  # the keys of an extra dict -> its source column's key (or None)


def _source(lead):
    return _source_in(lead.get("extra") or {}, lead.get("source") or "")


def _source_in(extra, default):
    """The value of a ``source`` column in ``extra`` if it has one, else ``default``."""
    keys = tuple(extra)
    if keys in _SOURCE_KEYS:
        key = _SOURCE_KEYS[keys]
        value = extra[key] if key is not None else None
        return value if _present(value) else default
    if len(_SOURCE_KEYS) < 1000:
        _SOURCE_KEYS[keys] = next(
            (k for k in keys if isinstance(k, str) and k.strip().casefold() == "source"), None
        )
    for key, value in extra.items():
        if isinstance(key, str) and key.strip().casefold() == "source" and _present(value):
            return value
    return default


def _present(value):
    return value is not None and str(value).strip() != ""


def _extra(lead, column):
    return _extra_in(lead.get("extra") or {}, column)


def _extra_in(extra, column):
    if column in extra:
        return extra[column]
    wanted = column.strip().casefold()
    for key, value in extra.items():
        if isinstance(key, str) and key.strip().casefold() == wanted:
            return value
    return None


def attribute(lead, field):
    """The value of ``field`` for a lead-shaped dict (``phone``, ``email``, ``status``,
    ``source``, ``extra``), normalized for comparison (``""`` when missing)."""
    if field == "phone_country":
        value = phone_country(lead.get("phone") or "")
    elif field == "status":
        value = lead.get("status") or "new"
    elif field == "source":
        value = _source(lead)
    elif field == "email_domain":
        value = _email_domain(lead.get("email") or "")
    else:
        value = _extra(lead, field[len(EXTRA_PREFIX) :])
    if value is None or isinstance(value, (dict, list)):
        return ""
    return _text(str(value))


def _holds(op, wanted, value):
    if op == "empty":
        return value == ""
    if value == "":
        return False
    if op == "eq":
        return value == wanted
    if op == "in":
        return value in wanted
    if op == "contains":
        return wanted in value
    return value.startswith(wanted)  # startswith


# --- rules -------------------------------------------------------------------


@dataclass(frozen=True, eq=False)  # hashed by identity: a dict key per lead, so cheap
class Rule:
    """A routing rule as the planner sees it (a row of a snapshot)."""

    id: int
    name: str
    position: int
    conditions: tuple  # of (field, op, normalized value)
    team: int | None = None
    agent: int | None = None

    @classmethod
    def from_data(cls, data):
        conditions = []
        for condition in data.get("conditions") or ():
            op, value = condition["op"], condition.get("value")
            if op == "in":
                value = frozenset(_text(item) for item in value)
            elif op != "empty":
                value = _text(value)
            conditions.append((condition["field"], op, value))
        return cls(
            id=data["id"],
            name=data["name"],
            position=data["position"],
            conditions=tuple(conditions),
            team=data.get("team"),
            agent=data.get("agent"),
        )


@dataclass(frozen=True)
class Matched:
    """A lead already matched (``rule`` or None): what a preview keeps per row."""

    rule: Rule | None


class Router:
    """First matching rule of an ordered list, memoized on the attributes it reads.

    Leads with the same values of the fields the rules use route the same
    way, so an import of 100k rows evaluates the rules once per distinct
    combination (country, city, source…) rather than once per row.
    """

    MEMO_LIMIT = 100_000

    def __init__(self, rules):
        self.rules = tuple(sorted(rules, key=lambda rule: (rule.position, rule.id)))
        fields = []
        for rule in self.rules:
            for field, _op, _value in rule.conditions:
                if field not in fields:
                    fields.append(field)
        self.fields = tuple(fields)
        self._slot = {field: i for i, field in enumerate(self.fields)}
        self._raw = tuple(_raw_getter(field) for field in self.fields)
        self._by_id = {rule.id: rule for rule in self.rules}
        self._memo = {}
        self._shared = {}  # rule (or None) -> its one Matched

    def __bool__(self):
        return bool(self.rules)

    def match(self, lead):
        """The first rule whose conditions all hold for ``lead``, or None."""
        if not self.rules:
            return None
        if isinstance(lead, Matched):
            # Matched by another Router over the same snapshot: this one's rule.
            return None if lead.rule is None else self._by_id.get(lead.rule.id)
        return self._first(tuple([get(lead) for get in self._raw]))

    def _first(self, raw):
        """The first rule matching the raw values of ``self.fields``, memoized on them
        (they are cheap to read; they are normalized only on a miss)."""
        try:
            return self._memo[raw]
        except KeyError:
            pass
        key = tuple(_normal(value) for value in raw)
        found = None
        for rule in self.rules:
            if all(
                _holds(op, value, key[self._slot[field]]) for field, op, value in rule.conditions
            ):
                found = rule
                break
        if len(self._memo) >= self.MEMO_LIMIT:
            self._memo.clear()
        self._memo[raw] = found
        return found

    def _matched(self, rule):
        shared = self._shared.get(rule)
        if shared is None:
            shared = self._shared[rule] = Matched(rule)
        return shared

    def row_matcher(self, source):
        """A function from an import's new row to its rule as a :class:`Matched` (one
        object per rule, shared by its rows): what the reader thread attaches to each
        row for the planner.

        The row has ``phone``, ``email`` and ``extra`` attributes; it is a new lead
        (status ``new``) whose source is ``source`` (the file name) unless a
        ``source`` column says otherwise. Its values are read straight from the
        attributes, with the same helpers as ``match`` uses for a lead dict.
        """
        getters = tuple(_row_getter(field, source or "") for field in self.fields)
        first, matched = self._first, self._matched

        def match_row(row):
            return matched(first(tuple([get(row) for get in getters])))

        return match_row


def _normal(value):
    if value is None or isinstance(value, (dict, list)):
        return ""
    return _text(str(value))


def _raw_getter(field):
    """A function reading ``field``'s raw value from a lead (what ``attribute`` normalizes)."""
    if field == "phone_country":
        return lambda lead: phone_country(lead.get("phone") or "")
    if field == "status":
        return lambda lead: lead.get("status") or "new"
    if field == "source":
        return _source
    if field == "email_domain":
        return lambda lead: _email_domain(lead.get("email") or "")
    column = field[len(EXTRA_PREFIX) :]

    def extra(lead):
        values = lead.get("extra")
        if not values:
            return None
        value = values.get(column)
        return _extra_in(values, column) if value is None else value

    return extra


def _row_getter(field, source):
    """``_raw_getter`` for an import's row (see ``Router.row_matcher``)."""
    if field == "phone_country":
        return lambda row: phone_country(row.phone or "")
    if field == "status":
        return lambda row: "new"
    if field == "source":
        return lambda row: _source_in(row.extra or {}, source)
    if field == "email_domain":
        return lambda row: _email_domain(row.email or "")
    column = field[len(EXTRA_PREFIX) :]

    def extra(row):
        values = row.extra
        if not values:
            return None
        value = values.get(column)
        return _extra_in(values, column) if value is None else value

    return extra
