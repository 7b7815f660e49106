"""Row validation: from a record of text to the fields of a lead, or to errors.

Phone numbers are the slow part (``phonenumbers`` costs ~20-60 µs each), so
they are normalized once per distinct raw string and, for big files, in worker
processes on every core while the main process reads and writes the database.
"""

import json
import multiprocessing
import operator
import re
import time
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from multiprocessing import forkserver

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from common.cpus import available_cpus
from leads.models import Lead
from leads.services import NOTES_MAX_LENGTH

from .phoneworker import normalize_many

VALUE_IN_REPORT = 200
_validate_email = EmailValidator()
_encode_json = json.JSONEncoder(ensure_ascii=False).encode  # as readahead writes Lead.extra
_MAX = {
    "first_name": Lead._meta.get_field("first_name").max_length,
    "last_name": Lead._meta.get_field("last_name").max_length,
    "email": Lead._meta.get_field("email").max_length,
    "notes": NOTES_MAX_LENGTH,
}
_LABEL = {"first_name": "First name", "last_name": "Last name", "email": "Email", "notes": "Notes"}


@dataclass(slots=True)
class CleanRow:
    line: int
    first_name: str
    last_name: str
    phone: str
    email: str
    notes: str
    extra: dict
    extra_json: str = "{}"  # filled by the reader thread, off the database thread
    # The file's values as ``LOAD DATA`` reads them (``imports.writers.load_lines``),
    # made by the reader thread when the import writes through that path.
    load_line: str = ""
    # The routing rule the row matches (``routing.matching.Matched``), found by the
    # reader thread when the import routes; None without rules.
    matched: object = None


def error(line, column, value, message):
    """One entry of a batch's error report."""
    value = "" if value is None else str(value)
    if len(value) > VALUE_IN_REPORT:
        value = value[:VALUE_IN_REPORT] + "…"
    return {"line": line, "column": column, "value": value, "message": message}


