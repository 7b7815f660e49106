"""Writes to agent profiles. The API, the admin and the commands all call these.

Each write is audited with its ``actor`` (None for the system, e.g. the demo
seed). Deactivation hands the agent's open leads to the others, so it is a
distribution use case: ``assignments.services.agent_deactivate``.

An agent profile can belong to a manager or an admin who also works leads.
Its person (name, email — the login's —, mobile) and its active state are
then theirs: ``accounts.services.ensure_may_manage`` refuses them to anyone
whose role is lower (403 ``permission_denied``). The desk settings (accepts
leads, away, weight, capacity) stay any manager's to set.
"""

from django.db import transaction

from accounts import audit, mail
from accounts.models import Role, User
from accounts.services import ensure_may_manage
from common import dataversion
from common.emails import email_problem, normalize_email
from common.errors import Conflict, DomainError
from common.phones import InvalidPhone, normalize_phone

from .models import Agent
from .tasks import send_invitation

_UPDATABLE = {
    "name", "mobile", "accepts_leads", "away_until", "weight", "capacity", "notify_assignments",
}  # fmt: skip
# Who the agent is: changed only by someone whose role reaches the login's.
_PERSON = {"name", "email", "mobile"}


def _clean_mobile(mobile):
    try:
        return normalize_phone(mobile)
    except InvalidPhone as exc:
        raise DomainError(str(exc), code="validation_error", fields={"mobile": [str(exc)]}) from exc


def _target(agent):
    """How audit entries name an agent (as ``assignments`` names it in reassignments)."""
    return f"agent:{agent.pk}"


def _clean_email(email):
    """The canonical form of ``email``, or a 400 naming the field when it cannot be stored."""
    email = normalize_email(email)
    problem = email_problem(email)
    if problem:
        raise DomainError(problem, code="validation_error", fields={"email": [problem]})
    return email


def _check_email_free(email, *, exclude_user=None):
    users = User.objects.filter(email=email)
    agents = Agent.objects.filter(email=email)
    if exclude_user is not None:
        users = users.exclude(pk=exclude_user.pk)
        agents = agents.exclude(user=exclude_user)
    if users.exists() or agents.exists():
        raise DomainError(
            "This email is already in use.",
            code="validation_error",
            fields={"email": ["This email is already in use."]},
        )


@transaction.atomic
def agent_create(
    *,
    name,
    email,
    mobile,
    password=None,
    accepts_leads=True,
    away_until=None,
    weight=1,
    capacity=None,
    notify_assignments=True,
    actor=None,
):
    """Create an agent and its login user in one transaction.

    Without a password the user cannot log in until one is set (an unusable
    password) and is invited: once the transaction commits, an email with a
    one-time link to set it is queued (``agents.tasks.send_invitation``).
    With a password (set by an admin or a manager) nothing is sent.
    """
    email = _clean_email(email)
    _check_email_free(email)
    user = User.objects.create_user(email=email, password=password, role=Role.AGENT)
    if password is None:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    agent = Agent.objects.create(
        user=user,
        name=name.strip(),
        email=email,
        mobile=_clean_mobile(mobile),
        accepts_leads=accepts_leads,
        away_until=away_until,
        weight=weight,
        capacity=capacity,
        notify_assignments=notify_assignments,
    )
    audit.record(audit.Action.AGENT_CREATED, actor=actor, target=_target(agent), email=agent.email)
    if password is None:
        _invite(agent, actor=actor)
    dataversion.bump()
    return agent


def _invite(agent, *, actor):
    audit.record(audit.Action.AGENT_INVITED, actor=actor, target=_target(agent), email=agent.email)
    mail.enqueue(send_invitation, agent.pk)


@transaction.atomic
def agent_invite(*, agent, actor=None):
    """Send the agent a new invitation (a fresh link) to set their password.

    For an agent who has not set a password yet (their link expired or was
    lost); one who has gets ``password_already_set`` (409) and uses "Forgot
    password" instead. Links sent earlier keep working until they expire.
    """
    agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
    ensure_may_manage(actor, agent.user)
    if agent.user.has_usable_password():
        raise Conflict(
            f'{agent.name} has already set a password; they can use "Forgot password".',
            code="password_already_set",
        )
    if not (agent.is_active and agent.user.is_active):
        raise Conflict(f"{agent.name} is deactivated; activate them first.", code="agent_inactive")
    _invite(agent, actor=actor)
    return agent


@transaction.atomic
def agent_update(*, agent, actor=None, **changes):
    """Change an agent's profile; the email change follows to the login user.

    Values are cleaned first (a bad email or mobile is a 400), then compared
    with the stored ones: a change to the person (name, email, mobile) needs
    ``ensure_may_manage`` over the login, read under the row lock. Sending an
    unchanged value (a full PUT) is no change.
    """
    agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
    unknown = set(changes) - _UPDATABLE - {"email"}
    if unknown:
        raise DomainError(f"Cannot change {', '.join(sorted(unknown))}.", code="validation_error")
    if "email" in changes:
        changes["email"] = _clean_email(changes["email"])
    if "mobile" in changes:
        changes["mobile"] = _clean_mobile(changes["mobile"])
    changed = {field: value for field, value in changes.items() if getattr(agent, field) != value}
    if _PERSON & set(changed):
        ensure_may_manage(actor, agent.user)
    if "email" in changed:
        _check_email_free(changed["email"], exclude_user=agent.user)
        agent.user.email = changed["email"]
        agent.user.save(update_fields=["email"])
    for field, value in changes.items():
        setattr(agent, field, value)
    agent.save()
    audit.record(audit.Action.AGENT_UPDATED, actor=actor, target=_target(agent), changed=changed)
    dataversion.bump()
    return agent


@transaction.atomic
def agent_activate(*, agent, actor=None):
    """Let a deactivated agent log in and take leads again."""
    agent = Agent.objects.select_for_update().select_related("user").get(pk=agent.pk)
    ensure_may_manage(actor, agent.user)
    agent.is_active = True
    agent.save(update_fields=["is_active", "updated_at"])
    agent.user.is_active = True
    agent.user.save(update_fields=["is_active"])
    audit.record(audit.Action.AGENT_ACTIVATED, actor=actor, target=_target(agent))
    dataversion.bump()
    return agent
