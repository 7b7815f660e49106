"""The import engine: rows in, leads (or a plan of them) out, chunk by chunk.

One pass over the file in chunks of ``IMPORT_CHUNK_ROWS`` rows keeps memory
flat however long the file is. A reader thread parses each chunk, has its
phone numbers normalised in worker processes (one chunk ahead) and validates
it, dropping repeats of a phone seen earlier in the file (an in-memory SQLite
table keyed by the E.164 digits). Meanwhile the calling thread, which owns the database
connection and the caller's transaction, deduplicates the previous chunk
against the database (one ``IN`` query per 1,000 phones), has
``assignments.services.plan_new_leads`` choose the new leads' agents, inserts
them already assigned with one "created" activity each, and has the service
record their assignments set-based. Stage timings are kept for the summary
and the benchmark.
"""

import contextlib
import json
import queue
import re
import sqlite3
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings
from django.db import connection
from django.utils import timezone

from agents.models import Agent
from leads.models import Lead, LeadActivity, LeadStatus

from .columns import map_columns
from .normalize import PhoneNormaliser, RowCleaner
from .readers import InvalidFile

INSERT_BATCH = 1000
# Rows (or phones) per statement when values are escaped by the driver directly
# (MariaDB): fewer, bigger statements mean fewer waits for the GIL after each one.
LITERAL_BATCH = 5000
# Well under max_allowed_packet (16 MiB by default, 4 MiB on older servers).
STATEMENT_BYTES = 2 * 1024 * 1024
_STAMP = re.compile(r"^[0-9][0-9: .+-]*$")
UPDATE_FIELDS = ("first_name", "last_name", "email", "notes", "extra")


@dataclass
class Options:
    dedupe: str = "skip"
    strict: bool = False
    distribute: bool = True
    strategy: str | None = None
    region: str | None = None


@dataclass
class Outcome:
    """Counts, reports and stage timings of one pass over a file.

    ``rows = created + duplicates + invalid``; ``updated`` counts the
    duplicates of existing leads that ``dedupe=update`` changed.
    """

    rows: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    invalid: int = 0
    assigned: int = 0
    unassigned: list = field(default_factory=list)
    per_agent: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    duplicate_rows: list = field(default_factory=list)
    timings: dict = field(default_factory=lambda: defaultdict(float))
    message: str = ""
    errors_truncated: bool = False

    def merge(self, part, limit):
        """Add a validated chunk's counts and reports (the lists stay within ``limit``)."""
        self.rows += part.rows
        self.invalid += part.invalid
        self.duplicates += part.duplicates
        room = limit - len(self.errors)
        if part.errors_dropped or room < len(part.errors):
            self.errors_truncated = True
        self.errors.extend(part.errors[: max(room, 0)])
        room = limit - len(self.duplicate_rows)
        self.duplicate_rows.extend(part.duplicate_rows[: max(room, 0)])

    def timing_report(self):
        return {stage: round(seconds, 3) for stage, seconds in self.timings.items()}


class _Clock:
    def __init__(self, timings):
        self.timings = timings
        self.last = time.perf_counter()

    def lap(self, stage):
        now = time.perf_counter()
        self.timings[stage] += now - self.last
        self.last = now


