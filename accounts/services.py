"""Writes to users that touch security: role and password changes.

Both end every token the user holds (``revoke_user_tokens``) and leave an
audit entry. Admin edits go through the same revocation via the ``pre_save`` /
``post_save`` hooks in ``accounts.signals``; these functions are what the API,
commands and tests call.
"""

from django.contrib.auth.password_validation import validate_password
from django.db import transaction

from .models import Role, User


@transaction.atomic
def user_set_role(*, user, role, actor=None):
    """Give ``user`` a new role; their tokens end at once (the role is in them)."""
    if role not in Role.values:
        raise ValueError(f"Unknown role {role!r}.")
    if user.role == role:
        return user
    user.role = role
    user._audit_actor = actor
    user.save(update_fields=["role"])
    return user


@transaction.atomic
def user_set_password(*, user, password, actor=None):
    """Validate and set ``password``; every session of ``user`` ends.

    Raises ``django.core.exceptions.ValidationError`` when a validator refuses it.
    """
    validate_password(password, user=user)
    user.set_password(password)
    user._audit_actor = actor
    user.save(update_fields=["password"])
    return user


__all__ = ["User", "user_set_password", "user_set_role"]
