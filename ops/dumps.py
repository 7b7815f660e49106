"""The engine-specific half of a backup: dump, inspect, load and count.

A manifest must describe exactly what its dump holds. On MariaDB the dump runs
in ``mariadb-dump``'s own ``--single-transaction`` snapshot, which no other
session can share, so row counts and the leads checksum are read from the dump
file itself rather than from live tables that may have moved on meanwhile. On
SQLite they are read from the page copy. After a restore the same numbers are
computed from the live tables, and must agree.

The leads checksum is sha256 over one line ``repr((id, phone, status, agent_id))``
per lead in id order (ints, strings and None print the same on every platform),
the same whether the rows come from SQL or from a dump.
"""

import functools
import hashlib
import os
import re
import shutil
import sqlite3
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

LEADS_TABLE = "leads_lead"
LEADS_COLUMNS = ("id", "phone", "status", "agent_id")
BATCH = 10_000

MYSQLDUMP_FLAGS = (
    "--single-transaction",
    "--routines",
    "--triggers",
    "--hex-blob",
    "--default-character-set=utf8mb4",
    # Column names in every INSERT, so the leads columns are found by name;
    # rows in primary-key order, so the checksum can be computed as a stream.
    "--complete-insert",
    "--order-by-primary",
    "--no-tablespaces",
    "--skip-dump-date",
)


class ToolFailed(Exception):
    """A dump or load step failed; the message says which and why."""


@dataclass
class Snapshot:
    member: str
    path: Path
    tables: dict
    leads_checksum: str


class LeadsDigest:
    def __init__(self):
        self._sha = hashlib.sha256()
        self._last = None

    def add(self, lead_id, phone, status, agent_id):
        if self._last is not None and lead_id <= self._last:
            raise ToolFailed("Leads are not in id order; cannot checksum the table.")
        self._last = lead_id
        line = repr((lead_id, phone, status, agent_id)) + "\n"
        self._sha.update(line.encode())

    def hexdigest(self):
        return self._sha.hexdigest()


def _digest_rows(cursor, placeholder):
    """Checksum the leads table through any DB-API cursor, in id-ordered batches."""
    digest = LeadsDigest()
    last = -1
    # Module constants only; the id goes in as a parameter.
    sql = (
        f"SELECT {', '.join(LEADS_COLUMNS)} FROM {LEADS_TABLE} "  # noqa: S608
        f"WHERE id > {placeholder} ORDER BY id LIMIT {BATCH}"
    )
    while True:
        cursor.execute(sql, [last])
        rows = cursor.fetchall()
        for row in rows:
            digest.add(*row)
        if len(rows) < BATCH:
            return digest.hexdigest()
        last = rows[-1][0]


def leads_checksum_live(connection):
    with connection.cursor() as cursor:
        if LEADS_TABLE not in connection.introspection.table_names(cursor):
            return LeadsDigest().hexdigest()
        return _digest_rows(cursor, "%s")


def _count(cursor, tables, quote):
    counts = {}
    for table in sorted(tables):
        cursor.execute(f"SELECT COUNT(*) FROM {quote(table)}")  # noqa: S608 - quoted names
        counts[table] = cursor.fetchone()[0]
    return counts


def _run(cmd, *, stdin=None, what):
    proc = subprocess.run(  # noqa: S603 - fixed argv, no shell
        cmd, stdin=stdin, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, check=False
    )
    if proc.returncode != 0:
        detail = proc.stderr.decode(errors="replace").strip().splitlines()
        raise ToolFailed(f"{what} failed (exit {proc.returncode}): {' '.join(detail[-3:])}")


# --- MariaDB / MySQL --------------------------------------------------------------

