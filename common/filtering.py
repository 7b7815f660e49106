"""Strict query parameters for the list endpoints: filters, search, ordering, paging.

A query parameter either means what the OpenAPI schema says it means or the
request is a 400 ``validation_error`` naming it; nothing is silently ignored
(``?unassigned=null`` used to mean "no filter") and nothing reaches the
database that the database cannot take (a datetime that overflows when turned
into UTC, an id wider than a BIGINT). Each class publishes the schema of the
values it accepts, and the two are the same rule: the schema's ``pattern`` is
the regular expression the server matches.

An empty value (``?agent=``) means the parameter was not given, as it always
has; the schema says so with ``allowEmptyValue`` (``accounts.schema``).
"""

import hashlib
import re
from datetime import UTC, datetime

import django_filters
from django import forms
from drf_spectacular.utils import extend_schema_field
from rest_framework import filters
from rest_framework.exceptions import ValidationError
from rest_framework.response import Response
from rest_framework.utils.urls import remove_query_param, replace_query_param

from . import dataversion
from .api import PageNumberPagination

# Primary keys are BIGINT (``DEFAULT_AUTO_FIELD``); a wider number can match no row
# and is refused before SQLite or the MySQL driver has to convert it.
MAX_ID = 2**63 - 1
SEARCH_MAX_LENGTH = 200

_DIGITS = re.compile(r"[0-9]+")
# RFC 3339 date-time (what OpenAPI's ``format: date-time`` means) with the year
# limited to 1000-9998: MariaDB's DATETIME starts at year 1000, and a year below
# 9999 stays representable in UTC whatever the offset (9999-12-31T23:59:59-14:00
# is in year 10000 in UTC, which Python cannot hold: the attack's OverflowError).
_YEAR = r"(?:[1-8][0-9]{3}|9[0-8][0-9]{2}|99[0-8][0-9]|999[0-8])"
DATETIME_PATTERN = (
    rf"^{_YEAR}-(?:0[1-9]|1[0-2])-(?:0[1-9]|[12][0-9]|3[01])"
    r"T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9](?:\.[0-9]{1,6})?"
    r"(?:Z|[+-](?:[01][0-9]|2[0-3]):[0-5][0-9])$"
)
_DATETIME = re.compile(DATETIME_PATTERN)
DATETIME_MESSAGE = (
    "Enter a date-time with an offset, years 1000 to 9998, "
    "e.g. 2026-01-31T09:30:00Z or 2026-01-31T15:00:00+05:30."
)
DATETIME_SCHEMA = {"type": "string", "format": "date-time", "pattern": DATETIME_PATTERN}
NO_NUL_PATTERN = r"^[^\u0000]*$"


def parse_datetime(value):
    """``value`` (``DATETIME_PATTERN``) as an aware datetime in UTC, or None if it is not one.

    Every datetime the API reads, in a query or a body, goes through here: in
    that range it compares with a column, converts to any time zone for display
    and fits MariaDB's DATETIME.
    """
    if not isinstance(value, str) or not _DATETIME.fullmatch(value):
        return None
    try:
        # The pattern leaves only impossible calendar dates (02-30) to refuse here.
        return datetime.fromisoformat(value).astimezone(UTC)
    except ValueError:
        return None


def _is_empty(value):
    return value is None or value == ""


def _whole_number(text):
    """The value of ``text`` (ASCII digits), or ``None`` past ``MAX_ID``.

    Long digit strings are judged by their length: ``int()`` refuses more than
    4,300 digits with a ValueError, and none of them can be an id anyway.
    """
    digits = text.lstrip("0") or "0"
    if len(digits) > len(str(MAX_ID)) or int(digits) > MAX_ID:
        return None
    return int(digits)


class IdField(forms.Field):
    """A database id: ASCII digits only, 1 to ``MAX_ID``."""

    default_error_messages = {
        "invalid": "Enter a whole number.",
        "range": f"Must be between 1 and {MAX_ID}.",
    }

    def to_python(self, value):
        if _is_empty(value):
            return None
        if not isinstance(value, str) or not _DIGITS.fullmatch(value):
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        number = _whole_number(value)
        if number is None or number < 1:
            raise forms.ValidationError(self.error_messages["range"], code="range")
        return number


