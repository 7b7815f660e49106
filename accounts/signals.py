"""Role and password changes end the user's tokens, whoever saves them.

Connected in ``AccountsConfig.ready``. The services, the admin's change form
and ``changepassword`` all end in ``User.save``; hooking it means no entry
point can forget. A hash that changes only because Django upgraded the hasher
parameters on login, or a new password equal to the old one, is not a
password change and keeps the sessions.
"""

from django.contrib.auth.hashers import check_password
from django.db import transaction

from . import audit
from .models import Role, User
from .roles import sync_role_group
from .tokens import revoke_user_tokens


def detect_security_changes(sender, instance, raw=False, update_fields=None, **kwargs):
    instance._security_changes = []
    if raw or instance._state.adding or instance.pk is None:
        return
    old = User.objects.filter(pk=instance.pk).values("role", "password").first()
    if old is None:
        return
    fields = set(update_fields) if update_fields is not None else None
    if (fields is None or "role" in fields) and old["role"] != instance.role:
        instance._security_changes.append(("role", old["role"], instance.role))
    # ``set_password`` leaves the raw password in ``_password`` until the save;
    # the hasher upgrade on login clears it before saving, so it is not seen here.
    raw_password = getattr(instance, "_password", None)
    if (
        (fields is None or "password" in fields)
        and raw_password is not None
        and old["password"] != instance.password
        and not check_password(raw_password, old["password"])
    ):
        instance._security_changes.append(("password", None, None))


def revoke_on_security_changes(sender, instance, created=False, raw=False, **kwargs):
    changes = getattr(instance, "_security_changes", None)
    if raw or created or not changes:
        return
    instance._security_changes = []
    actor = getattr(instance, "_audit_actor", None)
    instance._audit_actor = None
    with transaction.atomic():
        revoke_user_tokens(instance)
        for kind, old, new in changes:
            if kind == "role":
                audit.record(
                    audit.Action.ROLE_CHANGED, actor=actor, target=instance.email, old=old, new=new
                )
            else:
                audit.record(audit.Action.PASSWORD_CHANGED, actor=actor, target=instance.email)


def keep_role_group(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    """A manager is in the "Managers" group, nobody else is (``accounts.roles``)."""
    if raw:
        return
    if instance.role == Role.MANAGER or (
        not created and (update_fields is None or "role" in update_fields)
    ):
        sync_role_group(instance)