def run(table, *, options, batch=None, actor=None, write=False, now=None, progress=None):
    """Read ``table`` and return its :class:`Outcome`; with ``write``, create the leads.

    ``write`` needs ``batch`` (the leads point at it) and an enclosing
    transaction: the leads, their activity and their assignments of every
    chunk are rolled back together if anything later fails. In ``strict``
    mode writing stops at the first bad row and the caller rejects the file.
    """
    outcome = Outcome()
    started = time.perf_counter()
    clock = _Clock(outcome.timings)
    now = now or timezone.now()
    chunk_rows = settings.IMPORT_CHUNK_ROWS
    report_limit = settings.IMPORT_MAX_REPORTED_ROWS
    rows = iter(table)
    header = next(rows, None)
    if header is None:
        raise InvalidFile("The file has no header row.", code="empty_file")
    columns = map_columns(header[1])
    cleaner = RowCleaner(columns)
    clock.lap("read")

    distributing = write and options.distribute
    plan = None  # the distribution plan so far, carried from chunk to chunk
    writing = write
    with _Producer(rows, cleaner, options, chunk_rows, report_limit) as producer:
        for part in producer:
            clock.lap("writer_idle")  # waiting for the reader thread
            outcome.merge(part, report_limit)
            existing = _existing(part.phones, update=options.dedupe == "update")
            fresh, updates = _split_existing(part.fresh, existing, outcome, report_limit, options)
            clock.lap("dedupe")
            if options.strict and outcome.invalid:
                writing = False
            outcome.created += len(fresh)
            if writing:
                agents = None
                if distributing and fresh:
                    plan = _distribute(len(fresh), previous=plan, options=options, now=now)
                    if plan is None:
                        distributing = False
                        outcome.message = "No eligible agent: the new leads were left unassigned."
                    else:
                        agents = plan.agents
                        _count_plan(plan, fresh, outcome)
                    clock.lap("distribute")
                floor = _insert(fresh, agents, batch=batch, now=now)
                clock.lap("insert")
                if fresh:
                    _log_created(batch=batch, actor=actor, now=now, after_id=floor)
                    clock.lap("activity")
                if agents is not None:
                    _record(plan, batch=batch, actor=actor, now=now, after_id=floor)
                    clock.lap("assignments")
                outcome.updated += _update(updates, batch=batch, actor=actor, now=now)
                clock.lap("update")
            else:
                outcome.updated += len(updates)
            if progress:
                progress(table.progress(), outcome)
    for stage, seconds in producer.timings.items():
        outcome.timings[stage] += seconds
    if not write:
        outcome.unassigned = []
    outcome.timings["total"] = time.perf_counter() - started
    return outcome


@dataclass
class _Part:
    """One validated chunk, as the producer hands it over."""

    fresh: list
    phones: list
    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    errors: list = field(default_factory=list)
    duplicate_rows: list = field(default_factory=list)
    errors_dropped: bool = False


