import json

from django.conf import settings
from rest_framework import serializers

from common.strict_fields import StrictDateTimeField
from leads.models import Lead, LeadActivity, LeadStatus
from leads.selectors import LEAD_LIST_FIELDS
from leads.services import NOTES_MAX_LENGTH


# A lead as the API shows it: the fields are ``LEAD_LIST_FIELDS``' names, the one
# definition the list's fast path (``values()`` rows) also reads. (A comment, not a
# docstring: drf-spectacular would publish a docstring in the OpenAPI schema.)
class LeadOutput(serializers.ModelSerializer):
    # null for an unassigned lead (and the schema says so).
    agent_name = serializers.CharField(
        source="agent.name", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Lead
        fields = list(LEAD_LIST_FIELDS)


_INT64 = (-(2**63), 2**63 - 1)
EXTRA_MAX_DEPTH = 32


def _extra_problem(value):
    """Why ``value`` cannot be kept as a lead's ``extra``, or None (iterative: no recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > EXTRA_MAX_DEPTH:
                return "depth"
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, int) and not _INT64[0] <= item <= _INT64[1]:
            return "int64"
    return None


class ExtraField(serializers.DictField):
    """Free-form data kept with the lead, within what every reader can take.

    Python's JSON reads any integer and any nesting, but the list's encoder
    (orjson) writes neither an integer past 64 bits nor more than 254 levels,
    and a JavaScript client loses precision well before 64 bits: such a value
    is a 400, not a lead that breaks every list it is in.
    """

    default_error_messages = {
        "int64": f"Whole numbers must be between {_INT64[0]} and {_INT64[1]}.",
        "depth": f"At most {EXTRA_MAX_DEPTH} levels of nested objects and lists.",
        "size": "It takes {size:,} bytes as JSON; at most {limit:,} bytes are kept per lead.",
    }

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = _extra_problem(value)
        if problem:
            self.fail(problem)
        # The bound an import keeps to (IMPORT_MAX_EXTRA_BYTES): a lead's extra is
        # read by every list it is in and written in multi-row statements.
        limit = settings.IMPORT_MAX_EXTRA_BYTES
        text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
        size = len(text.encode(errors="surrogatepass"))
        if size > limit:
            self.fail("size", size=size, limit=limit)
        return value


class LeadCreateInput(serializers.Serializer):
    first_name = serializers.CharField(max_length=150)
    last_name = serializers.CharField(max_length=150, required=False, allow_blank=True)
    phone = serializers.CharField(max_length=64)
    email = serializers.EmailField(required=False, allow_blank=True)
    notes = serializers.CharField(
        max_length=NOTES_MAX_LENGTH, required=False, allow_blank=True, trim_whitespace=False
    )
    status = serializers.ChoiceField(choices=LeadStatus.choices, required=False)
    next_follow_up = StrictDateTimeField(required=False, allow_null=True)
    extra = ExtraField(
        required=False,
        help_text=(
            "Free-form; whole numbers within 64-bit range, at most 32 levels deep, "
            "at most IMPORT_MAX_EXTRA_BYTES (16 KiB) as JSON."
        ),
    )


class LeadUpdateInput(LeadCreateInput):
    # LeadViewSet.partial_update answers 400 naming any other field (the schema
    # says additionalProperties: false, accounts.schema).
    unknown_fields_refused = True

    first_name = serializers.CharField(max_length=150, required=False)
    phone = serializers.CharField(max_length=64, required=False)


class LeadActivityOutput(serializers.ModelSerializer):
    # null for what the system did (an import, a distribution run by a command).
    actor = serializers.EmailField(
        source="actor.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = LeadActivity
        fields = ["id", "kind", "old_value", "new_value", "actor", "created_at"]
        extra_kwargs = {
            "id": {
                "help_text": '0 for an imported lead\'s "created" entry, which is derived '
                "from its import rather than stored."
            }
        }
