"""Request-body fields that take only their JSON type.

DRF's ``BooleanField`` also reads ``0``, ``1``, ``"yes"`` and ``"on"``, its
``IntegerField`` ``"5"`` and ``5.0``: kind to HTML forms, but a JSON body
whose schema says ``boolean`` or ``integer`` and gets something else is a
client bug the API should name (a 400), not guess at.
"""

from rest_framework import serializers


class StrictIntegerField(serializers.IntegerField):
    """A JSON integer: not "5", not 5.0, not true."""

    def to_internal_value(self, data):
        if isinstance(data, bool) or not isinstance(data, int):
            self.fail("invalid")
        return super().to_internal_value(data)


class StrictBooleanField(serializers.BooleanField):
    """A JSON ``true`` or ``false``: not 0, not "true"."""

    def to_internal_value(self, data):
        if not isinstance(data, bool):
            self.fail("invalid", input=data)
        return data
