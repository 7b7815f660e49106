"""The pipeline's SQL: the dedupe lookup and the bulk writes of new and updated leads.

Raw SQL on purpose, since this is the hot path of a benchmarked import: a
multi-row ``INSERT`` through the cursor costs a third of ``bulk_create`` per
row, and compiling a big ``IN`` through the ORM costs more than the query. On
MariaDB the new leads go through the server's bulk path, ``LOAD DATA LOCAL
INFILE`` of a temporary CSV (:func:`_load_data`, ``IMPORT_LOAD_DATA``); with
it off, the file's values are escaped by the driver's own C function
(:func:`_literal_function`) into statements of up to ``LITERAL_BATCH`` rows;
other databases take the ordinary parameter path. Everything here runs in the
calling thread, inside the import's transaction.
"""

import csv
import re
import tempfile
import time

from django.conf import settings
from django.db import DatabaseError, connection

from common.db import CHUNK_SIZE, chunked
from leads import counters
from leads.models import Lead, LeadActivity, LeadStatus

from .selectors import import_label

# Rows per INSERT on the parameter path (seven parameters a row) and per ORM bulk write.
INSERT_BATCH = 1000
# Rows (or phones) per statement when values are escaped by the driver directly
# (MariaDB): fewer, bigger statements mean fewer waits for the GIL after each one.
LITERAL_BATCH = 5000
# Well under max_allowed_packet (16 MiB by default, 4 MiB on older servers).
STATEMENT_BYTES = 2 * 1024 * 1024
_STAMP = re.compile(r"^[0-9][0-9: .+-]*$")
UPDATE_FIELDS = ("first_name", "last_name", "email", "notes", "extra")


def existing_leads(phones, *, update):
    """Existing leads with these phones: ``{phone: id}``, or ``{phone: Lead}`` to update."""
    found = {}
    if update:
        for part in chunked(phones):
            for lead in Lead.objects.filter(phone__in=part).only("id", "phone", *UPDATE_FIELDS):
                found[lead.phone] = lead
        return found
    # Raw: compiling a big IN through the ORM costs more than the query.
    with connection.cursor() as cursor:
        literal = _literal_function(cursor)
        step = CHUNK_SIZE if literal is None else LITERAL_BATCH
        for part in chunked(phones, step):
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


def split_existing(fresh, existing, outcome, report_limit, options):
    """Split a chunk's rows into new ones and duplicates of ``existing`` leads.

    Returns ``(new rows, leads to update)``. The duplicates are counted and
    reported on ``outcome``; with ``dedupe=update`` their non-empty values are
    copied onto the existing lead, which is returned for :func:`update_leads`
    only if that changed it.
    """
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


def insert_leads(rows, agents, *, batch, now, load_data=None, guess=False):
    """Insert ``rows`` as new leads of ``batch``; return the id floor.

    ``agents`` holds each row's agent as ``assignments.planning.plan_new_leads``
    chose it (or is None): the leads are written already assigned, so there is
    no second pass over them. On MariaDB one ``LOAD DATA LOCAL INFILE`` per
    chunk (:func:`_load_data`); otherwise a multi-row ``INSERT`` through the
    cursor, a third of ``bulk_create``'s cost per row (no model instances):
    1,000 rows a statement, or on MariaDB up to 5,000 escaped by the driver. No
    "created" activity is written: the timeline derives it from the batch
    (``imports.selectors.LeadTimeline``). The leads inserted here are those of
    ``batch`` with an id above the returned floor.

    ``load_data`` is :func:`load_data_possible`, asked once by the caller (None:
    ask here). ``guess``: the rows were not looked up in the table, so the
    unique phone index is the dedupe; :class:`ExistingPhones` is raised if it
    turned any away (the caller rolls back to its savepoint and looks them up).
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
        else:
            rows, agents = _grouped_by_agent(rows, agents)
        if load_data is None:
            load_data = _can_load_data(cursor)
        literal = None if load_data else _literal_function(cursor)
        if load_data:
            _load_data(cursor, rows, agents, batch=batch, stamp=stamp, guess=guess)
        elif literal is not None:
            for sql in _insert_statements(table, names, constants, rows, agents, literal):
                cursor.execute(sql)
        else:
            _insert_with_parameters(cursor, table, names, row_marks, rows, agents)
    counters.leads_created(agents, created_at=now)
    return floor


def _grouped_by_agent(rows, agents):
    """``rows`` and ``agents`` reordered so each agent's rows are together (file order within).

    Nine of the lead table's indexes start with the agent. Rows handed out in
    rotation put consecutive inserts under 200 different agents, a different
    leaf page of each of those indexes for every row; grouped, an agent's rows
    of the chunk land on the same few pages. Measured with ``LOAD DATA`` of
    990,000 rows into a copy of ``leads_lead`` over 200 agents: 46.3 s in
    rotation, 28.5 s grouped per 10,000-row chunk. The ids of a chunk's leads
    then run agent by agent; nothing reads file order from them (the
    assignments are written by id range or by phone, reports by row number).
    """
    order = sorted(range(len(rows)), key=lambda i: -1 if agents[i] is None else agents[i])
    return [rows[i] for i in order], [agents[i] for i in order]


def _insert_with_parameters(cursor, table, names, row_marks, rows, agents):
    """The portable path: ``INSERT`` statements of ``INSERT_BATCH`` rows with parameters."""
    for part in chunked(zip(rows, agents, strict=True), INSERT_BATCH):
        placeholders = ", ".join([row_marks] * len(part))
        params = []
        for row, agent_id in part:
            params.extend(_file_values(row))
            params.append(agent_id)
        cursor.execute(
            f"INSERT INTO {table} ({names}) VALUES {placeholders}",  # noqa: S608
            params,
        )


class LoadDataMismatch(DatabaseError):
    """``LOAD DATA LOCAL`` stored other rows than it was given (it skips, not fails)."""


class ExistingPhones(Exception):
    """Rows loaded without a dedupe lookup met existing leads' phones (``guess``)."""


