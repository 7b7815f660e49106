"""The audit trail: one call per security-relevant event.

``record(Action.LOGIN_FAILED, target=email, request=request)``,
``record(Action.IMPORT_COMMITTED, actor=user, target=f"batch:{batch.pk}", rows=120)``.
Rows are written in the caller's transaction, so an import that rolls back
leaves no "imported" entry behind. Each entry is also logged (JSON, with the
request id) for the log pipeline.
"""

import json
import logging

from django.core.serializers.json import DjangoJSONEncoder
from django.db import models

from common.clientip import client_ip
from common.logging import request_id_var

from .models import AuditLog

logger = logging.getLogger("leadline.audit")


class Action(models.TextChoices):
    """Every kind of audit entry; ``AuditLog.action`` holds one of these."""

    LOGIN_SUCCEEDED = "login_succeeded"
    LOGIN_FAILED = "login_failed"
    LOGOUT = "logout"
    TOKEN_REUSED = "token_reused"  # noqa: S105 - an action name
    ROLE_CHANGED = "role_changed"
    PASSWORD_CHANGED = "password_changed"  # noqa: S105
    # A password set through an emailed link (reset or invitation).
    PASSWORD_RESET = "password_reset"  # noqa: S105
    AGENT_INVITED = "agent_invited"
    IMPORT_COMMITTED = "import_committed"
    IMPORT_UNDONE = "import_undone"
    IMPORT_DISCARDED = "import_discarded"
    DISTRIBUTION = "distribution"
    REASSIGNMENT = "reassignment"
    BACKUP = "backup"
    RESTORE = "restore"
    AGENT_CREATED = "agent_created"
    AGENT_UPDATED = "agent_updated"
    AGENT_DEACTIVATED = "agent_deactivated"
    AGENT_ACTIVATED = "agent_activated"
    # A login renamed because its address collided with another once normalized
    # (written by the accounts 0003 migration).
    EMAIL_RENAMED = "email_renamed"


# Keys that must never be stored, whatever a caller passes.
_SECRET_KEYS = {"password", "password1", "password2", "refresh", "access", "token"}


def _clean(data):
    clean = {k: v for k, v in data.items() if k.lower() not in _SECRET_KEYS}
    # Round-trip so dates, decimals and UUIDs are stored as JSON can hold them.
    return json.loads(json.dumps(clean, cls=DjangoJSONEncoder))


def record(action, *, actor=None, target="", request=None, **data):
    """Append one audit entry and return it.

    ``actor`` is the user who acted (None for the system or an anonymous
    login attempt); ``target`` names what was acted on; ``request`` supplies
    the client IP; everything else is stored as JSON ``data``.
    """
    if actor is not None and not getattr(actor, "is_authenticated", False):
        actor = None
    action = Action(action)  # an unknown action is a programming error: ValueError
    entry = AuditLog.objects.create(
        action=action,
        actor=actor,
        actor_email=getattr(actor, "email", "") or "",
        target=str(target)[:255],
        ip=client_ip(request) if request is not None else None,
        request_id=request_id_var.get()[:64] if request_id_var.get() != "-" else "",
        data=_clean(data),
    )
    logger.info(
        "audit %s",
        action,
        extra={"audit_action": action, "actor": entry.actor_email, "target": entry.target},
    )
    return entry
