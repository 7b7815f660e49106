from accounts.models import Role

from .models import Lead


def leads_visible_to(user):
    """The leads ``user`` may see: all for managers, an agent's own for agents.

    Scoping the queryset (not only checking objects) is what turns another
    agent's lead into a 404 rather than a 403.
    """
    leads = Lead.objects.select_related("agent")
    if user.role in (Role.ADMIN, Role.MANAGER):
        return leads
    agent = getattr(user, "agent_profile", None)
    if agent is None:
        return leads.none()
    return leads.filter(agent=agent)