def load_data_possible():
    """Whether this import's new leads go through ``LOAD DATA LOCAL INFILE``."""
    with connection.cursor() as cursor:
        return _can_load_data(cursor)


def _can_load_data(cursor):
    """True when the new leads can be loaded with ``LOAD DATA LOCAL INFILE``.

    MariaDB/MySQL with ``IMPORT_LOAD_DATA`` on (the client then connects
    with ``local_infile``, settings.py says why that is safe) and a server
    that allows it (``local_infile`` is on by default in MariaDB).
    """
    if connection.vendor != "mysql" or not settings.IMPORT_LOAD_DATA:
        return False
    cursor.execute("SELECT @@local_infile")
    return bool(cursor.fetchone()[0])


def _load_data(cursor, rows, agents, *, batch, stamp, guess=False):
    """Load ``rows`` as new leads with ``LOAD DATA LOCAL INFILE`` of a temporary CSV.

    The server's own bulk path: no statement text to build and parse per
    row. It runs on the import's connection, inside its transaction, so a
    later failure rolls the rows back like any insert. Every field is
    quoted and quotes are doubled, with no escape character, so any text
    (backslashes, quotes, newlines, "NULL") arrives verbatim; the agent goes
    through a variable so an empty one is NULL. With ``LOCAL`` the server
    cannot stop the client mid-file, so it skips a bad row (a phone another
    import inserted since the dedupe, a value it would cut) with a warning
    instead of failing: any such row raises :class:`LoadDataMismatch`, and
    the caller's transaction leaves nothing. With ``guess`` (the rows were not
    looked up) a skipped row is most likely a lead that already exists:
    :class:`ExistingPhones` says so, and the caller looks the rows up and loads
    them again.
    """
    meta = Lead._meta
    quote = connection.ops.quote_name
    column = {name: quote(meta.get_field(name).column) for name in _LOADED + _LOADED_SET}
    with tempfile.NamedTemporaryFile(
        "w", encoding="utf-8", newline="", prefix="leadline-import-", suffix=".csv"
    ) as file:
        missing = [row for row in rows if not row.load_line]
        if missing:  # not made by the reader thread (a caller other than the pipeline)
            load_lines(missing, pause=False)
        file.writelines(
            f'{row.load_line}""\n' if agent_id is None else f'{row.load_line}"{int(agent_id)}"\n'
            for row, agent_id in zip(rows, agents, strict=True)
        )
        file.flush()
        cursor.execute(
            "LOAD DATA LOCAL INFILE %s "
            f"INTO TABLE {quote(meta.db_table)} CHARACTER SET utf8mb4 "
            "FIELDS TERMINATED BY ',' ENCLOSED BY '\"' ESCAPED BY '' LINES TERMINATED BY '\\n' "
            f"({', '.join(column[name] for name in _LOADED[:-1])}, @agent) "
            f"SET {column['agent']} = NULLIF(@agent, ''), "
            f"{column['status']} = '{LeadStatus.NEW.value}', {column['batch']} = {int(batch.pk)}, "
            f"{column['created_at']} = '{stamp}', {column['updated_at']} = '{stamp}'",
            [file.name],
        )
        loaded = cursor.rowcount
    warnings = connection.connection.warning_count()
    if (loaded != len(rows) or warnings) and guess:
        raise ExistingPhones()
    if loaded != len(rows) or warnings:
        raise LoadDataMismatch(
            f"LOAD DATA stored {loaded} of {len(rows)} new leads ({warnings} warnings): "
            "a phone was taken by another import meanwhile, or a value did not fit."
        )


# The columns of the CSV that ``_load_data`` writes: ``_file_values``, then the agent.
_LOADED = ("first_name", "last_name", "phone", "email", "notes", "extra", "agent")
# Set on every row by ``_load_data`` itself.
_LOADED_SET = ("status", "batch", "created_at", "updated_at")


class _Echo:
    """A file whose ``write`` returns its text: ``writerow`` then returns the CSV line."""

    @staticmethod
    def write(text):
        return text


def load_lines(rows, *, pause=True):
    """Set each row's ``load_line``: its file values as :func:`_load_data`'s CSV reads them.

    Every field quoted and its quotes doubled, a comma after each; the agent
    follows when the row is loaded. Made by the import's reader thread
    (``imports.readahead``) while the database thread waits on the server:
    written on the database thread it took a tenth of the insert's time.
    ``pause`` lets that thread have the GIL every 128 rows (as the reader's
    validation does).
    """
    line = csv.writer(_Echo(), quoting=csv.QUOTE_ALL, lineterminator=",").writerow
    for position, row in enumerate(rows):
        if pause and not position & 127:
            time.sleep(0)
        row.load_line = line(_file_values(row))


def _file_values(row):
    """The inserted values that come from the file, in the order of ``insert_leads``' columns."""
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


def update_leads(leads, *, batch, actor, now):
    """Save the leads ``dedupe=update`` changed, each with an "updated" activity; the count."""
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
                new_value=import_label(batch.pk),
            )
            for lead in leads
        ],
        batch_size=INSERT_BATCH,
    )
    return len(leads)
