import django_filters
from rest_framework import mixins, viewsets

from accounts.permissions import IsManagerOrAgentReadOnly
from assignments.models import Assignment, Reason, Strategy

from .serializers import AssignmentOutput


class AssignmentFilter(django_filters.FilterSet):
    agent = django_filters.NumberFilter(field_name="agent_id")
    lead = django_filters.NumberFilter(field_name="lead_id")
    batch = django_filters.NumberFilter(field_name="batch_id")
    reason = django_filters.ChoiceFilter(choices=Reason.choices)
    strategy = django_filters.ChoiceFilter(choices=Strategy.choices)
    open = django_filters.BooleanFilter(field_name="ended_at", lookup_expr="isnull")
    assigned_after = django_filters.IsoDateTimeFilter(field_name="assigned_at", lookup_expr="gte")
    assigned_before = django_filters.IsoDateTimeFilter(field_name="assigned_at", lookup_expr="lt")

    class Meta:
        model = Assignment
        fields = []


class AssignmentViewSet(mixins.ListModelMixin, mixins.RetrieveModelMixin, viewsets.GenericViewSet):
    """Assignment history, read-only. Managers see all; an agent its own rows."""

    permission_classes = [IsManagerOrAgentReadOnly]
    serializer_class = AssignmentOutput
    filterset_class = AssignmentFilter
    search_fields = []
    ordering_fields = ["assigned_at", "id"]
    ordering = ["-assigned_at", "-id"]

    def get_queryset(self):
        rows = Assignment.objects.select_related("agent", "assigned_by")
        return rows.visible_to(self.request.user)
