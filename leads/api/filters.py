import django_filters
from django.db.models import F
from django.utils import timezone

from common.filtering import (
    BooleanFilter,
    DateTimeFilter,
    IdFilter,
    MultipleChoiceFilter,
    OrderingFilter,
    SearchFilter,
    checked_search_text,
    search_schema,
)
from leads.models import Lead, LeadStatus
from leads.selectors import search_leads


class LeadFilter(django_filters.FilterSet):
    """The lead list's (and the CSV export's) filters; every value is checked
    before any query runs (``common.filtering``)."""

    status = MultipleChoiceFilter(choices=LeadStatus.choices)
    agent = IdFilter(field_name="agent_id")
    unassigned = BooleanFilter(field_name="agent", lookup_expr="isnull")
    batch = IdFilter(field_name="batch_id")
    created_after = DateTimeFilter(field_name="created_at", lookup_expr="gte")
    created_before = DateTimeFilter(field_name="created_at", lookup_expr="lt")
    follow_up_due = BooleanFilter(method="filter_follow_up_due")
    # The web app's "Due today" (after <= follow-up < before, the bounds of the
    # user's local day) and "Overdue" views.
    follow_up_after = DateTimeFilter(field_name="next_follow_up", lookup_expr="gte")
    follow_up_before = DateTimeFilter(field_name="next_follow_up", lookup_expr="lt")

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
        return search_leads(queryset, checked_search_text(request, self.search_param))

    def get_schema_operation_parameters(self, view):
        return [
            {
                "name": self.search_param,
                "required": False,
                "in": "query",
                "description": "A phone number in any format, or words of the name or email.",
                "schema": search_schema(),
            }
        ]


class LeadOrderingFilter(OrderingFilter):
    """``?ordering=next_follow_up`` puts leads without a follow-up last, on every
    database (MariaDB and SQLite sort NULL first ascending): a work list sorted by
    follow-up starts with the next call to make."""

    def filter_queryset(self, request, queryset, view):
        ordering = self.get_ordering(request, queryset, view)
        if not ordering:
            return queryset
        terms = []
        for name in ordering:
            if name.lstrip("-") == "next_follow_up":
                field = F("next_follow_up")
                terms.append(
                    field.desc(nulls_last=True)
                    if name.startswith("-")
                    else field.asc(nulls_last=True)
                )
            else:
                terms.append(name)
        return queryset.order_by(*terms)
