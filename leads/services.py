"""Writes to single leads. Imports live in ``imports``; ownership in
``assignments.services``."""

import json

from django.conf import settings
from django.db import IntegrityError, transaction

from common import dataversion
from common.db import chunked, retry_on_deadlock
from common.errors import DomainError
from common.phones import InvalidPhone, normalize_phone

from . import counters
from .models import Lead, LeadActivity

NOTES_MAX_LENGTH = 5000
EXTRA_MAX_DEPTH = 32
_INT64 = (-(2**63), 2**63 - 1)
EXTRA_PROBLEMS = {
    "int64": f"Whole numbers must be between {_INT64[0]} and {_INT64[1]}.",
    "depth": f"At most {EXTRA_MAX_DEPTH} levels of nested objects and lists.",
    "size": "It takes {size:,} bytes as JSON; at most {limit:,} bytes are kept per lead.",
}


def extra_problem(value):
    """Why ``value`` cannot be kept as a lead's ``extra``: ``(code, message)``, or None.

    Python's JSON reads any integer and any nesting, but the list's encoder
    (orjson) writes neither an integer past 64 bits nor more than 254 levels,
    and a JavaScript client loses precision well before 64 bits; and every
    list a lead is in carries its ``extra``, so it is held to the size an
    import keeps (``IMPORT_MAX_EXTRA_BYTES``). The API and the admin's form
    both refuse such a value, instead of storing a lead that breaks every list.
    """
    stack = [(value, 1)]
    while stack:  # iterative: no recursion however deep the value
        item, depth = stack.pop()
        if isinstance(item, (dict, list)):
            if depth > EXTRA_MAX_DEPTH:
                return "depth", EXTRA_PROBLEMS["depth"]
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
        elif isinstance(item, int) and not _INT64[0] <= item <= _INT64[1]:
            return "int64", EXTRA_PROBLEMS["int64"]
    limit = settings.IMPORT_MAX_EXTRA_BYTES
    text = json.dumps(value, ensure_ascii=False, separators=(",", ":"))
    size = len(text.encode(errors="surrogatepass"))
    if size > limit:
        return "size", EXTRA_PROBLEMS["size"].format(size=size, limit=limit)
    return None


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