class _Producer:
    """Reads, normalises phones and validates in a thread, one queue slot ahead.

    The main thread owns the database connection and its transaction and
    spends most of its time waiting on the database (mysqlclient releases the
    GIL meanwhile); this thread parses and validates the next chunks then, and
    phone numbers are parsed in worker processes. No database access here.
    """

    def __init__(self, rows, cleaner, options, chunk_rows, report_limit):
        self.rows = rows
        self.cleaner = cleaner
        self.chunk_rows = chunk_rows
        self.report_limit = report_limit
        self.phones = PhoneNormaliser(region=options.region)
        self.queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.timings = defaultdict(float)
        self.thread = threading.Thread(target=self._work, name="import-reader", daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        while self.thread.is_alive():
            # Unblock a producer waiting for queue room, then let it finish.
            with contextlib.suppress(queue.Empty):
                self.queue.get_nowait()
            self.thread.join(timeout=0.05)
        self.phones.close()

    def __iter__(self):
        while True:
            kind, value = self.queue.get()
            if kind == "part":
                yield value
            elif kind == "error":
                raise value
            else:
                return

    def _put(self, item):
        while not self.stop.is_set():
            try:
                self.queue.put(item, timeout=0.1)
                return True
            except queue.Full:
                continue
        return False

    def _work(self):
        clock = _Clock(self.timings)
        seen = _SeenPhones()
        try:
            chunks = _with_phones(
                self.rows, self.phones, self.cleaner.raw_phone, self.chunk_rows, clock
            )
            for chunk, pending in chunks:
                good, bad = pending.result()
                clock.lap("phones")
                part = _validate(chunk, self.cleaner, good, bad, seen, self.report_limit)
                clock.lap("validate")
                if not self._put(("part", part)):
                    return
                clock.lap("reader_idle")  # waiting for the database side to take the chunk
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put(("error", exc))
            return
        finally:
            seen.close()
        self._put(("end", None))


def _with_phones(rows, phones, raw_phone, chunk_rows, clock):
    """Yield ``(chunk, future)`` one chunk ahead, so workers parse phones meanwhile."""
    pending = None
    # A short first chunk: the database side waits for it, so it starts sooner.
    size, seen = max(chunk_rows // 4, 1), 0
    while True:
        chunk = list(islice(rows, size))
        size = chunk_rows
        clock.lap("read")
        if not chunk:
            break
        seen += len(chunk)
        if seen >= settings.IMPORT_PARALLEL_MIN_ROWS:
            phones.start(PhoneNormaliser.worker_count())  # once; a no-op afterwards
        raws = {raw_phone(record) for _line, record in chunk}
        raws.discard("")
        future = phones.submit(raws)
        clock.lap("phones")
        if pending is not None:
            yield pending
        pending = (chunk, future)
    if pending is not None:
        yield pending


def _validate(chunk, cleaner, good, bad, seen, report_limit):
    """Clean each row; drop repeats of a phone seen earlier in the file."""
    part = _Part(fresh=[], phones=[])
    clean = cleaner.clean
    here, candidates = {}, []  # first line of each phone in this chunk; rows to check
    for position, (line, record) in enumerate(chunk):
        if not position & 127:
            # Let the database thread take the GIL now: after each statement
            # it would otherwise wait up to the 5 ms switch interval for it.
            time.sleep(0)
        row, errors = clean(line, record, good, bad)
        if row is None:
            part.invalid += 1
            room = report_limit - len(part.errors)
            part.errors_dropped = part.errors_dropped or room < len(errors)
            part.errors.extend(errors[: max(room, 0)])
            continue
        key = int(row.phone[1:])
        first = here.get(key)
        if first is not None:
            _duplicate(part, line, row.phone, f"line {first}", report_limit)
            continue
        here[key] = line
        candidates.append((key, row))
    earlier = seen.lines(here)
    for key, row in candidates:
        first = earlier.get(key)
        if first is not None:
            _duplicate(part, row.line, row.phone, f"line {first}", report_limit)
        else:
            row.extra_json = _extra_json(row.extra) if row.extra else "{}"
            part.fresh.append(row)
    seen.add((key, line) for key, line in here.items() if key not in earlier)
    part.duplicate_rows.sort(key=lambda entry: entry["line"])
    part.rows = len(chunk)
    part.phones = [row.phone for row in part.fresh]
    return part


_encode_json = json.JSONEncoder(ensure_ascii=False).encode
_JSON_CACHE_SIZE = 4096


def _extra_json(extra, cache={}):  # noqa: B006 (a deliberate, bounded memo)
    """``extra`` as JSON; the same few values (a city, a source) repeat down a list."""
    key = tuple(extra.items())
    text = cache.get(key)
    if text is None:
        text = _encode_json(extra)
        if len(text) <= 256 and len(cache) < _JSON_CACHE_SIZE:  # small, so memory stays flat
            cache[key] = text
    return text


def _duplicate(part, line, phone, original, report_limit):
    part.duplicates += 1
    if len(part.duplicate_rows) < report_limit:
        part.duplicate_rows.append({"line": line, "phone": phone, "duplicate_of": original})


class _SeenPhones:
    """Phones met earlier in the file, with the line of their first row.

    An in-memory SQLite table keyed by the E.164 digits: ~25 bytes an entry
    where a dict of ints costs ~95, so memory stays flat over millions of rows.
    Looked up a chunk at a time, in C.
    """

    def __init__(self):
        self.db = sqlite3.connect(":memory:")
        self.db.execute("CREATE TABLE seen (phone INTEGER PRIMARY KEY, line INTEGER NOT NULL)")

    def lines(self, keys):
        keys = list(keys)
        found = {}
        for start in range(0, len(keys), 900):  # below SQLite's bound on parameters
            part = keys[start : start + 900]
            marks = ",".join("?" * len(part))
            found.update(
                self.db.execute(f"SELECT phone, line FROM seen WHERE phone IN ({marks})", part)  # noqa: S608
            )
        return found

    def add(self, pairs):
        self.db.executemany("INSERT INTO seen (phone, line) VALUES (?, ?)", pairs)

    def close(self):
        self.db.close()


def _existing(phones, *, update):
    """Existing leads with these phones: ``{phone: id}``, or ``{phone: Lead}`` to update."""
    found = {}
    if update:
        for start in range(0, len(phones), INSERT_BATCH):
            part = phones[start : start + INSERT_BATCH]
            for lead in Lead.objects.filter(phone__in=part).only("id", "phone", *UPDATE_FIELDS):
                found[lead.phone] = lead
        return found
    # Raw: compiling a big IN through the ORM costs more than the query.
    with connection.cursor() as cursor:
        literal = _literal_function(cursor)
        step = INSERT_BATCH if literal is None else LITERAL_BATCH
        for start in range(0, len(phones), step):
            part = phones[start : start + step]
            if literal is not None:
                marks = b", ".join(literal(phone) for phone in part).decode()
                cursor.execute(_EXISTING_SQL.format(marks=marks))
            else:
                cursor.execute(_EXISTING_SQL.format(marks=", ".join(["%s"] * len(part))), part)
            found.update(cursor.fetchall())
    return found


_EXISTING_SQL = (
    f"SELECT {connection.ops.quote_name('phone')}, {connection.ops.quote_name('id')} "  # noqa: S608
    f"FROM {connection.ops.quote_name(Lead._meta.db_table)} "
    f"WHERE {connection.ops.quote_name('phone')} IN ({{marks}})"
)


def _split_existing(fresh, existing, outcome, report_limit, options):
    if not existing:
        return fresh, []
    new, updates = [], []
    for row in fresh:
        lead = existing.get(row.phone)
        if lead is None:
            new.append(row)
            continue
        outcome.duplicates += 1
        lead_id = getattr(lead, "pk", lead)
        if len(outcome.duplicate_rows) < report_limit:
            outcome.duplicate_rows.append(
                {"line": row.line, "phone": row.phone, "duplicate_of": f"lead {lead_id}"}
            )
        if options.dedupe == "update" and _apply(lead, row):
            updates.append(lead)
    return new, updates


def _apply(lead, row):
    """Copy the row's non-empty values onto ``lead``; True if anything changed."""
    changed = False
    for name in ("first_name", "last_name", "email", "notes"):
        value = getattr(row, name)
        if value and getattr(lead, name) != value:
            setattr(lead, name, value)
            changed = True
    if row.extra:
        merged = {**(lead.extra or {}), **row.extra}
        if merged != lead.extra:
            lead.extra = merged
            changed = True
    return changed


def _insert(rows, agents, *, batch, now):
    """Insert ``rows`` as new leads of ``batch``; return the id floor.

    ``agents`` holds each row's agent as ``assignments.services.plan_new_leads``
    chose it (or is None): the leads are written already assigned, so there is
    no second pass over them. A multi-row ``INSERT`` through the cursor costs a
    third of ``bulk_create`` per row (no model instances): 1,000 rows a
    statement, or on MariaDB up to 5,000 escaped by the driver directly. Every
    new lead gets one "created" activity (``_log_created``). The leads inserted
    here are those of ``batch`` with an id above the returned floor.
    """
    meta = Lead._meta
    quote = connection.ops.quote_name
    table = quote(meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"SELECT COALESCE(MAX({quote('id')}), 0) FROM {table}")  # noqa: S608
        floor = cursor.fetchone()[0]
        if not rows:
            return floor
        columns = [
            "first_name",
            "last_name",
            "phone",
            "email",
            "notes",
            "extra",
            "agent_id",
            "status",
            "batch_id",
            "created_at",
            "updated_at",
        ]
        stamp = str(connection.ops.adapt_datetimefield_value(now))
        if not _STAMP.match(stamp):
            raise ValueError(f"unexpected timestamp literal {stamp!r}")
        # The same for every row: written once as literals (status is ours, the id an
        # int, the stamp checked above) so only the file's values go through escaping.
        constants = f"'{LeadStatus.NEW.value}', {int(batch.pk)}, '{stamp}', '{stamp}'"
        row_marks = "(%s, %s, %s, %s, %s, %s, %s, " + constants + ")"
        names = ", ".join(quote(meta.get_field(c.removesuffix("_id")).column) for c in columns)
        if agents is None:
            agents = [None] * len(rows)
        literal = _literal_function(cursor)
        if literal is not None:
            for sql in _insert_statements(table, names, constants, rows, agents, literal):
                cursor.execute(sql)
            return floor
        for start in range(0, len(rows), INSERT_BATCH):
            part = rows[start : start + INSERT_BATCH]
            placeholders = ", ".join([row_marks] * len(part))
            params = []
            for row, agent_id in zip(part, agents[start : start + INSERT_BATCH], strict=True):
                params.extend(_file_values(row))
                params.append(agent_id)
            cursor.execute(
                f"INSERT INTO {table} ({names}) VALUES {placeholders}",  # noqa: S608
                params,
            )
    return floor


def _file_values(row):
    """The inserted values that come from the file, in the order of ``_insert``'s columns."""
    return (row.first_name, row.last_name, row.phone, row.email, row.notes, row.extra_json)


def _literal_function(cursor):
    """mysqlclient's own escaping (C, connection charset and SQL mode), or None.

    ``cursor.execute(sql, params)`` runs a Python ``literal()`` per value,
    about a microsecond each: with seven values a row it was a quarter of the
    database thread's samples, holding the GIL the reader thread needs. Calling
    the driver's ``string_literal`` directly escapes exactly as ``literal()``
    does for text, without the per-value dispatch. Other databases take the
    parameter path.
    """
    if connection.vendor != "mysql":
        return None
    raw = getattr(cursor, "cursor", None)
    raw = getattr(raw, "cursor", raw)  # Django's debug wrapper, then the backend's
    driver = getattr(raw, "connection", None)
    string_literal = getattr(driver, "string_literal", None)
    encoding = getattr(driver, "encoding", None)
    if string_literal is None or not encoding:
        return None
    return lambda text: string_literal(text.encode(encoding))


def _insert_statements(table, names, constants, rows, agents, literal):
    """Multi-row ``INSERT`` statements with every value escaped by ``literal``.

    Up to ``LITERAL_BATCH`` rows each, and no bigger than ``STATEMENT_BYTES``
    unless one row alone is (MariaDB refuses a statement over
    ``max_allowed_packet``; notes and extra columns make some rows long).
    """
    head = f"INSERT INTO {table} ({names}) VALUES ".encode()  # noqa: S608 (names only)
    tail = b", " + constants.encode() + b")"
    values, size = [], len(head)
    for row, agent_id in zip(rows, agents, strict=True):
        escaped = [literal(text) for text in _file_values(row)]
        escaped.append(b"NULL" if agent_id is None else str(int(agent_id)).encode())
        value = b"(" + b", ".join(escaped) + tail
        if values and (len(values) >= LITERAL_BATCH or size + len(value) > STATEMENT_BYTES):
            yield head + b", ".join(values)
            values, size = [], len(head)
        values.append(value)
        size += len(value) + 2
    if values:
        yield head + b", ".join(values)


def _log_created(*, batch, actor, now, after_id):
    """One "created" timeline row per lead of ``batch`` above ``after_id``.

    It says "import #N", and names the lead's agent if it has one: one row
    per lead instead of a "created" and an "assigned" one, built by the
    database with one ``INSERT … SELECT``.
    """
    quote = connection.ops.quote_name
    lead = quote(Lead._meta.db_table)
    agent = quote(Agent._meta.db_table)
    email = quote(Agent._meta.get_field("email").column)
    label = f"import #{batch.pk}"
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(LeadActivity._meta.db_table)} "  # noqa: S608
            f"({quote('lead_id')}, {quote('actor_id')}, {quote('kind')}, {quote('old_value')}, "
            f"{quote('new_value')}, {quote('created_at')}) "
            f"SELECT l.{quote('id')}, %s, %s, '', "
            f"CASE WHEN a.{email} IS NULL THEN %s ELSE {_concat('%s', f'a.{email}')} END, %s "
            f"FROM {lead} l LEFT JOIN {agent} a ON a.{quote('id')} = l.{quote('agent_id')} "
            f"WHERE l.{quote('batch_id')} = %s AND l.{quote('id')} > %s",
            [
                getattr(actor, "pk", None),
                LeadActivity.Kind.CREATED,
                label,
                f"{label}, assigned to ",
                connection.ops.adapt_datetimefield_value(now),
                batch.pk,
                after_id,
            ],
        )


