from django.contrib.auth import password_validation
from rest_framework import serializers

from agents.models import Agent
from common.strict_fields import StrictBooleanField, StrictDateTimeField


class AgentOutput(serializers.ModelSerializer):
    open_leads = serializers.IntegerField(read_only=True)
    user_id = serializers.IntegerField(read_only=True)

    class Meta:
        model = Agent
        fields = [
            "id",
            "user_id",
            "name",
            "email",
            "mobile",
            "is_active",
            "accepts_leads",
            "away_until",
            "weight",
            "capacity",
            "notify_assignments",
            "open_leads",
            "created_at",
            "updated_at",
        ]


class AgentCreateInput(serializers.Serializer):
    name = serializers.CharField(max_length=150)
    email = serializers.EmailField(max_length=254)
    mobile = serializers.CharField(max_length=32)
    password = serializers.CharField(
        max_length=4096,
        required=False,
        write_only=True,
        trim_whitespace=False,
        help_text="Leave out to invite: the agent gets an email with a link to set it.",
    )
    accepts_leads = StrictBooleanField(default=True)
    away_until = StrictDateTimeField(required=False, allow_null=True, default=None)
    weight = serializers.IntegerField(min_value=1, max_value=1000, default=1)
    capacity = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False, allow_null=True, default=None
    )
    notify_assignments = StrictBooleanField(default=True)

    def validate_password(self, value):
        password_validation.validate_password(value)
        return value


class AgentUpdateInput(serializers.Serializer):
    name = serializers.CharField(max_length=150, required=False)
    email = serializers.EmailField(max_length=254, required=False)
    mobile = serializers.CharField(max_length=32, required=False)
    accepts_leads = StrictBooleanField(required=False)
    away_until = StrictDateTimeField(required=False, allow_null=True)
    weight = serializers.IntegerField(min_value=1, max_value=1000, required=False)
    capacity = serializers.IntegerField(
        min_value=0, max_value=1_000_000, required=False, allow_null=True
    )
    notify_assignments = StrictBooleanField(required=False)