_CREATE = re.compile(r"^CREATE TABLE `((?:[^`]|``)+)` \(", re.M)
_INSERT = re.compile(r"^INSERT INTO `((?:[^`]|``)+)` \(([^)]*)\) VALUES ", re.M)
# Runs of plain characters in one step, no backtracking (atomic groups): this
# scan is most of a backup's time.
_STRING = re.compile(r"'(?>[^'\\]++|\\.)*+'", re.S)
_VALUE = r"'(?>[^'\\]++|\\.)*+'|[^,()']*+"
_ESCAPE = re.compile(r"\\(.)", re.S)
_ESCAPES = {"0": "\0", "b": "\b", "n": "\n", "r": "\r", "t": "\t", "Z": "\x1a"}
_ROUTINES = "\n-- Dumping routines for database"
READ_SIZE = 4 * 1024 * 1024


def _unescape(text):
    if "\\" not in text:
        return text
    return _ESCAPE.sub(lambda m: _ESCAPES.get(m.group(1), m.group(1)), text)


def _sql_value(value):
    if value.startswith("'"):
        return _unescape(value[1:-1])
    return None if value == "NULL" else int(value)


@functools.cache
def _leads_row(columns):
    """A regex matching one leads row, capturing the checksum columns in order."""
    parts = [f"({_VALUE})" if c in LEADS_COLUMNS else f"(?:{_VALUE})" for c in columns]
    wanted = [c for c in columns if c in LEADS_COLUMNS]
    order = [wanted.index(c) for c in LEADS_COLUMNS]
    return re.compile(r"\(" + ",".join(parts) + r"\)"), order


def _statements(path):
    """The dump's statements, streamed: each ends with ``;`` and a line break.

    A string in the dump never holds a raw line break (it is written as ``\n``),
    so ``;`` followed by one can only end a statement.
    """
    rest = b""
    with open(path, "rb") as fh:
        while chunk := fh.read(READ_SIZE):
            *done, rest = (rest + chunk).split(b";\n")
            for statement in done:
                yield statement.decode("utf-8")
    if rest.strip():
        yield rest.decode("utf-8")


def scan_sql(path):
    """Rows per table and the leads checksum, read from a ``mariadb-dump`` file.

    With quoted strings removed, every ``(`` after ``VALUES`` opens one row;
    leads rows are matched whole to read the checksum columns.
    """
    tables, digest = {}, LeadsDigest()
    for statement in _statements(path):
        if _ROUTINES in statement:  # routine bodies may contain INSERTs of their own
            break
        if created := _CREATE.search(statement):
            tables[created.group(1)] = 0
            continue
        insert = _INSERT.search(statement)
        if not insert:
            continue
        table, values = insert.group(1), statement[insert.end() :]
        if table == LEADS_TABLE:
            columns = tuple(c.strip().strip("`") for c in insert.group(2).split(","))
            row, order = _leads_row(columns)
            rows = 0
            for rows, match in enumerate(row.finditer(values), start=1):  # noqa: B007
                found = match.groups()
                digest.add(*[_sql_value(found[i]) for i in order])
        else:
            rows = _STRING.sub("", values).count("(")
        tables[table] = tables.get(table, 0) + rows
    return tables, digest.hexdigest()


def _option_value(value):
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def _defaults_file(settings_dict, work):
    """Credentials for the client tools in a 0600 file: never on argv or in env."""
    lines = ["[client]"]
    host = settings_dict.get("HOST") or ""
    if settings_dict.get("USER"):
        lines.append(f"user={_option_value(settings_dict['USER'])}")
    if settings_dict.get("PASSWORD"):
        lines.append(f"password={_option_value(settings_dict['PASSWORD'])}")
    if host.startswith("/"):
        lines.append(f"socket={_option_value(host)}")
    elif host:
        lines.append(f"host={_option_value(host)}")
    if settings_dict.get("PORT"):
        lines.append(f"port={int(settings_dict['PORT'])}")
    fd, path = tempfile.mkstemp(prefix=".client-", suffix=".cnf", dir=work)
    with os.fdopen(fd, "w") as fh:
        fh.write("\n".join(lines) + "\n")
    return path


def _tool(*names):
    for name in names:
        if found := shutil.which(name):
            return found
    raise ToolFailed(f"None of {', '.join(names)} is installed (Debian: mariadb-client).")


