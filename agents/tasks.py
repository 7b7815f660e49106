"""Background work of the agents: the invitation and the assignment digest."""

import logging

from celery import shared_task

from accounts.mail import email_task, send
from accounts.tokens import invitation_tokens, link_lifetime, set_password_link

from .models import Agent

logger = logging.getLogger("leadline.mail")


@email_task
def send_invitation(agent_id):
    """Email a new agent the one-time link that sets their first password.

    Nothing is sent if, by the time the task runs, the agent has set a
    password, been deactivated or removed: the link would be useless.
    """
    agent = Agent.objects.select_related("user").filter(pk=agent_id).first()
    if agent is None or not (agent.is_active and agent.user.is_active):
        return False
    if agent.user.has_usable_password():
        return False
    return send(
        "invitation",
        to=agent.user.email,
        context={
            "agent": agent,
            "link": set_password_link(agent.user, invitation_tokens),
            "valid_for": link_lifetime(invitation_tokens),
        },
    )


@shared_task
def send_assignment_digest(counts):
    """Fan one operation's ``{agent_id: leads}`` out to one email per agent.

    Each email is its own task (``send_assignment_email``), so an address that
    fails is retried alone and never makes the others go out twice.
    """
    counts = {int(agent_id): int(count) for agent_id, count in counts.items() if int(count) > 0}
    wanted = Agent.objects.filter(
        pk__in=list(counts), notify_assignments=True, is_active=True, user__is_active=True
    ).values_list("pk", flat=True)
    for agent_id in wanted:
        send_assignment_email.delay(agent_id, counts[agent_id])
    return len(wanted)


@email_task
def send_assignment_email(agent_id, count):
    """ "You have N new leads" with a link to the work list; the preference is read again."""
    agent = Agent.objects.select_related("user").filter(pk=agent_id).first()
    if agent is None or not agent.notify_assignments or not agent.is_active:
        return False
    return send("assignment_digest", to=agent.email, context={"agent": agent, "count": count})
