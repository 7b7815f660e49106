from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from agents.models import Agent
from assignments.distribution import STRATEGIES
from assignments.models import Assignment, Strategy
from common.filtering import MAX_ID
from common.strict_fields import StrictBooleanField, StrictIntegerField
from leads.models import ImportBatch


class NamedRef(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()


def _named(obj):
    return None if obj is None else {"id": obj.pk, "name": obj.name}


class AssignmentOutput(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    # The routing rule and team that decided (null: fallback, manual, no rules),
    # and the decision in words.
    rule = serializers.SerializerMethodField()
    team = serializers.SerializerMethodField()
    explanation = serializers.CharField(read_only=True)
    # null when no user made it (an import, a command, the SLA job).
    assigned_by = serializers.EmailField(
        source="assigned_by.email", read_only=True, default=None, allow_null=True
    )

    class Meta:
        model = Assignment
        fields = [
            "id",
            "lead",
            "agent",
            "agent_name",
            "assigned_at",
            "assigned_by",
            "batch",
            "strategy",
            "reason",
            "ended_at",
            "end_reason",
            "rule",
            "team",
            "explanation",
        ]

    @extend_schema_field(NamedRef(allow_null=True))
    def get_rule(self, assignment):
        return _named(assignment.rule)

    @extend_schema_field(NamedRef(allow_null=True))
    def get_team(self, assignment):
        return _named(assignment.team)


# --- distribution operations (assignments/api/operations.py) ---------------------

MAX_LEAD_IDS = 10_000


def _id(**kwargs):
    # An id must be a JSON integer: not "5", not 5.0, not true.
    return StrictIntegerField(min_value=1, max_value=MAX_ID, **kwargs)


def _lead_ids(**kwargs):
    return serializers.ListField(
        child=_id(),
        allow_empty=False,
        min_length=1,  # what allow_empty=False means, as the schema's minItems
        max_length=MAX_LEAD_IDS,
        **kwargs,
    )


class DistributeInput(serializers.Serializer):
    lead_ids = _lead_ids(required=False)
    batch = _id(required=False)
    strategy = serializers.ChoiceField(choices=STRATEGIES, required=False)
    dry_run = StrictBooleanField(default=False)

    def validate_batch(self, value):
        batch = ImportBatch.objects.filter(pk=value).first()
        if batch is None:
            raise serializers.ValidationError(f"No import batch with id {value}.")
        return batch


class RedistributeInput(serializers.Serializer):
    strategy = serializers.ChoiceField(choices=STRATEGIES, required=False)


class ReassignInput(serializers.Serializer):
    lead_ids = _lead_ids()
    agent = _id()

    def validate_agent(self, value):
        agent = Agent.objects.filter(pk=value).first()
        if agent is None:
            raise serializers.ValidationError(f"No agent with id {value}.")
        return agent


class DistributionOutput(serializers.Serializer):
    """A ``DistributionResult``; ``unassigned_ids`` lists at most the first 1,000.

    ``unassigned`` (a count) and ``unassigned_ids`` are the API's names for the
    result's ``unplaced_ids``: the leads left without an agent.
    """

    assigned = serializers.IntegerField()
    unassigned = serializers.SerializerMethodField()
    unassigned_ids = serializers.SerializerMethodField()
    skipped = serializers.SerializerMethodField()
    per_agent = serializers.DictField(child=serializers.IntegerField())
    routing = serializers.ListField(
        child=serializers.DictField(),
        help_text="Per rule that matched: rule, team or agent, matched, per_agent, unplaced, "
        "fallback (leads sent to the fallback), no_eligible.",
    )
    dry_run = serializers.BooleanField()
    strategy = serializers.ChoiceField(choices=Strategy.choices)

    def get_unassigned(self, result) -> int:
        return len(result.unplaced_ids)

    def get_unassigned_ids(self, result) -> list[int]:
        return list(result.unplaced_ids[:1000])

    def get_skipped(self, result) -> int:
        return len(result.skipped)
