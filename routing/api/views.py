"""Teams, routing rules, the fallback setting and the explain endpoint (managers+).

Thin: parse, call ``routing.services`` (or ``assignments.explaining``),
serialize. Agents get 403 from ``IsManagerOrAdmin``.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework import mixins, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManagerOrAdmin
from assignments.explaining import explain
from leads.models import Lead
from routing import services
from routing.selectors import routing_settings, rules_in_order, teams_with_members

from .serializers import (
    ExplainInput,
    ExplainOutput,
    ReorderInput,
    RoutingSettingsSerializer,
    RuleInput,
    RuleOutput,
    TeamInput,
    TeamOutput,
)


class TeamViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Teams: name, active, the strategy inside the team, member agent ids."""

    permission_classes = [IsManagerOrAdmin]
    serializer_class = TeamOutput
    filter_backends = []

    def get_queryset(self):
        return teams_with_members()

    def _output(self, team, code=status.HTTP_200_OK):
        return Response(TeamOutput(self.get_queryset().get(pk=team.pk)).data, status=code)

    @extend_schema(request=TeamInput, responses={201: TeamOutput})
    def create(self, request):
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(services.team_create(**data.validated_data), status.HTTP_201_CREATED)

    @extend_schema(request=TeamInput, responses={200: TeamOutput})
    def partial_update(self, request, pk=None):
        team = self.get_object()
        data = TeamInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        return self._output(services.team_update(team=team, **data.validated_data))

    @extend_schema(request=TeamInput, responses={200: TeamOutput})
    def update(self, request, pk=None):
        team = self.get_object()
        data = TeamInput(data=request.data)
        data.is_valid(raise_exception=True)
        return self._output(services.team_update(team=team, **data.validated_data))

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.team_delete(team=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)


def _rule_changes(validated):
    changes = dict(validated)
    target = changes.pop("target", None)
    if target is not None:
        changes["team"] = target.get("team")
        changes["agent"] = target.get("agent")
    return changes


class RuleViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Routing rules in order: the first active rule whose conditions all hold decides."""

    permission_classes = [IsManagerOrAdmin]
    serializer_class = RuleOutput
    filter_backends = []

    def get_queryset(self):
        return rules_in_order()

    @extend_schema(request=RuleInput, responses={201: RuleOutput})
    def create(self, request):
        data = RuleInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_create(**_rule_changes(data.validated_data))
        return Response(RuleOutput(rule).data, status=status.HTTP_201_CREATED)

    @extend_schema(request=RuleInput, responses={200: RuleOutput})
    def partial_update(self, request, pk=None):
        rule = self.get_object()
        data = RuleInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        rule = services.rule_update(rule=rule, **_rule_changes(data.validated_data))
        return Response(RuleOutput(rule).data)

    @extend_schema(request=RuleInput, responses={200: RuleOutput})
    def update(self, request, pk=None):
        rule = self.get_object()
        data = RuleInput(data=request.data)
        data.is_valid(raise_exception=True)
        rule = services.rule_update(rule=rule, **_rule_changes(data.validated_data))
        return Response(RuleOutput(rule).data)

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        services.rule_delete(rule=self.get_object())
        return Response(status=status.HTTP_204_NO_CONTENT)

    @extend_schema(request=ReorderInput, responses={200: RuleOutput(many=True)})
    @action(detail=False, methods=["post"])
    def reorder(self, request):
        """Put the rules in the order of ``ids`` (every rule once); positions become 1..n."""
        data = ReorderInput(data=request.data)
        data.is_valid(raise_exception=True)
        services.rules_reorder(ids=data.validated_data["ids"])
        return Response(RuleOutput(self.get_queryset(), many=True).data)


class RoutingSettingsView(APIView):
    """The desk's fallback for leads no rule routes: ``pool`` or ``unassigned``."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(responses={200: RoutingSettingsSerializer})
    def get(self, request):
        return Response({"fallback": routing_settings().fallback})

    @extend_schema(request=RoutingSettingsSerializer, responses={200: RoutingSettingsSerializer})
    def put(self, request):
        data = RoutingSettingsSerializer(data=request.data)
        data.is_valid(raise_exception=True)
        row = services.settings_update(**data.validated_data)
        return Response({"fallback": row.fallback})

    @extend_schema(request=RoutingSettingsSerializer, responses={200: RoutingSettingsSerializer})
    def patch(self, request):
        data = RoutingSettingsSerializer(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        if "fallback" not in data.validated_data:  # nothing to change
            return self.get(request)
        row = services.settings_update(**data.validated_data)
        return Response({"fallback": row.fallback})


class ExplainView(APIView):
    """Which rule a lead matches and which agent would get it next; writes nothing."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(request=ExplainInput, responses={200: ExplainOutput})
    def post(self, request):
        data = ExplainInput(data=request.data)
        data.is_valid(raise_exception=True)
        lead_id = data.validated_data.get("lead_id")
        if lead_id is not None:
            get_object_or_404(Lead, pk=lead_id)
            return Response(explain(lead_id=lead_id))
        return Response(explain(lead=dict(data.validated_data["lead"])))
