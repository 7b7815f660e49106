from django.db.models import Count, Q

from leads.models import OPEN_STATUSES

from .models import Agent


def agents_with_open_counts():
    """Agents annotated with ``open_leads`` in the same query (no N+1)."""
    return Agent.objects.select_related("user").annotate(
        open_leads=Count("leads", filter=Q(leads__status__in=OPEN_STATUSES))
    )