class StrictBooleanField(forms.Field):
    """``true`` or ``false``, as OpenAPI serializes a boolean; anything else is an error."""

    default_error_messages = {"invalid": "Must be true or false."}

    def to_python(self, value):
        if _is_empty(value):
            return None
        if value == "true":
            return True
        if value == "false":
            return False
        raise forms.ValidationError(self.error_messages["invalid"], code="invalid")

    def validate(self, value):
        # forms.Field.validate refuses False for a required field; nothing is required here.
        pass


class StrictDateTimeField(forms.Field):
    """An RFC 3339 date-time with an offset, years 1000-9998 (``DATETIME_PATTERN``).

    The value is returned in UTC, so comparing it with a column can never
    overflow while the driver converts it.
    """

    default_error_messages = {"invalid": DATETIME_MESSAGE}

    def to_python(self, value):
        if _is_empty(value):
            return None
        parsed = parse_datetime(value)
        if parsed is None:
            raise forms.ValidationError(self.error_messages["invalid"], code="invalid")
        return parsed


class _MultipleChoiceField(django_filters.fields.MultipleChoiceField):
    def clean(self, value):
        # ``?status=`` alone is "not given", like every other empty value.
        return super().clean([item for item in value or () if item != ""])


class MultipleChoiceFilter(django_filters.MultipleChoiceFilter):
    """Repeatable (``?status=new&status=lost``), each value one of the choices.

    No ``DISTINCT`` unless asked for (``distinct=True``, for a lookup across a
    to-many relation): django-filter adds it by default, and ``SELECT DISTINCT
    ... ORDER BY id LIMIT 50`` makes MariaDB de-duplicate every matching row
    before it can return the first page (seconds for ``?status=new`` over a
    million leads), where the rows of one table are distinct already.
    """

    field_class = _MultipleChoiceField

    def __init__(self, *args, distinct=False, **kwargs):
        super().__init__(*args, distinct=distinct, **kwargs)


@extend_schema_field({"type": "integer", "minimum": 1, "maximum": MAX_ID})
class IdFilter(django_filters.Filter):
    field_class = IdField


@extend_schema_field({"type": "boolean"})
class BooleanFilter(django_filters.Filter):
    field_class = StrictBooleanField


@extend_schema_field(DATETIME_SCHEMA)
class DateTimeFilter(django_filters.Filter):
    field_class = StrictDateTimeField


def _refuse(name, message):
    raise ValidationError({name: [message]})


def checked_search_text(request, param):
    """The ``search`` value, refused when it has a NUL or is over ``SEARCH_MAX_LENGTH``."""
    value = request.query_params.get(param, "")
    if "\x00" in value:
        _refuse(param, "Null characters are not allowed.")
    if len(value) > SEARCH_MAX_LENGTH:
        _refuse(param, f"Ensure this value has at most {SEARCH_MAX_LENGTH} characters.")
    return value


class SearchFilter(filters.SearchFilter):
    """DRF's search with the value checked first (a NUL, or a string so long that
    its words would make an SQL expression deeper than the database allows, is a 400
    naming ``search``)."""

    def get_search_terms(self, request):
        checked_search_text(request, self.search_param)
        return super().get_search_terms(request)

    def get_schema_operation_parameters(self, view):
        (parameter,) = super().get_schema_operation_parameters(view)
        parameter["schema"] = search_schema()
        return [parameter]


def search_schema():
    return {"type": "string", "maxLength": SEARCH_MAX_LENGTH, "pattern": NO_NUL_PATTERN}


def with_tie_breaker(ordering):
    """``ordering`` ending in the primary key, in the direction of its last term.

    Rows that tie on the sort key would otherwise come back in any order, so a
    row could show on two pages or none. In the last term's direction, the key
    is what an index on the sort column already holds after it (InnoDB appends
    the primary key to every secondary index), so the database still reads the
    index in order instead of sorting.
    """
    ordering = list(ordering or ())
    if not ordering or any(term.lstrip("-") in ("id", "pk") for term in ordering):
        return ordering
    return [*ordering, "-id" if ordering[-1].startswith("-") else "id"]


