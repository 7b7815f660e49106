"""Distribution use cases over HTTP: distribute, redistribute an agent, reassign.

Thin on purpose: parse, call ``assignments.services``, serialize the result.
Domain errors (``no_eligible_agent``, ``over_capacity``, ...) become the error
envelope in ``common.api``.
"""

from django.shortcuts import get_object_or_404
from drf_spectacular.utils import extend_schema
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts.permissions import IsManagerOrAdmin
from agents.models import Agent
from assignments import services

from .serializers import DistributeInput, DistributionOutput, ReassignInput, RedistributeInput


class DistributeView(APIView):
    """Hand out unassigned leads (all, selected ids, or one batch); ``dry_run`` previews."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(request=DistributeInput, responses={200: DistributionOutput})
    def post(self, request):
        data = DistributeInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.distribute(**data.validated_data, actor=request.user)
        return Response(DistributionOutput(result).data)


class RedistributeAgentView(APIView):
    """Move an agent's open leads to the other eligible agents."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(request=RedistributeInput, responses={200: DistributionOutput})
    def post(self, request, pk):
        agent = get_object_or_404(Agent, pk=pk)
        data = RedistributeInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.redistribute_agent(agent=agent, actor=request.user, **data.validated_data)
        return Response(DistributionOutput(result).data)


class ReassignView(APIView):
    """Give selected leads to one named agent."""

    permission_classes = [IsManagerOrAdmin]

    @extend_schema(request=ReassignInput, responses={200: DistributionOutput})
    def post(self, request):
        data = ReassignInput(data=request.data)
        data.is_valid(raise_exception=True)
        result = services.reassign(**data.validated_data, actor=request.user)
        return Response(DistributionOutput(result).data)
