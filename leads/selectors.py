from datetime import timedelta

from django.db.models import Exists, OuterRef
from django.utils import timezone

from accounts.models import Role

from .models import Lead, LeadActivity


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
