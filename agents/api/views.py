from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import mixins, serializers, status, viewsets
from rest_framework.decorators import action
from rest_framework.response import Response

from accounts.permissions import IsManagerOrAdmin
from agents import services
from assignments.services import agent_deactivate
from leads.selectors import agents_with_open_counts

from .filters import AgentFilter
from .serializers import AgentCreateInput, AgentOutput, AgentUpdateInput


class AgentViewSet(
    mixins.ListModelMixin,
    mixins.RetrieveModelMixin,
    viewsets.GenericViewSet,
):
    """Agents with their open-lead counts. Delete deactivates; history stays."""

    permission_classes = [IsManagerOrAdmin]
    serializer_class = AgentOutput
    filterset_class = AgentFilter
    search_fields = ["name", "email", "mobile"]
    ordering_fields = ["id", "name", "email", "created_at", "open_leads", "weight"]
    ordering = ["id"]

    def get_queryset(self):
        return agents_with_open_counts()

    def _output(self, agent, status_code=status.HTTP_200_OK):
        agent = self.get_queryset().get(pk=agent.pk)
        return Response(AgentOutput(agent).data, status=status_code)

    @extend_schema(request=AgentCreateInput, responses={201: AgentOutput})
    def create(self, request):
        data = AgentCreateInput(data=request.data)
        data.is_valid(raise_exception=True)
        agent = services.agent_create(**data.validated_data, actor=request.user)
        return self._output(agent, status.HTTP_201_CREATED)

    @extend_schema(request=AgentUpdateInput, responses={200: AgentOutput})
    def partial_update(self, request, pk=None):
        agent = self.get_object()
        data = AgentUpdateInput(data=request.data, partial=True)
        data.is_valid(raise_exception=True)
        agent = services.agent_update(agent=agent, actor=request.user, **data.validated_data)
        return self._output(agent)

    @extend_schema(request=AgentUpdateInput, responses={200: AgentOutput})
    def update(self, request, pk=None):
        return self.partial_update(request, pk)

    @extend_schema(
        request=None,
        responses={202: inline_serializer("InvitationQueued", {"detail": serializers.CharField()})},
    )
    @action(detail=True, methods=["post"])
    def invite(self, request, pk=None):
        """Email the agent a new one-time link to set their password.

        409 ``password_already_set`` once they have one (they use "Forgot
        password"), 409 ``agent_inactive`` for a deactivated agent.
        """
        agent = services.agent_invite(agent=self.get_object(), actor=request.user)
        return Response(
            {"detail": f"An invitation is on its way to {agent.email}."},
            status=status.HTTP_202_ACCEPTED,
        )

    @extend_schema(responses={204: None})
    def destroy(self, request, pk=None):
        agent_deactivate(agent=self.get_object(), actor=request.user)
        return Response(status=status.HTTP_204_NO_CONTENT)
