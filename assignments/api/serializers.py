from rest_framework import serializers

from assignments.models import Assignment


class AssignmentOutput(serializers.ModelSerializer):
    agent_name = serializers.CharField(source="agent.name", read_only=True)
    assigned_by = serializers.EmailField(source="assigned_by.email", read_only=True, default=None)

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
        ]
