import django_filters
from django_filters.rest_framework import DjangoFilterBackend
from rest_framework import mixins, viewsets

from accounts.permissions import IsManagerOrAgentReadOnly
from assignments.models import Assignment, Reason, Strategy
from common.filtering import BooleanFilter, DateTimeFilter, IdFilter, OrderingFilter

from .serializers import AssignmentOutput


class AssignmentFilter(django_filters.FilterSet):
    """Every value is checked before any query runs (``common.filtering``)."""

    agent = IdFilter(field_name="agent_id")
    lead = IdFilter(field_name="lead_id")
    batch = IdFilter(field_name="batch_id")
    reason = django_filters.ChoiceFilter(choices=Reason.choices)
    strategy = django_filters.ChoiceFilter(choices=Strategy.choices)
    open = BooleanFilter(field_name="ended_at", lookup_expr="isnull")
    assigned_after = DateTimeFilter(field_name="assigned_at", lookup_expr="gte")
    assigned_before = DateTimeFilter(field_name="assigned_at", lookup_expr="lt")

    class Meta:
        model = Assignment
        fields = []


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Assignment history, read-only. Managers see all; an agent its own rows."""

    permission_classes = [IsManagerOrAgentReadOnly]
    serializer_class = AssignmentOutput
    # No free-text search here: the history is filtered by its ids and codes.
    filter_backends = [DjangoFilterBackend, OrderingFilter]
    filterset_class = AssignmentFilter
    ordering_fields = ["assigned_at", "id"]
    ordering = ["-assigned_at", "-id"]

    def get_queryset(self):
        rows = Assignment.objects.select_related("agent", "assigned_by", "rule", "team")
        return rows.visible_to(self.request.user)
