"""The dashboard's counters: leads per agent and status, created and assigned per day.

Counting a million leads per dashboard view costs seconds, and every write
retires the cached numbers. So every write that creates, deletes, moves or
re-statuses leads (or writes assignments) also adds its *delta* to two small
tables, in its own transaction: :class:`~leads.models.LeadCount` (agent,
status) and :class:`~leads.models.DayCount` (day, agent: created, assigned).
The dashboard reads those rows only, so its cost does not grow with the leads.

How a write path reports its change, cheapest first:

- it knows the values: :func:`leads_created` (the import's inserted rows),
  :func:`lead_status_changed` (one lead), :func:`leads_inserted` (instances);
- it knows the ids: :func:`move_leads` (before the owner changes) and
  :func:`leads_deleted` (before the delete) count the rows with one grouped
  query per chunk of ids (``GROUP BY agent, status, day``), never one per lead;
- :func:`assigned_from_leads`: assignments built from lead rows (the import).

Deltas are applied with "insert or add" upserts (``INSERT … ON DUPLICATE KEY
UPDATE n = n + VALUES(n)`` on MariaDB/MySQL, ``ON CONFLICT … DO UPDATE`` on
SQLite), keys in sorted order, so two writers touching the same counters wait
for each other instead of deadlocking. A long transaction (the import) wraps
itself in :func:`deferred`: its deltas are summed in memory and applied once,
at its end, so the counter rows it touches stay locked for milliseconds, not
for the whole import.

``manage.py rebuild_counters`` (:func:`rebuild`) recounts from the rows in a
consistent snapshot and adds the difference, which is also how a restore or a
bulk write made outside these paths is made right.
"""

import functools
import threading
from collections import Counter
from dataclasses import dataclass
from datetime import UTC

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.db.models.functions import Trunc
from django.utils import timezone

from common import dataversion
from common.db import chunked

from .models import NO_AGENT, DayCount, Lead, LeadCount, LeadStatus

# The kinds of counter a key names: ("lead", agent, status), ("created", agent, day),
# ("assigned", agent, day).
LEAD, CREATED, ASSIGNED = "lead", "created", "assigned"
UPSERT_ROWS = 500

_local = threading.local()


def agent_key(agent_id):
    """The counters' key for an owner (``NO_AGENT`` for none)."""
    return NO_AGENT if agent_id is None else int(agent_id)


def day_of(moment):
    """The day (in ``TIME_ZONE``) a timestamp is counted on."""
    return timezone.localdate(moment, timezone.get_default_timezone())


def _minute(field):
    """``field`` cut to the minute, in UTC: grouped by the database, turned into
    local days here. Every time zone's offset is whole minutes, and no
    ``CONVERT_TZ`` is needed (MariaDB answers NULL without its zone tables)."""
    return Trunc(field, "minute", tzinfo=UTC)


def _assignment_model():
    # Assignments live a layer up (``assignments``); their rows go with their
    # leads, so the leads' counters reach them through the reverse relation.
    return Lead._meta.get_field("assignments").related_model


# --- Reporting changes --------------------------------------------------------


def leads_created(agent_ids, *, created_at, status=LeadStatus.NEW):
    """New leads, one ``agent_ids`` entry each (None for unassigned), all of
    ``status`` and created at ``created_at``. Counts in memory, no query."""
    day = day_of(created_at)
    tally = Counter()
    for agent_id, n in Counter(agent_ids).items():
        key = agent_key(agent_id)
        tally[(LEAD, key, str(status))] += n
        tally[(CREATED, key, day)] += n
    _apply(tally)


def leads_inserted(leads):
    """New leads as saved (or bulk-created) instances; no query."""
    tally = Counter()
    for lead in leads:
        key = agent_key(lead.agent_id)
        tally[(LEAD, key, str(lead.status))] += 1
        tally[(CREATED, key, day_of(lead.created_at))] += 1
    _apply(tally)


def lead_status_changed(lead, old_status):
    """``lead`` (saved with its new status) had ``old_status`` before; no query."""
    if str(old_status) == str(lead.status):
        return
    key = agent_key(lead.agent_id)
    _apply(Counter({(LEAD, key, str(old_status)): -1, (LEAD, key, str(lead.status)): 1}))


def move_leads(lead_ids, agent_id, *, assigned_at=None):
    """The leads ``lead_ids`` are about to be given to ``agent_id`` (None: to nobody).

    Call it *before* the update, in the same transaction, with the rows
    locked: one grouped query per chunk reads what they count for now. With
    ``assigned_at``, each lead also gets one assignment made at that time.
    """
    new = agent_key(agent_id)
    tally = Counter()
    for chunk in chunked(lead_ids):
        for old, status, day, n in _lead_groups(Lead.objects.filter(pk__in=chunk)):
            tally[(LEAD, old, status)] -= n
            tally[(LEAD, new, status)] += n
            tally[(CREATED, old, day)] -= n
            tally[(CREATED, new, day)] += n
            if assigned_at is not None:
                tally[(ASSIGNED, new, day_of(assigned_at))] += n
    _apply(tally)


