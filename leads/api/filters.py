import django_filters
from django.utils import timezone
from rest_framework.filters import SearchFilter

from leads.models import Lead, LeadStatus
from leads.phones import InvalidPhone, normalize_phone


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
    """Name/email search, plus the phone in any format the user types.

    A query that parses as a phone number is matched on the stored E.164 value
    (an indexed equality), so "098765 43210" finds "+919876543210".
    """

    def filter_queryset(self, request, queryset, view):
        query = request.query_params.get(self.search_param, "").strip()
        if query and sum(c.isdigit() for c in query) >= 6:
            try:
                return queryset.filter(phone=normalize_phone(query))
            except InvalidPhone:
                return queryset.filter(phone__contains="".join(c for c in query if c.isdigit()))
        return super().filter_queryset(request, queryset, view)