class MySQL:
    vendor = "mysql"
    label = "MariaDB/MySQL"
    member = "database.sql"

    def dump(self, connection, work):
        out = Path(work) / self.member
        cnf = _defaults_file(connection.settings_dict, work)
        try:
            _run(
                [
                    _tool("mariadb-dump", "mysqldump"),
                    f"--defaults-extra-file={cnf}",  # must come first
                    *MYSQLDUMP_FLAGS,
                    f"--result-file={out}",
                    connection.settings_dict["NAME"],
                ],
                what="mariadb-dump",
            )
        finally:
            os.unlink(cnf)
        return self.inspect(out)

    def inspect(self, path):
        tables, checksum = scan_sql(path)
        return Snapshot(self.member, Path(path), tables, checksum)

    def load(self, connection, path, work):
        # Drop everything first so the result is exactly the dump, including
        # the absence of tables a later migration added.
        with connection.cursor() as cursor:
            cursor.execute("SET FOREIGN_KEY_CHECKS = 0")
            for info in connection.introspection.get_table_list(cursor):
                kind = "VIEW" if info.type == "v" else "TABLE"
                cursor.execute(f"DROP {kind} IF EXISTS {connection.ops.quote_name(info.name)}")
            cursor.execute("SET FOREIGN_KEY_CHECKS = 1")
        cnf = _defaults_file(connection.settings_dict, work)
        try:
            with open(path, "rb") as dump:
                _run(
                    [
                        _tool("mariadb", "mysql"),
                        f"--defaults-extra-file={cnf}",
                        "--default-character-set=utf8mb4",
                        connection.settings_dict["NAME"],
                    ],
                    stdin=dump,
                    what="mariadb (loading the dump)",
                )
        finally:
            os.unlink(cnf)

    def count_live(self, connection):
        with connection.cursor() as cursor:
            tables = connection.introspection.table_names(cursor)
            return _count(cursor, tables, connection.ops.quote_name)


# --- SQLite -----------------------------------------------------------------------


def _sqlite_counts(raw):
    cursor = raw.cursor()
    cursor.execute(
        "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'"
    )
    tables = [name for (name,) in cursor.fetchall()]
    return _count(cursor, tables, lambda name: '"' + name.replace('"', '""') + '"')


class SQLite:
    vendor = "sqlite"
    label = "SQLite"
    member = "database.sqlite3"

    def dump(self, connection, work):
        out = Path(work) / self.member
        connection.ensure_connection()
        copy = sqlite3.connect(out)
        try:
            # The online backup API copies a consistent set of pages while
            # other connections keep reading and writing.
            connection.connection.backup(copy)
        finally:
            copy.close()
        return self.inspect(out)

    def inspect(self, path):
        raw = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            if raw.execute("PRAGMA quick_check").fetchone()[0] != "ok":
                raise ToolFailed("The SQLite copy fails its integrity check.")
            tables = _sqlite_counts(raw)
            has_leads = LEADS_TABLE in tables
            checksum = _digest_rows(raw.cursor(), "?") if has_leads else LeadsDigest().hexdigest()
        except sqlite3.DatabaseError as exc:
            raise ToolFailed(f"Not a usable SQLite database: {exc}") from exc
        finally:
            raw.close()
        return Snapshot(self.member, Path(path), tables, checksum)

    def load(self, connection, path, work):
        connection.ensure_connection()
        source = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
        try:
            # Pages go back into the live database file under its write lock.
            source.backup(connection.connection)
        finally:
            source.close()

    def count_live(self, connection):
        connection.ensure_connection()
        return _sqlite_counts(connection.connection)


def for_connection(connection):
    engines = {"mysql": MySQL, "sqlite": SQLite}
    if connection.vendor not in engines:
        raise ToolFailed(f"Backups support MariaDB/MySQL and SQLite, not {connection.vendor}.")
    return engines[connection.vendor]()
