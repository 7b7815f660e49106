import django_filters
from django.utils import timezone
from rest_framework.filters import SearchFilter

from leads.models import Lead, LeadStatus
from leads.selectors import search_leads


class LeadFilter(django_filters.FilterSet):
    status = django_filters.MultipleChoiceFilter(choices=LeadStatus.choices)
    agent = django_filters.NumberFilter(field_name="agent_id")
    unassigned = django_filters.BooleanFilter(field_name="agent", lookup_expr="isnull")
    batch = django_filters.NumberFilter(field_name="batch_id")
    created_after = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = django_filters.IsoDateTimeFilter(field_name="created_at", lookup_expr="lt")
    follow_up_due = django_filters.BooleanFilter(method="filter_follow_up_due")

    class Meta:
        model = Lead
        fields = []

    def filter_follow_up_due(self, queryset, name, value):
        now = timezone.now()
        if value:
            return queryset.filter(next_follow_up__lte=now)
        return queryset.exclude(next_follow_up__lte=now)


class LeadSearchFilter(SearchFilter):
    """``?search=``: a phone in any format or words of the name/email
    (``leads.selectors.search_leads``, shared with the admin)."""

    def filter_queryset(self, request, queryset, view):
        return search_leads(queryset, request.query_params.get(self.search_param, ""))
