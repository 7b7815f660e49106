from datetime import timedelta

from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from accounts.models import Role

from .models import Lead, LeadActivity
from .phones import InvalidPhone, normalize_phone


def leads_visible_to(user):
    """The leads ``user`` may see: all for managers, an agent's own for agents.

    Scoping the queryset (not only checking objects) is what turns another
    agent's lead into a 404 rather than a 403.
    """
    leads = Lead.objects.select_related("agent")
    if not getattr(user, "is_authenticated", False):
        return leads.none()
    if user.role in (Role.ADMIN, Role.MANAGER):
        return leads
    agent = getattr(user, "agent_profile", None)
    if agent is None:
        return leads.none()
    return leads.filter(agent=agent)


def overdue_open_leads(*, hours, now=None):
    """Open, owned leads nobody has touched for ``hours`` (the SLA of ``sla_reassign``).

    Touched means the lead row changed (status, notes, follow-up, a new owner
    all bump ``updated_at``) or an activity was logged; either after the cutoff
    keeps the lead with its agent.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    recent = LeadActivity.objects.filter(lead=OuterRef("pk"), created_at__gt=cutoff)
    return (
        Lead.objects.open()
        .filter(agent__isnull=False, updated_at__lte=cutoff)
        .exclude(Exists(recent))
        .order_by("id")
    )


def search_leads(queryset, query):
    """Leads matching ``query``: a phone in any format, or words of the name/email.

    A query with six or more digits is a phone: it is normalised and matched on
    the stored E.164 value (an indexed equality), so "098765 43210" finds
    "+919876543210"; digits that do not parse are matched as a substring.
    """
    query = (query or "").strip()
    if not query:
        return queryset
    if sum(c.isdigit() for c in query) >= 6:
        try:
            return queryset.filter(phone=normalize_phone(query))
        except InvalidPhone:
            return queryset.filter(phone__contains="".join(c for c in query if c.isdigit()))
    for word in query.split():
        queryset = queryset.filter(
            Q(first_name__icontains=word) | Q(last_name__icontains=word) | Q(email__icontains=word)
        )
    return queryset
