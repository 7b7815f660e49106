from rest_framework import serializers

from common.strict_fields import StrictDateTimeField
from leads.models import Lead, LeadActivity, LeadStatus
from leads.selectors import LEAD_LIST_FIELDS
from leads.services import NOTES_MAX_LENGTH, extra_problem


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


class ExtraField(serializers.DictField):
    """Free-form data kept with the lead, within what every reader can take
    (``leads.services.extra_problem``): anything else is a 400."""

    def to_internal_value(self, data):
        value = super().to_internal_value(data)
        problem = extra_problem(value)
        if problem:
            code, message = problem
            raise serializers.ValidationError(message, code=code)
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