def _concat(*parts):
    if connection.vendor == "mysql":  # || is OR there
        return f"CONCAT({', '.join(parts)})"
    return " || ".join(parts)


def _update(leads, *, batch, actor, now):
    if not leads:
        return 0
    for lead in leads:
        lead.updated_at = now
    Lead.objects.bulk_update(leads, [*UPDATE_FIELDS, "updated_at"], batch_size=INSERT_BATCH)
    LeadActivity.objects.bulk_create(
        [
            LeadActivity(
                lead_id=lead.pk,
                actor=actor if getattr(actor, "pk", None) else None,
                kind=LeadActivity.Kind.UPDATED,
                new_value=f"import #{batch.pk}",
            )
            for lead in leads
        ],
        batch_size=INSERT_BATCH,
    )
    return len(leads)


def _distribute(count, *, previous, options, now):
    """Agents for the chunk's ``count`` new leads (None: nobody is eligible)."""
    from assignments.planning import plan_new_leads
    from assignments.results import NoEligibleAgent

    try:
        return plan_new_leads(count=count, strategy=options.strategy, now=now, previous=previous)
    except NoEligibleAgent:
        if previous is not None:
            raise
        return None


def _count_plan(plan, rows, outcome):
    outcome.assigned += plan.assigned
    # The report names rows by their line in the file (the leads have no id yet).
    outcome.unassigned.extend(rows[position].line for position in plan.unassigned)
    for agent_id, count in plan.per_agent.items():
        outcome.per_agent[agent_id] += count


def _record(plan, *, batch, actor, now, after_id):
    from assignments.writers import record_import_assignments

    record_import_assignments(
        batch=batch, strategy=plan.strategy, actor=actor, now=now, after_id=after_id
    )
