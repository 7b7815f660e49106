from drf_spectacular.utils import extend_schema_field
from rest_framework import serializers

from accounts.models import User


class TokenObtainInput(serializers.Serializer):
    email = serializers.CharField(max_length=254)
    password = serializers.CharField(max_length=4096, trim_whitespace=False)


class RefreshInput(serializers.Serializer):
    refresh = serializers.CharField(
        max_length=4096,
        required=False,
        help_text="The refresh token. Required, unless the request carries the header "
        "`X-Leadline-Client: web` and the `leadline_refresh` cookie (then send `{}`).",
    )


class TokenOutput(serializers.Serializer):
    access = serializers.CharField()
    refresh = serializers.CharField(
        required=False,
        help_text="Absent for the web client (`X-Leadline-Client: web`), which gets the "
        "refresh token in the `leadline_refresh` cookie instead.",
    )

    # Listed as optional in the response schema (accounts.schema): absent for the web client.
    optional_in_response = ("refresh",)


class AgentProfileOutput(serializers.Serializer):
    id = serializers.IntegerField()
    name = serializers.CharField()
    email = serializers.EmailField()
    mobile = serializers.CharField()
    is_active = serializers.BooleanField()
    accepts_leads = serializers.BooleanField()
    away_until = serializers.DateTimeField(allow_null=True)
    weight = serializers.IntegerField()
    capacity = serializers.IntegerField(allow_null=True)


class MeOutput(serializers.ModelSerializer):
    agent = serializers.SerializerMethodField()

    class Meta:
        model = User
        fields = ["id", "email", "first_name", "last_name", "role", "is_active", "agent"]

    @extend_schema_field(AgentProfileOutput(allow_null=True))
    def get_agent(self, user):
        agent = getattr(user, "agent_profile", None)
        return AgentProfileOutput(agent).data if agent is not None else None
