"""What follows every save of a ``User``, whoever saves it.

Connected in ``AccountsConfig.ready``. The services, the admin and
``changepassword`` all end in ``User.save``; hooking it means no entry point
can forget to end the tokens of a user whose role or password changed
(``accounts.security``) or to keep the managers' group in step with the role.
"""

from django.db import transaction

from . import security
from .models import Role
from .roles import sync_role_group
from .tokens import revoke_user_tokens


def detect_security_changes(sender, instance, raw=False, update_fields=None, **kwargs):
    """pre_save: note the role/password changes this save makes.

    Kept on the instance only from this pre_save to its post_save, which reads them.
    """
    instance._security_changes = (
        [] if raw else security.detect_changes(instance, update_fields=update_fields)
    )


def revoke_on_security_changes(sender, instance, created=False, raw=False, **kwargs):
    """post_save: a role or password change ends every token of the user at once.

    The change is audited by the service saving inside
    ``security.audited_by_caller`` (with its actor), or here with no actor.
    """
    changes = getattr(instance, "_security_changes", None)
    instance._security_changes = []
    if raw or created or not changes:
        return
    with transaction.atomic():
        revoke_user_tokens(instance)
        if not security.hand_over(instance, changes):
            security.record_changes(instance, changes, actor=None)


def keep_role_group(sender, instance, created=False, raw=False, update_fields=None, **kwargs):
    """post_save: a manager is in the "Managers" group, nobody else is (``accounts.roles``)."""
    if raw:
        return
    if instance.role == Role.MANAGER or (
        not created and (update_fields is None or "role" in update_fields)
    ):
        sync_role_group(instance)
