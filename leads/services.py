"""Writes to single leads. Imports live in ``imports``; ownership in
``assignments.services``."""

from django.db import IntegrityError, transaction

from common import dataversion
from common.db import chunked, retry_on_deadlock
from common.errors import DomainError
from common.phones import InvalidPhone, normalize_phone

from . import counters
from .models import Lead, LeadActivity

NOTES_MAX_LENGTH = 5000
_TRACKED = {
    "status": LeadActivity.Kind.STATUS,
    "notes": LeadActivity.Kind.NOTE,
    "next_follow_up": LeadActivity.Kind.FOLLOW_UP,
}
MANAGER_FIELDS = {
    "first_name",
    "last_name",
    "phone",
    "email",
    "notes",
    "status",
    "next_follow_up",
    "extra",
}
AGENT_FIELDS = {"status", "notes", "next_follow_up"}


def clean_phone(raw, field="phone"):
    try:
        return normalize_phone(raw)
    except InvalidPhone as exc:
        raise DomainError(str(exc), code="validation_error", fields={field: [str(exc)]}) from exc


def _phone_taken():
    return DomainError(
        "A lead with this phone number already exists.",
        code="validation_error",
        fields={"phone": ["A lead with this phone number already exists."]},
    )


def _text(value):
    return (
        "" if value is None else (value.isoformat() if hasattr(value, "isoformat") else str(value))
    )


@transaction.atomic
def lead_create(*, actor=None, **fields):
    """Create one lead by hand (manager+). The phone is stored E.164 and unique."""
    unknown = set(fields) - MANAGER_FIELDS
    if unknown:
        raise DomainError(f"Unknown fields: {', '.join(sorted(unknown))}.", code="validation_error")
    fields["phone"] = clean_phone(fields.get("phone"))
    if Lead.objects.filter(phone=fields["phone"]).exists():
        raise _phone_taken()
    try:
        with transaction.atomic():
            lead = Lead.objects.create(**fields)
    except IntegrityError as exc:  # a concurrent create won the race for the phone
        raise _phone_taken() from exc
    LeadActivity.objects.create(lead=lead, actor=actor, kind=LeadActivity.Kind.CREATED)
    counters.leads_inserted([lead])
    dataversion.bump()
    return lead


@retry_on_deadlock  # a status change now also updates the counter rows other writers touch
@transaction.atomic
def lead_update(*, lead, actor, allowed=MANAGER_FIELDS, **changes):
    """Change a lead; each status, notes or follow-up change appends an activity.

    ``allowed`` is the caller's field set: agents may touch only
    ``AGENT_FIELDS``. The row is locked so two editors cannot interleave their
    activity entries with a half-applied change.
    """
    refused = set(changes) - set(allowed)
    if refused:
        raise DomainError(
            "These fields cannot be changed here.",
            code="validation_error",
            fields={name: ["This field cannot be changed."] for name in sorted(refused)},
        )
    lead = Lead.objects.select_for_update().get(pk=lead.pk)
    old_status = lead.status
    if "phone" in changes:
        changes["phone"] = clean_phone(changes["phone"])
        if Lead.objects.filter(phone=changes["phone"]).exclude(pk=lead.pk).exists():
            raise _phone_taken()
    activities = []
    for field, value in changes.items():
        old = getattr(lead, field)
        if old == value:
            continue
        if field in _TRACKED:
            activities.append(
                LeadActivity(
                    lead=lead,
                    actor=actor,
                    kind=_TRACKED[field],
                    old_value=_text(old),
                    new_value=_text(value),
                )
            )
        setattr(lead, field, value)
    lead.save()
    LeadActivity.objects.bulk_create(activities)
    counters.lead_status_changed(lead, old_status)
    dataversion.bump()
    return lead


@retry_on_deadlock
@transaction.atomic
def leads_delete(*, lead_ids):
    """Delete leads with their assignments and timeline (the console's delete).

    Superusers only, in the admin: leads normally leave through an import's
    undo, which keeps worked ones. Returns how many were deleted.
    """
    found = []
    for chunk in chunked(sorted(set(lead_ids))):
        found.extend(
            Lead.objects.select_for_update().filter(pk__in=chunk).values_list("id", flat=True)
        )
    counters.leads_deleted(found)
    for chunk in chunked(found):
        Lead.objects.filter(pk__in=chunk).delete()
    dataversion.bump()
    return len(found)
