from datetime import datetime, time, timedelta

import orjson
from django.db.models import Count, Exists, IntegerField, OuterRef, Subquery, Value
from django.db.models.expressions import RawSQL
from django.db.models.functions import Coalesce
from django.utils import timezone

from agents.models import Agent
from common.compiled import CompiledQuery
from common.phones import InvalidPhone, e164_prefix, normalize_phone

from .models import OPEN_STATUSES, Lead, LeadActivity

# A lead's API shape, output name -> values() path, in output order: the one
# definition. ``LeadOutput`` takes its fields from here, the list's fast path
# its columns, the export the columns it shares, the benchmark's bare view its
# names and columns. A name that is not a model field (``agent_name``) is declared on
# ``LeadOutput`` with the same source; a test holds the two together.
LEAD_LIST_FIELDS = {
    "id": "id",
    "first_name": "first_name",
    "last_name": "last_name",
    "phone": "phone",
    "email": "email",
    "notes": "notes",
    "status": "status",
    "next_follow_up": "next_follow_up",
    "agent": "agent_id",
    "agent_name": "agent__name",
    "batch": "batch_id",
    "extra": "extra",
    "created_at": "created_at",
    "updated_at": "updated_at",
}
LEAD_LIST_ORDERING = ("-id",)

_AGENT_PAGE = CompiledQuery(
    lambda: (
        Lead.objects.filter(agent_id=0)
        .order_by(*LEAD_LIST_ORDERING)
        .values_list(*LEAD_LIST_FIELDS.values())
    ),
    paged=True,
)
_ALL_PAGE = CompiledQuery(
    lambda: Lead.objects.order_by(*LEAD_LIST_ORDERING).values_list(*LEAD_LIST_FIELDS.values()),
    paged=True,
)
_EXTRA = tuple(LEAD_LIST_FIELDS).index("extra")


def lead_list_page(*, agent_id, offset, limit):
    """One page of the unfiltered lead list, newest first, as ``LEAD_LIST_FIELDS`` rows.

    ``agent_id=None`` is every lead (managers), otherwise that agent's leads.
    The agents' hot path: the SQL is compiled once (``CompiledQuery``) and only
    ``extra`` is converted (JSON text to a dict); datetimes come as the driver
    returns them, naive UTC under ``USE_TZ``, which the caller formats directly
    instead of attaching and converting a time zone for every value.
    """
    if agent_id is None:
        rows = _ALL_PAGE.rows(limit=limit, offset=offset)
    else:
        rows = _AGENT_PAGE.rows((agent_id,), limit=limit, offset=offset)
    page = []
    for row in rows:
        row = list(row)
        extra = row[_EXTRA]
        if isinstance(extra, (str, bytes)):
            row[_EXTRA] = orjson.loads(extra)
        page.append(row)
    return page


def overdue_open_leads(*, hours, now=None):
    """Open, owned leads nobody has touched for ``hours`` (the SLA of ``sla_reassign``).

    Touched means the lead row changed (status, notes, follow-up, a new owner
    all bump ``updated_at``) or an activity was logged; either after the cutoff
    keeps the lead with its agent.
    """
    cutoff = (now or timezone.now()) - timedelta(hours=hours)
    recent = LeadActivity.objects.filter(lead=OuterRef("pk"), created_at__gt=cutoff)
    return (
        Lead.objects.open()
        .filter(agent__isnull=False, updated_at__lte=cutoff)
        .exclude(Exists(recent))
        .order_by("id")
    )


FOLLOW_UP_VIEWS = ("due_today", "overdue")


def follow_up_view(queryset, view, *, now=None):
    """The agents' follow-up views of ``queryset``: open leads only.

    ``overdue``: the next follow-up has passed. ``due_today``: it is still
    ahead today (from now to midnight in the current time zone), so the two
    never overlap. Both are a range of the ``(agent, next_follow_up)`` index.
    """
    now = now or timezone.now()
    queryset = queryset.open()
    if view == "overdue":
        return queryset.filter(next_follow_up__lt=now)
    if view == "due_today":
        tomorrow = timezone.localdate(now) + timedelta(days=1)
        midnight = timezone.make_aware(datetime.combine(tomorrow, time.min))
        return queryset.filter(next_follow_up__gte=now, next_follow_up__lt=midnight)
    raise ValueError(f"unknown follow-up view {view!r}")


# What a phone number is written with besides its digits.
_PHONE_PUNCTUATION = frozenset("+-()./ ")
SEARCH_FIELDS = ("first_name", "last_name", "email")


def _is_phone(query):
    return sum(c.isdigit() for c in query) >= 6 and all(
        c.isdigit() or c in _PHONE_PUNCTUATION for c in query
    )


def _word_matches(queryset, word):
    """``queryset``'s ids whose first name, last name or email begins with ``word``,
    as SQL for ``id IN (...)``: a derived table of one UNION of three index ranges.

    Written as ``first_name LIKE 'w%' OR last_name LIKE 'w%' OR ...`` MariaDB
    either merges the three ranges and then reads every matching row to check
    the OR again (24,000 rows for a common first name at a million leads), or
    walks the whole table newest first. Each branch of the union is read from its
    index alone (``(agent, first_name)`` for an agent, ``first_name`` for a
    manager), and the derived table is materialized once: only the page's rows
    are read.
    """
    parts = [
        queryset.filter(**{f"{field}__istartswith": word}).order_by().values("id").query
        for field in SEARCH_FIELDS
    ]
    compiled = [part.sql_with_params() for part in parts]
    sql = " UNION ".join(text for text, _params in compiled)
    params = tuple(param for _text, params in compiled for param in params)
    # Django's own SQL for the branches, every value a parameter.
    return RawSQL(f"SELECT id FROM ({sql}) AS lead_search", params)  # noqa: S608, S611


def search_leads(queryset, query):
    """Leads matching ``query``: a phone in any format, or words of the name/email.

    A query of digits and phone punctuation with six or more digits is a phone:
    it is normalized and matched on the stored E.164 value (an indexed
    equality), so "098765 43210" finds "+919876543210"; a part of a number that
    does not parse is matched as the start of the E.164 value ("98765 4" finds
    "+91987654..."), a range of the same index. Otherwise every word must begin
    the first name, the last name or the email ("kir" finds Kiran, "kiran.s"
    kiran.sharma@..., "kiran99@x.org" that address): prefixes are ranges of the
    name and email indexes, where a substring would read every row (README,
    "Search").
    """
    query = (query or "").strip()
    if not query:
        return queryset
    if _is_phone(query):
        try:
            return queryset.filter(phone=normalize_phone(query))
        except InvalidPhone:
            # istartswith: MariaDB's case-sensitive LIKE BINARY cannot use the
            # column's (case-insensitive) index; digits have no case anyway.
            return queryset.filter(phone__istartswith=e164_prefix(query))
    scope = queryset
    for word in query.split():
        queryset = queryset.filter(id__in=_word_matches(scope, word))
    return queryset


def agents_with_open_counts():
    """Agents annotated with ``open_leads`` in the same query (no N+1).

    A correlated subquery per agent uses the ``(agent, status)`` index; a JOIN
    with GROUP BY over all leads measured ~10x slower at 200,000 leads.
    """
    open_leads = (
        Lead.objects.filter(agent=OuterRef("pk"), status__in=OPEN_STATUSES)
        .order_by()
        .values("agent")
        .annotate(n=Count("id"))
        .values("n")
    )
    return Agent.objects.select_related("user").annotate(
        open_leads=Coalesce(Subquery(open_leads, output_field=IntegerField()), Value(0))
    )