class OrderingFilter(filters.OrderingFilter):
    """DRF's ordering, refusing unknown fields instead of ignoring them.

    ``?ordering=`` takes comma-separated field names, each optionally prefixed
    with ``-``; the schema publishes the same rule as a pattern.
    """

    def _pattern(self, view):
        # The views name their ordering fields explicitly (never "__all__").
        term = "-?(?:" + "|".join(re.escape(name) for name in sorted(view.ordering_fields)) + ")"
        return f"^{term}(?:,{term})*$"

    def get_ordering(self, request, queryset, view):
        value = request.query_params.get(self.ordering_param)
        if _is_empty(value):
            return with_tie_breaker(self.get_default_ordering(view))
        if not re.fullmatch(self._pattern(view), value):
            names = ", ".join(sorted(view.ordering_fields))
            _refuse(
                self.ordering_param,
                f"Comma-separated field names, each optionally prefixed with '-', from: {names}.",
            )
        return with_tie_breaker(value.split(","))

    def get_schema_operation_parameters(self, view):
        (parameter,) = super().get_schema_operation_parameters(view)
        parameter["schema"] = {"type": "string", "pattern": self._pattern(view)}
        return [parameter]


class StrictPageNumberPagination(PageNumberPagination):
    """``page`` and ``page_size`` are positive whole numbers or a 400 naming them.

    A page past the last one stays a 404 (``Invalid page.``), ``page=last``
    still means the last page, and a ``page_size`` above ``max_page_size`` is
    served as ``max_page_size`` rows, as before.
    """

    def _number(self, request, name):
        value = request.query_params.get(name)
        if _is_empty(value):
            return None
        if not _DIGITS.fullmatch(value) or _whole_number(value) == 0:
            _refuse(name, "Must be a whole number, at least 1.")
        # Past MAX_ID a page is past the last one and a size is the largest.
        return _whole_number(value) or MAX_ID

    def get_page_size(self, request):
        size = self._number(request, self.page_size_query_param)
        return self.page_size if size is None else min(size, self.max_page_size)

    def paginate_queryset(self, queryset, request, view=None):
        if request.query_params.get(self.page_query_param) not in self.last_page_strings:
            self._number(request, self.page_query_param)
        return super().paginate_queryset(queryset, request, view)

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        for parameter in parameters:
            parameter["schema"] = {"type": "integer", "minimum": 1}
            if parameter["name"] == self.page_query_param:
                parameter["schema"] = {
                    "anyOf": [parameter["schema"], {"type": "string", "enum": ["last"]}]
                }
                parameter["description"] = "A page number, or `last`."
            if parameter["name"] == self.page_size_query_param:
                parameter["description"] = (
                    f"Rows per page, default {self.page_size}; "
                    f"more than {self.max_page_size} are served as {self.max_page_size}."
                )
        return parameters


# Cursor paging: a cursor is "a<id>" (the rows after that id in the list's
# order) or "b<id>" (the rows before it). Seeking by id is an index range however
# deep the page is, where OFFSET reads and throws away every row above the page.
# Any value of the pattern is served (an id past the largest is the largest), so
# the schema's pattern is the whole rule.
CURSOR_PATTERN = r"^[ab][0-9]{1,19}$"
_CURSOR = re.compile(CURSOR_PATTERN[1:-1])
CURSOR_MESSAGE = "A cursor is a<id> or b<id>, as the next and previous links give it."


def encode_cursor(row_id, *, before=False):
    """The ``cursor`` value of the rows after (or ``before``) ``row_id``."""
    return f"{'b' if before else 'a'}{int(row_id)}"


def decode_cursor(value):
    """``(before, id)`` of a cursor, or None when it is not one."""
    if not isinstance(value, str) or not _CURSOR.fullmatch(value):
        return None
    return value[0] == "b", min(int(value[1:]), MAX_ID)


class _Counted:
    """A list of rows whose total comes from ``count`` (a callable), for
    Django's Paginator: the view may know it cheaper than ``COUNT(*)``."""

    ordered = True

    def __init__(self, rows, count):
        self._rows = rows
        self._count = count

    def count(self):
        return self._count()

    def __getitem__(self, key):
        return self._rows[key]


