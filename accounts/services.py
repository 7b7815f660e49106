"""Writes to users made by someone: the admin's user form and password page.

A role or password change ends every token the user holds (the ``User``
receivers, ``accounts.signals``, whoever saves) and is audited here with the
``actor`` who made it. Saves made outside these functions (``manage.py
changepassword``, a shell) end the tokens the same way and are audited with
no actor.

Who may change whom is one rule, ``ensure_may_manage``: nobody changes the
identity, password, email or active state of a user whose role is above
their own (admin > manager > agent), nor grants a role above their own. The
user services here and the agent services (``agents.services``,
``assignments.services.agent_deactivate``) call it before they write, so the
API, the admin and the commands all refuse the same way.
"""

from django.contrib.auth import password_validation
from django.core.exceptions import ValidationError
from django.db import transaction

from common.emails import email_problem, normalize_email
from common.errors import DomainError

from . import audit, mail, security, tokens
from .models import Role, User
from .tasks import send_password_reset

# What the admin's user form edits; the password has its own page.
_EDITABLE = {"email", "first_name", "last_name", "role", "is_active"}

# The role order. Anything else (an anonymous user, an unknown role) ranks below all.
RANK = {Role.AGENT: 1, Role.MANAGER: 2, Role.ADMIN: 3}


class NotPermitted(DomainError):
    """403 ``permission_denied``: the actor's role does not reach the target's."""

    status = 403
    code = "permission_denied"


def _rank(role):
    return RANK.get(role, 0)


def ensure_may_manage(actor, user, *, new_role=None):
    """Refuse (``NotPermitted``) unless ``actor`` may change ``user``'s identity or access.

    ``user``'s role is the one given: callers pass the row they read under
    their lock, not a copy the request carried in. ``actor`` None is the
    system (management commands, migrations, the demo seed), which runs with
    the operator's own authority and is not limited. ``new_role``, when a
    role is being granted, may not be above the actor's own either.
    """
    if actor is None:
        return
    mine = _rank(getattr(actor, "role", None)) if actor.is_authenticated else 0
    if _rank(user.role) > mine:
        raise NotPermitted("You cannot change a user whose role is above yours.")
    if new_role is not None and _rank(new_role) > mine:
        raise NotPermitted("You cannot grant a role above your own.")


def locked(user):
    """``user``'s row read again under a row lock (its role as stored now)."""
    return User.objects.select_for_update().get(pk=user.pk)


def _save(user, *, actor, update_fields):
    with security.audited_by_caller(user) as changes:
        user.save(update_fields=update_fields)
    security.record_changes(user, changes, actor=actor)
    return user


@transaction.atomic
def user_update(*, user, actor, **changes):
    """Save ``changes`` to ``user``; a new role ends their tokens and is audited as ``actor``'s."""
    unknown = set(changes) - _EDITABLE
    if unknown:
        raise ValueError(f"Cannot change {', '.join(sorted(unknown))} here.")
    if "role" in changes and changes["role"] not in Role.values:
        raise ValueError(f"Unknown role {changes['role']!r}.")
    if not changes:
        return user
    ensure_may_manage(actor, locked(user), new_role=changes.get("role"))
    if "email" in changes:
        changes["email"] = normalize_email(changes["email"])
        problem = email_problem(changes["email"])
        if problem:
            raise DomainError(problem, code="validation_error", fields={"email": [problem]})
    for name, value in changes.items():
        setattr(user, name, value)
    return _save(user, actor=actor, update_fields=list(changes))


@transaction.atomic
def user_change_password(*, user, password, actor):
    """Set ``password`` (None: no password login) for ``user``; their tokens end.

    The caller has run the password validators (the admin's form does, to show
    their messages). The change is audited as ``actor``'s.
    """
    ensure_may_manage(actor, locked(user))
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    return _save(user, actor=actor, update_fields=["password"])


# --- Password reset -------------------------------------------------------------


class InvalidLink(DomainError):
    """400: the reset or invitation link is unknown, used, expired or not this user's."""

    code = "invalid_link"


def password_reset_request(*, email):
    """Queue the reset email for ``email``, whoever it belongs to (``accounts.tasks``).

    Nothing is looked up here: the caller answers the same for every address.
    """
    mail.enqueue(send_password_reset, normalize_email(email))


@transaction.atomic
def password_reset_confirm(*, uid, token, password, request=None):
    """Set ``password`` for the user of a reset or invitation link; return the user.

    The link must name an active user (``uid``) and carry a live token of
    theirs (``InvalidLink``, naming the field, otherwise); the password must
    pass the validators (``validation_error`` on ``password``). Setting it
    spends the link (the token signs the password hash), ends every access
    and refresh token the user holds, and is audited as the user's own act.
    """
    user = tokens.user_for_uid(uid)
    if user is None or not user.is_active:
        raise InvalidLink(_LINK_INVALID, fields={"uid": [_LINK_INVALID]})
    user = locked(user)
    if not tokens.check_link_token(user, token):
        raise InvalidLink(_LINK_INVALID, fields={"token": [_LINK_INVALID]})
    try:
        password_validation.validate_password(password, user)
    except ValidationError as exc:
        raise DomainError(
            "Choose another password.",
            code="validation_error",
            fields={"password": list(exc.messages)},
        ) from None
    user.set_password(password)
    _save(user, actor=user, update_fields=["password"])
    # The save ended the tokens if the password changed; setting the same
    # password again must end them too (whoever held the account is out).
    tokens.revoke_user_tokens(user)
    audit.record(audit.Action.PASSWORD_RESET, actor=user, target=user.email, request=request)
    return user


_LINK_INVALID = "This link is invalid or has expired. Ask for a new one."
