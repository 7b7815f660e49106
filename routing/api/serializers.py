from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from assignments.api.serializers import NamedRef
from assignments.distribution import STRATEGIES
from common.filtering import MAX_ID
from common.strict_fields import StrictBooleanField, StrictCharField, StrictIntegerField
from routing.matching import FIELDS, MAX_CONDITIONS, OPS
from routing.models import Fallback, RoutingRule, Team


def _id(**kwargs):
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


class TeamOutput(serializers.ModelSerializer):
    # The distribution strategies' one enum in the schema (DistributeInput's).
    strategy = serializers.ChoiceField(choices=STRATEGIES)
    members = serializers.SerializerMethodField()

    class Meta:
        model = Team
        fields = ["id", "name", "active", "strategy", "members"]

    @extend_schema_field(serializers.ListField(child=serializers.IntegerField()))
    def get_members(self, team):
        return sorted(member.pk for member in team.members.all())


class TeamInput(serializers.Serializer):
    name = StrictCharField(max_length=100)
    active = StrictBooleanField(default=True)
    strategy = serializers.ChoiceField(choices=STRATEGIES, default="round_robin")
    members = serializers.ListField(child=_id(), max_length=1000, default=list)


class ConditionSchema(serializers.Serializer):
    """One condition (documentation; the service validates the list)."""

    field = serializers.CharField(help_text=f"One of {', '.join(FIELDS)} or extra.<Column>.")
    op = serializers.ChoiceField(choices=OPS)
    value = serializers.JSONField(
        required=False, allow_null=True, help_text="A string; a list of strings for 'in'."
    )


class TargetSchema(serializers.Serializer):
    team = _id(required=False)
    agent = _id(required=False)


class _ConditionsField(serializers.JSONField):
    """Any JSON here; ``routing.services.clean_conditions`` names what is wrong."""


class RuleOutput(serializers.ModelSerializer):
    conditions = serializers.SerializerMethodField()
    target = serializers.SerializerMethodField()

    class Meta:
        model = RoutingRule
        fields = ["id", "name", "position", "active", "conditions", "target"]

    @extend_schema_field(ConditionSchema(many=True))
    def get_conditions(self, rule):
        return rule.conditions

    @extend_schema_field(TargetSchema)
    def get_target(self, rule):
        if rule.team_id is not None:
            return {"team": rule.team_id}
        return {"agent": rule.agent_id}


class RuleInput(serializers.Serializer):
    name = StrictCharField(max_length=100)
    position = _id(required=False)
    active = StrictBooleanField(default=True)
    conditions = _ConditionsField(
        default=list, help_text=f"At most {MAX_CONDITIONS} {{field, op, value}} objects."
    )
    target = TargetSchema()

    def validate_target(self, value):
        if set(value) not in ({"team"}, {"agent"}):
            raise serializers.ValidationError('Give exactly one of {"team": id} or {"agent": id}.')
        return value

    def to_internal_value(self, data):
        if isinstance(data, dict) and isinstance(data.get("target"), dict):
            unknown = set(data["target"]) - {"team", "agent"}
            if unknown:
                raise serializers.ValidationError(
                    {"target": [f"Unknown key(s): {', '.join(sorted(map(str, unknown)))}."]}
                )
        return super().to_internal_value(data)


class ReorderInput(serializers.Serializer):
    ids = serializers.ListField(child=_id(), allow_empty=False, max_length=1000)


class RoutingSettingsSerializer(serializers.Serializer):
    fallback = serializers.ChoiceField(choices=Fallback.choices)


class ExplainLead(serializers.Serializer):
    phone = serializers.CharField(max_length=32, required=False, allow_blank=True)
    email = serializers.CharField(max_length=254, required=False, allow_blank=True)
    status = serializers.CharField(max_length=16, required=False, allow_blank=True)
    source = serializers.CharField(max_length=255, required=False, allow_blank=True)
    extra = serializers.DictField(
        child=serializers.CharField(max_length=1000, allow_blank=True), required=False
    )

    def validate_extra(self, value):
        if len(value) > 200:
            raise serializers.ValidationError("At most 200 columns.")
        return value


class ExplainInput(serializers.Serializer):
    lead = ExplainLead(required=False)
    lead_id = _id(required=False)

    def validate(self, attrs):
        if ("lead" in attrs) == ("lead_id" in attrs):
            raise serializers.ValidationError(
                {"lead": ['Give exactly one of "lead" (an object) or "lead_id".']}
            )
        return attrs


class ExplainOutput(serializers.Serializer):
    rule = NamedRef(allow_null=True)
    team = NamedRef(allow_null=True)
    agent = NamedRef(allow_null=True)
    fallback = serializers.BooleanField()
    explanation = serializers.CharField()