def leads_deleted(lead_ids):
    """The leads ``lead_ids`` are about to be deleted, with their assignments.

    Call it *before* the delete, in the same transaction, with the rows locked.
    """
    tally = Counter()
    for chunk in chunked(lead_ids):
        tally.subtract(_rows_tally(chunk))
    _apply(tally)


def leads_added(lead_ids):
    """Leads that exist now but were never counted (written outside the services:
    bulk loads, test fixtures), with their assignments. Call it once per lead."""
    tally = Counter()
    for chunk in chunked(lead_ids):
        tally.update(_rows_tally(chunk))
    _apply(tally)


def assigned_from_leads(leads, *, assigned_at):
    """One assignment made at ``assigned_at`` for each owned lead of ``leads`` (a
    queryset): the import's set-based ``INSERT … SELECT``. One grouped query."""
    day = day_of(assigned_at)
    tally = Counter()
    rows = (
        leads.filter(agent__isnull=False)
        .order_by()
        .values("agent_id")
        .annotate(n=Count("id"))
        .values_list("agent_id", "n")
    )
    for agent_id, n in rows:
        tally[(ASSIGNED, agent_key(agent_id), day)] += n
    _apply(tally)


def leads_assigned(per_agent, *, assigned_at):
    """One assignment made at ``assigned_at`` for each of ``per_agent``'s leads
    (``{agent id: n}``, as an import's plan counted them); no query."""
    day = day_of(assigned_at)
    _apply(Counter({(ASSIGNED, agent_key(a), day): n for a, n in per_agent.items() if n}))


def _lead_groups(leads):
    """``[(agent key, status, day, n)]`` of ``leads``, one grouped query."""
    rows = (
        leads.order_by()
        .annotate(minute=_minute("created_at"))
        .values("agent_id", "status", "minute")
        .annotate(n=Count("id"))
        .values_list("agent_id", "status", "minute", "n")
    )
    return [(agent_key(agent_id), status, day_of(at), n) for agent_id, status, at, n in rows]


def _assignment_groups(assignments):
    """``[(agent key, day, n)]`` of ``assignments``, one grouped query."""
    rows = (
        assignments.order_by()
        .annotate(minute=_minute("assigned_at"))
        .values("agent_id", "minute")
        .annotate(n=Count("id"))
        .values_list("agent_id", "minute", "n")
    )
    return [(agent_key(agent_id), day_of(at), n) for agent_id, at, n in rows]


def _rows_tally(lead_ids=None):
    """What the leads (all, or ``lead_ids``) and their assignments count for."""
    leads = Lead.objects.all()
    assignments = _assignment_model().objects.all()
    if lead_ids is not None:
        leads = leads.filter(pk__in=lead_ids)
        assignments = assignments.filter(lead_id__in=lead_ids)
    tally = Counter()
    for key, status, day, n in _lead_groups(leads):
        tally[(LEAD, key, status)] += n
        tally[(CREATED, key, day)] += n
    for key, day, n in _assignment_groups(assignments):
        tally[(ASSIGNED, key, day)] += n
    return tally


# --- Applying them ------------------------------------------------------------


def deferred(func):
    """Sum the counter deltas of ``func``'s writes in memory; apply them once at its end.

    Put it *inside* ``@transaction.atomic`` (the line below it), so the
    deltas are written in the transaction, just before it commits. If
    ``func`` raises, the deltas are dropped with its transaction. Nested
    calls join the outermost one.
    """

    @functools.wraps(func)
    def wrapper(*args, **kwargs):
        if getattr(_local, "pending", None) is not None:
            return func(*args, **kwargs)
        _local.pending = Counter()
        try:
            result = func(*args, **kwargs)
            pending = _local.pending
        finally:
            _local.pending = None
        _write(pending)
        return result

    return wrapper


def _apply(tally):
    pending = getattr(_local, "pending", None)
    if pending is not None:
        pending.update(tally)  # update() adds, negative counts included
        return
    _write(tally)


def _write(tally):
    """Add ``tally``'s non-zero deltas to the counter rows, in key order."""
    leads = sorted(
        (key, status, n) for (kind, key, status), n in tally.items() if kind == LEAD and n
    )
    days = {}
    for (kind, key, day), n in tally.items():
        if kind in (CREATED, ASSIGNED) and n:
            created, assigned = days.get((day, key), (0, 0))
            days[(day, key)] = (
                (created + n, assigned) if kind == CREATED else (created, assigned + n)
            )
    days = sorted((day, key, c, a) for (day, key), (c, a) in days.items() if c or a)
    if not leads and not days:
        return
    with transaction.atomic(savepoint=False), connection.cursor() as cursor:
        _upsert(cursor, LeadCount, ("agent_key", "status"), ("count",), leads)
        adapt = connection.ops.adapt_datefield_value
        _upsert(
            cursor,
            DayCount,
            ("day", "agent_key"),
            ("created", "assigned"),
            [(adapt(day), key, c, a) for day, key, c, a in days],
        )


