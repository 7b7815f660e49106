import django_filters
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
from leads.selectors import FOLLOW_UP_VIEWS, follow_up_view, search_leads


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
    view = django_filters.ChoiceFilter(
        choices=[(name, name) for name in FOLLOW_UP_VIEWS],
        method="filter_view",
        help_text=(
            "`due_today`: open leads whose next follow-up is from now to the end of "
            "today; `overdue`: open leads whose next follow-up has passed. Sorted by "
            "next follow-up unless `ordering` says otherwise."
        ),
    )

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

    def filter_view(self, queryset, name, value):
        return follow_up_view(queryset, value)


class LeadOrderingFilter(OrderingFilter):
    """The follow-up views (``?view=``) list the most urgent first by default."""

    def get_default_ordering(self, view):
        if view.request.query_params.get("view") in FOLLOW_UP_VIEWS:
            return ["next_follow_up"]
        return super().get_default_ordering(view)


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