# Deep pages by number are read from the nearest cached anchor, the id at every
# ANCHOR_STEP-th position of the list (see ``_DeepSlice``).
ANCHOR_STEP = 5_000
ANCHOR_CACHE_SECONDS = 300


class _DeepSlice:
    """A queryset whose deep pages are read in two steps, in id order from cached anchors.

    ``OFFSET 950000`` makes the database walk 950,000 rows before the page
    (seconds at a million leads). A deep page is read in two steps instead (a
    "deferred join"): the page's ids from the filter's index alone (``(status,
    id)``, ``(batch, id)``, the primary key, ...), then only those rows. In id
    order (``descending`` True or False, not None) the ids are not even counted
    from the top: the id at every ``ANCHOR_STEP``-th
    position (an anchor) is cached under the data version, which every write to
    the leads bumps, so a page is a seek to the anchor below it (``id <=
    anchor``) and a walk of fewer than ``ANCHOR_STEP`` index entries, whatever
    its depth. The first request for an anchor after a write counts up to it
    once (index entries, not rows). Shallow pages are the plain slice.
    """

    ordered = True

    def __init__(self, queryset, row_id, *, descending, count=None, ids=None):
        self._queryset = queryset
        self._row_id = row_id
        self._descending = descending
        self._count = count
        self._ids = ids

    def count(self):
        return self._count() if self._count is not None else self._queryset.count()

    def __getitem__(self, key):
        start, stop = key.start or 0, key.stop
        if start < KeysetPageNumberPagination.DEEP_OFFSET:
            return list(self._queryset[start:stop])
        ids = self._ids if self._ids is not None else self._queryset.values_list("id", flat=True)
        base = start - start % ANCHOR_STEP
        anchor = None if self._descending is None or not base else self._anchor(ids, base)
        if anchor is not None:
            ids = ids.filter(id__lte=anchor) if self._descending else ids.filter(id__gte=anchor)
            start, stop = start - base, stop - base
        page_ids = list(ids[start:stop])
        position = {row_id: n for n, row_id in enumerate(page_ids)}
        rows = list(self._queryset.filter(id__in=page_ids))
        rows.sort(key=lambda row: position[self._row_id(row)])
        return rows

    @staticmethod
    def _anchor(ids, position):
        """The id at ``position`` of ``ids`` (None past the end), cached per query."""
        digest = hashlib.sha256(str(ids.query).encode()).hexdigest()[:32]

        def compute():
            found = list(ids[position : position + 1])
            return found[0] if found else None

        return dataversion.cached(
            f"page:anchor:{digest}:{position}", compute, timeout=ANCHOR_CACHE_SECONDS
        )


class KeysetPage(list):
    """A cursor page: its rows, and whether rows lie past each end."""

    def __init__(self, rows, *, count, has_next, has_previous):
        super().__init__(rows)
        self.count = count
        self.has_next = has_next
        self.has_previous = has_previous