class RowCleaner:
    """Validates records of one file against its column map."""

    def __init__(self, columns):
        self.columns = columns
        self.phone_index = columns.fields["phone"]
        self.extra = _unique_names(columns.extra)
        self.width = len(columns.headers)
        self.max_extra = settings.IMPORT_MAX_EXTRA_BYTES
        # Up to this many characters of values, the JSON cannot exceed the limit
        # (a character takes at most 6 bytes, \u001f; each item adds quotes, ": ", ", ").
        names = sum(len(name) for _index, name in self.extra)
        self.extra_sure = (self.max_extra - 2 - 8 * len(self.extra) - 6 * names) // 6
        get = columns.fields.get
        # -1 reads the empty cell that ``_padded`` appends to every record.
        self.slots = tuple(get(name, -1) for name in _FIELDS)
        self._pick = operator.itemgetter(*self.slots)
        # The other columns' cells and two empty ones (the -1s): always a tuple, never empty.
        self._pick_extra = operator.itemgetter(*(index for index, _name in self.extra), -1, -1)
        self._extra_names = tuple(name for _index, name in self.extra)
        # The other columns' (extra, size, JSON) by their cells: a city, a source, a
        # campaign repeat down a list. Bounded, and only short JSON, so memory stays flat.
        self._extras = {}

    def prepare(self, records):
        """Each record's checks that need no phone, done as the file is read.

        Returns ``(prepared, raws)``: per record a tuple ``(line, first, last,
        raw phone, email, notes, cells)`` for :meth:`finish`, where ``cells``
        are the other columns' cells, or None when a field besides the phone
        is already wrong; and the set of the raw phones to normalize. Text is
        kept verbatim apart from surrounding spaces: a name that starts with
        ``=`` is a name, neutralized only where it is exported to CSV.

        This runs once per row of files of a million rows, hence the plain
        code. The tuples hold only text and numbers, so the garbage collector
        stops tracking them at its next pass: a chunk waiting for its phones
        costs the collections nothing, where the records (lists) it replaces
        were traversed by each one until the chunk was done.
        """
        width, pick, pick_extra = self.width, self._pick, self._pick_extra
        max_first, max_last = _MAX["first_name"], _MAX["last_name"]
        max_notes, max_email = _MAX["notes"], _MAX["email"]
        simple_email = _SIMPLE_EMAIL.match
        prepared, raws = [], set()
        append, add = prepared.append, raws.add
        for line, record in records:
            if not line & 127:
                time.sleep(0)  # the database thread's turn for the GIL (see readahead)
            if len(record) != width:
                record = _padded(record, width)
            record.append("")
            first, last, raw, email, notes = pick(record)
            first, last, raw = first.strip(), last.strip(), raw.strip()
            email, notes = email.strip(), notes.strip()
            add(raw)
            if (
                first
                and len(first) <= max_first
                and len(last) <= max_last
                and len(notes) <= max_notes
                and (
                    not email
                    or (len(email) <= max_email and simple_email(email))
                    or _email_ok(email)  # the full validator decides the rest
                )
            ):
                append((line, first, last, raw, email, notes, *pick_extra(record)))
            else:
                append((line, first, last, raw, email, notes))
        raws.discard("")
        return prepared, raws

    def finish(self, prepared, phones, bad_phones):
        """A :meth:`prepare` tuple's :class:`CleanRow`, or the list of its errors."""
        phone = phones.get(prepared[3])
        if phone is not None and len(prepared) > 6:
            cells = prepared[6:]
            extra, size, text = self._extras.get(cells) or self._extra_of(cells)
            line, first, last, _raw, email, notes = prepared[:6]
            row = CleanRow(line, first, last, phone, email, notes, dict(extra), text)
            if size > self.extra_sure:
                problem = self._check_extra(row, size)
                if problem:
                    return [problem]
            return row
        line, first, last, raw, email, notes = prepared[:6]
        return self._errors(line, first, last, raw, phone, email, notes, bad_phones)

    def _extra_of(self, cells):
        """``(extra, size, JSON)`` of a row's other cells (the JSON "{}" when it may be long)."""
        extra = {}
        size = 0
        # The -1 cells come last; zip stops before them.
        for name, value in zip(self._extra_names, cells):  # noqa: B905
            if value and not value.isspace():
                extra[name] = value
                size += len(value)
        # Past extra_sure the JSON may be over the limit: _check_extra makes it.
        text = _encode_json(extra) if extra and size <= self.extra_sure else "{}"
        known = (extra, size, text)
        # Kept only short: blank cells are not in the JSON but are in the key.
        if len(text) <= 256 and len(self._extras) < _EXTRAS_KEPT and sum(map(len, cells)) <= 512:
            self._extras[cells] = known
        return known

    def clean(self, line, record, phones, bad_phones):
        """Return ``(CleanRow, [])`` or ``(None, [error, ...])`` for one record."""
        (prepared,), _raws = self.prepare([(line, record)])
        row = self.finish(prepared, phones, bad_phones)
        return (None, row) if isinstance(row, list) else (row, [])

    def _check_extra(self, row, size):
        """The error of a row whose other columns exceed ``IMPORT_MAX_EXTRA_BYTES`` as JSON.

        They are stored in ``Lead.extra``, one JSON document a lead, written in
        multi-row inserts: without a bound one row of a very wide file would
        outgrow MariaDB's ``max_allowed_packet``, a failure no retry can cure.
        The JSON is kept for the writer when it had to be made here.
        """
        amount = f"more than {self.max_extra:,} bytes"  # their text alone is longer
        if size <= self.max_extra:
            text = _encode_json(row.extra)
            size = len(text.encode())
            if size <= self.max_extra:
                row.extra_json = text
                return None
            amount = f"{size:,} bytes"
        name = max(row.extra, key=lambda key: len(row.extra[key]))
        return error(
            row.line,
            name,
            row.extra[name],
            f"The columns that are not lead fields take {amount} as JSON; at most "
            f"{self.max_extra:,} bytes are kept per lead. Shorten or remove them.",
        )

    def _errors(self, line, first, last, raw, phone, email, notes, bad_phones):
        header = self.columns.header
        errors = []
        if not first:
            errors.append(error(line, header("first_name"), "", "First name is required."))
        if not raw:
            errors.append(error(line, header("phone"), "", "Phone number is required."))
        elif phone is None:
            message = bad_phones.get(raw, "Not a valid phone number.")
            errors.append(error(line, header("phone"), raw, message))
        for name, value in (("first_name", first), ("last_name", last), ("notes", notes)):
            if len(value) > _MAX[name]:
                limit = _MAX[name]
                errors.append(
                    error(line, header(name), value, f"{_LABEL[name]} is longer than {limit}.")
                )
        if email and not _email_ok(email):
            errors.append(error(line, header("email"), email, "Not a valid email address."))
        return errors


