"""Role and password changes: what counts as one, and what follows it.

Every save of a ``User`` is checked (the receivers in ``accounts.signals``):
a changed role, or a new password, ends every token the user holds at once,
whoever saved it. That part is unconditional.

The audit entry names who made the change. A service that acts for someone
(``accounts.services``) saves inside ``audited_by_caller(user)``, receives
the detected changes and records them itself with its ``actor``; a save
outside any service (``manage.py changepassword``, a shell) is recorded by
the receiver with no actor. Either way a change is recorded exactly once.
"""

from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field

from django.contrib.auth.hashers import check_password

from . import audit
from .models import User


@dataclass(frozen=True)
class Change:
    """One security-relevant change of a user, as its audit entry records it."""

    action: audit.Action
    data: dict = field(default_factory=dict)


# (user pk, list) while a service saves that user inside ``audited_by_caller``.
_caller_audits = ContextVar("accounts_security_caller_audits", default=None)


def detect_changes(user, *, update_fields=None):
    """The role and password changes that saving ``user`` now would make.

    Compared with the stored row. A hash that changes only because Django
    upgraded the hasher on login (no raw password pending), or a new password
    equal to the old one, is not a password change.
    """
    if user._state.adding or user.pk is None:
        return []
    old = User.objects.filter(pk=user.pk).values("role", "password").first()
    if old is None:
        return []
    fields = set(update_fields) if update_fields is not None else None
    changes = []
    if (fields is None or "role" in fields) and old["role"] != user.role:
        changes.append(Change(audit.Action.ROLE_CHANGED, {"old": old["role"], "new": user.role}))
    # ``set_password`` keeps the raw password in ``_password`` until the save;
    # the hasher upgrade on login clears it before saving.
    raw_password = getattr(user, "_password", None)
    if (
        (fields is None or "password" in fields)
        and raw_password is not None
        and old["password"] != user.password
        and not check_password(raw_password, old["password"])
    ):
        changes.append(Change(audit.Action.PASSWORD_CHANGED))
    return changes


def record_changes(user, changes, *, actor):
    """One audit entry per change; ``actor`` is who made it (None: no one known)."""
    for change in changes:
        audit.record(change.action, actor=actor, target=user.email, **change.data)


@contextmanager
def audited_by_caller(user):
    """Hand the changes saved for ``user`` in this block to the caller to audit.

    Yields a list that the block's saves of ``user`` fill; the caller passes
    it to ``record_changes`` with its actor. Tokens still end on the save.
    """
    changes = []
    token = _caller_audits.set((user.pk, changes))
    try:
        yield changes
    finally:
        _caller_audits.reset(token)


def hand_over(user, changes):
    """Give ``changes`` to the ``audited_by_caller`` block saving ``user``; False if none is."""
    claimed = _caller_audits.get()
    if claimed is None or claimed[0] != user.pk:
        return False
    claimed[1].extend(changes)
    return True