class KeysetPageNumberPagination(StrictPageNumberPagination):
    """Page numbers, and ``?cursor=`` for lists in id order, at any depth alike.

    ``?page=N`` works as everywhere (the admin's and the SPA's links). A list in
    id order (its default ``-id``, or ``?ordering=id``) also takes ``cursor``:
    the page is then a seek on the primary key (``id < X ORDER BY id DESC LIMIT
    n``), which costs the same on the first page and the millionth. Past
    ``DEEP_OFFSET`` rows a page-number response's ``next`` and ``previous``
    links are cursors, so a client that follows the links never pays for a
    deep ``OFFSET``. The response shape is the same in both modes.

    The view may pass ``count`` (a callable) when it knows the total more
    cheaply than ``COUNT(*)`` (a cached total), ``row_id`` (how to read
    a row's id) when its rows are not model instances, and ``ids`` (the same
    rows' ids as a queryset) when its rows join other tables: MariaDB reads a
    joined query's ids from the rows, not from the index alone.
    """

    cursor_query_param = "cursor"
    DEEP_OFFSET = 5_000

    def paginate_queryset(self, queryset, request, view=None, *, count=None, row_id=None, ids=None):
        self.request = request
        self._row_id = row_id or (lambda row: row.pk)
        self.keyset = None
        value = request.query_params.get(self.cursor_query_param)
        if _is_empty(value):
            self._descending = self._id_order(queryset)
            if hasattr(queryset, "values_list"):
                queryset = _DeepSlice(
                    queryset, self._row_id, descending=self._descending, count=count, ids=ids
                )
            elif count is not None:
                queryset = _Counted(queryset, count)
            return super().paginate_queryset(queryset, request, view)
        if not _is_empty(request.query_params.get(self.page_query_param)):
            _refuse(self.cursor_query_param, "Give either page or cursor, not both.")
        cursor = decode_cursor(value)
        if cursor is None:
            _refuse(self.cursor_query_param, CURSOR_MESSAGE)
        descending = self._id_order(queryset)
        if descending is None:
            _refuse(
                self.cursor_query_param,
                "Cursor paging follows the id order: no ordering, ordering=-id or ordering=id.",
            )
        before, row_id = cursor
        size = self.get_page_size(request)
        # "After" in a descending list is a smaller id; "before" a larger one,
        # read nearest first and turned back into the list's order.
        if before == descending:
            rows = list(queryset.filter(id__gt=row_id).order_by("id")[: size + 1])
        else:
            rows = list(queryset.filter(id__lt=row_id).order_by("-id")[: size + 1])
        more = len(rows) > size
        rows = rows[:size]
        if before:
            rows.reverse()
        total = count() if count is not None else queryset.count()
        self.keyset = KeysetPage(
            rows,
            count=total,
            has_next=more if not before else True,
            has_previous=more if before else True,
        )
        return self.keyset

    def wants_deep_page(self, request):
        """Whether the page asked for by number may lie past ``DEEP_OFFSET`` rows
        (``last`` may)."""
        number = request.query_params.get(self.page_query_param)
        if number in self.last_page_strings:
            return True
        if _is_empty(number) or not _DIGITS.fullmatch(number):
            return False
        offset = ((_whole_number(number) or MAX_ID) - 1) * self.get_page_size(request)
        return offset >= self.DEEP_OFFSET

    @staticmethod
    def _id_order(queryset):
        """True for ``-id``, False for ``id``, None for any other order."""
        keyset_order = getattr(queryset, "keyset_order", None)
        if keyset_order is not None:
            order_by = (keyset_order,)
        else:
            order_by = tuple(getattr(getattr(queryset, "query", None), "order_by", ()) or ())
        if order_by in (("-id",), ("-pk",)):
            return True
        if order_by in (("id",), ("pk",)):
            return False
        return None

    def _cursor_link(self, row, *, before):
        url = remove_query_param(self.request.build_absolute_uri(), self.page_query_param)
        cursor = encode_cursor(self._row_id(row), before=before)
        return replace_query_param(url, self.cursor_query_param, cursor)

    def _is_deep(self):
        page = self.page
        return self._descending is not None and page.start_index() > self.DEEP_OFFSET

    def get_next_link(self):
        if self.keyset is not None:
            if not self.keyset.has_next or not self.keyset:
                return None
            return self._cursor_link(self.keyset[-1], before=False)
        if self.page.has_next() and self._is_deep():
            return self._cursor_link(self.page[-1], before=False)
        return super().get_next_link()

    def get_previous_link(self):
        if self.keyset is not None:
            if not self.keyset.has_previous or not self.keyset:
                return None
            return self._cursor_link(self.keyset[0], before=True)
        if self.page.has_previous() and self._is_deep():
            return self._cursor_link(self.page[0], before=True)
        return super().get_previous_link()

    def get_paginated_response(self, data):
        if self.keyset is None:
            return super().get_paginated_response(data)
        return Response(
            {
                "count": self.keyset.count,
                "next": self.get_next_link(),
                "previous": self.get_previous_link(),
                "results": data,
            }
        )

    def get_schema_operation_parameters(self, view):
        parameters = super().get_schema_operation_parameters(view)
        parameters.append(
            {
                "name": self.cursor_query_param,
                "required": False,
                "in": "query",
                "description": (
                    "A position from a `next` or `previous` link (`a<id>`: after that "
                    "id, `b<id>`: before it); pages in id order by seeking instead of "
                    "counting rows (not with `page`)."
                ),
                "schema": {"type": "string", "pattern": CURSOR_PATTERN},
            }
        )
        return parameters