_FIELDS = ("first_name", "last_name", "phone", "email", "notes")
_EXTRAS_KEPT = 4096
# Most addresses pass this; the rest (IDN, quoted parts) get Django's full validator.
# Everything it accepts, Django's EmailValidator accepts too (dot-separated atoms,
# labels of 1-63 characters that neither start nor end with a hyphen, a letter TLD):
# a fast "yes", never a different answer (imports/tests/test_email_check.py).
_SIMPLE_EMAIL = re.compile(
    r"[A-Za-z0-9_%+'-]+(?:\.[A-Za-z0-9_%+'-]+)*"
    r"@(?:[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)+[A-Za-z]{2,63}\Z"
)


def _email_ok(email):
    if len(email) > _MAX["email"]:
        return False
    if _SIMPLE_EMAIL.match(email):
        return True
    try:
        _validate_email(email)
    except ValidationError:
        return False
    return True


def _padded(record, width):
    return list(record[:width]) + [""] * (width - len(record))


def _unique_names(extra):
    seen, out = {}, []
    for index, name in extra:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append((index, name if count == 1 else f"{name} ({count})"))
    return out


class PhoneNormalizer:
    """Normalize distinct raw phone strings, in worker processes when it pays.

    ``submit`` returns a future so the caller can read and write the next chunk
    while the workers parse phones. Workers start with ``forkserver``: forking a
    threaded web worker that holds database connections is not safe.
    """

    def __init__(self, *, region=None):
        self.region = (region or settings.PHONE_DEFAULT_REGION).upper()
        self.workers = 0
        self._pool = None

    @staticmethod
    def worker_count():
        """``IMPORT_WORKERS``, or one per CPU this process may use.

        The container's CPU quota, not the node's cores (``common.cpus``): on a
        pod limited to one CPU, a process per node core would only be throttled.
        """
        if settings.IMPORT_WORKERS:
            return settings.IMPORT_WORKERS
        return available_cpus()

    def start(self, workers):
        """Start the worker pool, once; the pipeline calls it only for big files.

        For a small file starting the processes would cost more than parsing
        its phones in the reader thread.
        """
        if not _may_have_children():
            return
        if workers > 1 and self._pool is None:
            self.workers = workers
            self._pool = ProcessPoolExecutor(max_workers=workers, mp_context=_worker_context())

    def submit(self, raws):
        """A future of ``({raw: e164}, {raw: message})``, split evenly over the workers."""
        raws = list(raws)
        if self._pool is None or len(raws) < 2 * self.workers:
            done = Future()
            done.set_result(normalize_many(raws, self.region))
            return done
        size = -(-len(raws) // self.workers)
        parts = [
            self._pool.submit(normalize_many, raws[i : i + size], self.region)
            for i in range(0, len(raws), size)
        ]
        return _Merged(parts)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None


def _may_have_children():
    # A prefork pool child of a Celery worker may not have children: phones
    # are parsed in the reader thread. Workers run imports in a thread pool
    # (``--pool threads``, deploy/) to use the CPUs here.
    return not multiprocessing.current_process().daemon


def _worker_context():
    context = multiprocessing.get_context("forkserver")
    # Preload only the worker's module: the default would re-import
    # ``__main__`` in the fork server, running whatever script started us.
    context.set_forkserver_preload(["imports.phoneworker"])
    return context


# No lead row is shorter (a name, a phone, separators): a file under
# ``IMPORT_PARALLEL_MIN_ROWS`` times this cannot have the rows the pool is started for.
MIN_ROW_BYTES = 16


def start_worker_server(size):
    """Boot the phone workers' fork server now, for a file of ``size`` bytes that may need it.

    The fork server is a new interpreter that imports :mod:`imports.phoneworker`
    (``phonenumbers``: ~0.3 s of CPU, seconds on a busy machine); the pool's
    workers are forked from it when the reader thread submits the first chunk
    past ``IMPORT_PARALLEL_MIN_ROWS``. Left to then, the database thread waits
    for it. Called as an import starts (``imports.services.import_path``), it
    boots on another core while this process hashes and checks the file,
    claims the batch and parses the first chunk. Returns at once; one server
    per process serves every later pool. Nothing is started where no pool
    would be (one CPU, a daemon process, a small file).
    """
    if (
        size >= settings.IMPORT_PARALLEL_MIN_ROWS * MIN_ROW_BYTES
        and PhoneNormalizer.worker_count() > 1
        and _may_have_children()
    ):
        _worker_context()  # the server's preload
        forkserver.ensure_running()


class _Merged:
    """One future's ``result()`` over the workers' parts: the merged ``(good, bad)``."""

    def __init__(self, parts):
        self.parts = parts

    def result(self):
        good, bad = {}, {}
        for part in self.parts:
            part_good, part_bad = part.result()
            good.update(part_good)
            bad.update(part_bad)
        return good, bad