def _upsert(cursor, model, keys, adds, rows):
    """``INSERT`` the rows, or add their ``adds`` columns to the row with the same keys."""
    if not rows:
        return
    quote = connection.ops.quote_name
    table = quote(model._meta.db_table)
    names = [quote(model._meta.get_field(name).column) for name in (*keys, *adds)]
    sums = [quote(model._meta.get_field(name).column) for name in adds]
    if connection.vendor == "mysql":
        tail = "ON DUPLICATE KEY UPDATE " + ", ".join(f"{c} = {c} + VALUES({c})" for c in sums)
    else:  # SQLite (and PostgreSQL)
        conflict = ", ".join(names[: len(keys)])
        tail = f"ON CONFLICT ({conflict}) DO UPDATE SET " + ", ".join(
            f"{c} = {table}.{c} + excluded.{c}" for c in sums
        )
    row = "(" + ", ".join(["%s"] * len(names)) + ")"
    for part in chunked(rows, UPSERT_ROWS):
        cursor.execute(
            f"INSERT INTO {table} ({', '.join(names)}) "  # noqa: S608 (names only)
            f"VALUES {', '.join([row] * len(part))} {tail}",
            [value for values in part for value in values],
        )


# --- Reading and rebuilding ---------------------------------------------------


def lead_total(*, statuses=None, agent_keys=None, exclude_keys=()):
    """How many leads have one of ``statuses`` (None: any) and an owner among
    ``agent_keys`` (None: any) but not among ``exclude_keys``: a sum of counter
    rows, where ``COUNT(*)`` would read up to every lead."""
    rows = LeadCount.objects.all()
    if statuses is not None:
        rows = rows.filter(status__in=statuses)
    if agent_keys is not None:
        rows = rows.filter(agent_key__in=agent_keys)
    if exclude_keys:
        rows = rows.exclude(agent_key__in=exclude_keys)
    return rows.aggregate(n=Sum("count"))["n"] or 0


def stored_tally(*, since=None):
    """The counters as stored (days from ``since`` on, if given)."""
    tally = Counter()
    for key, status, n in LeadCount.objects.values_list("agent_key", "status", "count"):
        tally[(LEAD, key, status)] += n
    days = DayCount.objects.all()
    if since is not None:
        days = days.filter(day__gte=since)
    for day, key, created, assigned in days.values_list("day", "agent_key", "created", "assigned"):
        tally[(CREATED, key, day)] += created
        tally[(ASSIGNED, key, day)] += assigned
    return tally


def recount_tally():
    """The counters as a full recount of the leads and assignments would have them."""
    return _rows_tally()


@dataclass(frozen=True)
class Difference:
    kind: str  # "lead", "created" or "assigned"
    agent_key: int
    bucket: object  # the status, or the day
    stored: int
    counted: int

    def __str__(self):
        who = "unassigned" if self.agent_key == NO_AGENT else f"agent {self.agent_key}"
        return f"{self.kind} {who} {self.bucket}: {self.stored} -> {self.counted}"


def differences(stored, counted):
    """Where ``stored`` and ``counted`` disagree, in key order."""
    found = []
    for key in sorted(set(stored) | set(counted), key=lambda k: (k[0], k[1], str(k[2]))):
        if stored.get(key, 0) != counted.get(key, 0):
            kind, agent, bucket = key
            found.append(Difference(kind, agent, bucket, stored.get(key, 0), counted.get(key, 0)))
    return found


def rebuild(*, dry_run=False):
    """Recount every counter from the rows and fix those that differ; the differences.

    The recount and the stored counters are read in one consistent snapshot
    (MariaDB/MySQL: ``START TRANSACTION WITH CONSISTENT SNAPSHOT`` at
    REPEATABLE READ; SQLite: the write transaction), so they describe the same
    moment. The fix is then *added* (recount minus stored, as of that
    moment) in a short transaction of its own: writes committed meanwhile
    have added their own deltas, which the fix keeps. Nothing is locked for
    the recount, and the desk keeps working during it.
    """
    with _snapshot():
        counted = recount_tally()
        stored = stored_tally()
    found = differences(stored, counted)
    if found and not dry_run:
        fix = Counter()
        for diff in found:
            fix[(diff.kind, diff.agent_key, diff.bucket)] = diff.counted - diff.stored
        with transaction.atomic():
            _write(fix)
            dataversion.bump()
    return found


class _snapshot:
    """A read-only consistent snapshot of the database for the statements inside."""

    def __enter__(self):
        if connection.vendor != "mysql" or connection.in_atomic_block:
            # SQLite: the transaction is the snapshot. Inside a caller's
            # transaction (tests), its isolation is what there is.
            self._atomic = transaction.atomic()
            self._atomic.__enter__()
            return self
        self._atomic = None
        with connection.cursor() as cursor:
            cursor.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
            cursor.execute("START TRANSACTION WITH CONSISTENT SNAPSHOT, READ ONLY")
        return self

    def __exit__(self, *exc):
        if self._atomic is not None:
            return self._atomic.__exit__(*exc)
        with connection.cursor() as cursor:
            cursor.execute("COMMIT")
        return False
