"""Writes to users made by someone: the admin's user form and password page.

A role or password change ends every token the user holds (the ``User``
receivers, ``accounts.signals``, whoever saves) and is audited here with the
``actor`` who made it. Saves made outside these functions (``manage.py
changepassword``, a shell) end the tokens the same way and are audited with
no actor.
"""

from django.db import transaction

from . import security
from .models import Role

# What the admin's user form edits; the password has its own page.
_EDITABLE = {"email", "first_name", "last_name", "role", "is_active"}


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
    for name, value in changes.items():
        setattr(user, name, value)
    return _save(user, actor=actor, update_fields=list(changes))


@transaction.atomic
def user_change_password(*, user, password, actor):
    """Set ``password`` (None: no password login) for ``user``; their tokens end.

    The caller has run the password validators (the admin's form does, to show
    their messages). The change is audited as ``actor``'s.
    """
    if password is None:
        user.set_unusable_password()
    else:
        user.set_password(password)
    return _save(user, actor=actor, update_fields=["password"])
