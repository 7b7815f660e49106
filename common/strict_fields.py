"""Request-body fields that take only their JSON type.

DRF's ``BooleanField`` also reads ``0``, ``1``, ``"yes"`` and ``"on"``, its
``IntegerField`` ``"5"`` and ``5.0``: kind to HTML forms, but a JSON body
whose schema says ``boolean`` or ``integer`` and gets something else is a
client bug the API should name (a 400), not guess at.

``StrictDateTimeField`` takes what the datetime filters take
(``common.filtering.parse_datetime``). DRF's own field refuses only what the
current time zone cannot show and stores the rest of years 1 to 9999: years
below MariaDB's DATETIME range, and values another time zone cannot show
(9999-12-31T20:00:00Z, stored under UTC, is in year 10000 in India: once
``TIME_ZONE`` changes, every read of that row is a 500).
"""

from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from .filtering import DATETIME_MESSAGE, DATETIME_SCHEMA, parse_datetime


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not "5", not 5.0, not true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictCharField(serializers.CharField):
    """A JSON string: not 0, not true (DRF's field turns numbers into text)."""

    def to_internal_value(self, data):
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON ``true`` or ``false``: not 0, not "true"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data


@extend_schema_field(DATETIME_SCHEMA)
class StrictDateTimeField(serializers.DateTimeField):
    """An RFC 3339 date-time with an offset, years 1000-9998; read as UTC."""

    default_error_messages = {"invalid": DATETIME_MESSAGE}

    def to_internal_value(self, value):
        parsed = parse_datetime(value)
        if parsed is None:
            self.fail("invalid")
        return parsed
