"""The reader thread: a file's rows parsed, phones normalized and validated, a chunk ahead.

The pipeline's calling thread owns the database connection and its
transaction and spends most of its time waiting on the database (mysqlclient
releases the GIL while it waits). :class:`ReadAhead` does the CPU side in a
thread in the meantime: it reads ``IMPORT_CHUNK_ROWS`` rows at a time, has their distinct
phone numbers parsed in worker processes one chunk ahead, cleans each row,
drops repeats of a phone met earlier in the file (:class:`SeenPhones`) and,
when the import routes, finds each new row's routing rule (``row.matched``),
so the database thread only groups rows by rule, and, when the new leads go
through ``LOAD DATA``, writes each new row's line of its file
(``imports.writers.load_lines``). Each chunk is handed over as
a :class:`ValidChunk` through a one-slot queue. No database access here.
"""

import contextlib
import gc
import queue
import sqlite3
import threading
import time
from collections import defaultdict
from dataclasses import dataclass, field
from itertools import islice

from django.conf import settings

from common.db import chunked

from .normalize import PhoneNormalizer
from .timing import Clock

# Cells a chunk holds at most: a file wider than 20 columns gets chunks of fewer rows.
CHUNK_CELLS = 200_000


@dataclass
class ValidChunk:
    """One validated chunk: its new rows, their phones, its counts and reports."""

    fresh: list
    phones: list
    rows: int = 0
    invalid: int = 0
    duplicates: int = 0
    errors: list = field(default_factory=list)
    duplicate_rows: list = field(default_factory=list)
    errors_dropped: bool = False


class ReadAhead:
    """Iterates :class:`ValidChunk` objects made in a thread, one queue slot ahead.

    Use as a context manager: leaving it stops the thread (also when the
    database side failed half way) and shuts the phone workers down. An error
    in the thread is raised by the iteration, in the calling thread.
    """

    def __init__(self, rows, cleaner, options, chunk_rows, report_limit, router=None, encode=None):
        self.rows = rows
        # Writes each new row's ``load_line`` for the database thread (None: not needed).
        self.encode = encode
        # Each new row's routing rule, when the import routes (routing.matching.Router).
        self.match_row = router.row_matcher(options.source) if router else None
        self.cleaner = cleaner
        # Wide files get shorter chunks: the rows of a chunk, their extra columns
        # and their JSON are held up to three times over (read, queued, written).
        self.chunk_rows = max(1, min(chunk_rows, CHUNK_CELLS // max(cleaner.width, 1)))
        self.report_limit = report_limit
        self.phones = PhoneNormalizer(region=options.region)
        self.queue = queue.Queue(maxsize=1)
        self.stop = threading.Event()
        self.timings = defaultdict(float)
        self.thread = threading.Thread(target=self._work, name="import-reader", daemon=True)

    def __enter__(self):
        # The heap as it is now (Django, the app, the caller's objects) is left out
        # of the collector's passes until the import ends: each full collection
        # traversed all of it, ~0.3 s of CPU per 100k rows on the bench. Objects are
        # still freed by reference counting; cycles among them wait for unfreeze,
        # which hands them back to the oldest generation. Process-wide and not
        # nested: with two imports at once the first to end unfreezes both, which
        # costs the other only the speed. A heap frozen before (``import_leads``
        # freezes its start-up heap for the process's life) stays frozen.
        self.thread.start()
        self.frozen_before = gc.get_freeze_count() > 0
        gc.freeze()
        return self

    def __exit__(self, *exc):
        self.stop.set()
        while self.thread.is_alive():
            # Unblock a producer waiting for queue room, then let it finish.
            with contextlib.suppress(queue.Empty):
                self.queue.get_nowait()
            self.thread.join(timeout=0.05)
        self.phones.close()
        if not self.frozen_before:
            gc.unfreeze()

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
        clock = Clock(self.timings)
        seen = SeenPhones()
        try:
            chunks = _with_phones(self.rows, self.phones, self.cleaner, self.chunk_rows, clock)
            for chunk, pending in chunks:
                good, bad = pending.result()
                clock.lap("phones")
                part = _validate(chunk, self.cleaner, good, bad, seen, self.report_limit)
                clock.lap("validate")
                if self.match_row is not None:
                    _match(part.fresh, self.match_row)
                    clock.lap("match")
                if self.encode is not None:
                    self.encode(part.fresh)
                    clock.lap("encode")
                if not self._put(("part", part)):
                    return
                clock.lap("reader_idle")  # waiting for the database side to take the chunk
        except BaseException as exc:  # handed to the main thread, which raises it
            self._put(("error", exc))
            return
        finally:
            seen.close()
        self._put(("end", None))


def _with_phones(rows, phones, cleaner, chunk_rows, clock):
    """Yield ``(chunk, future)`` one chunk ahead, so workers parse phones meanwhile.

    The chunk holds its records as ``RowCleaner.prepare`` left them.
    """
    pending = None
    # A short first chunk: the database side waits for it, so it starts sooner.
    size, seen = max(chunk_rows // 4, 1), 0
    while True:
        chunk, raws = cleaner.prepare(islice(rows, size))
        size = chunk_rows
        clock.lap("read")
        if not chunk:
            break
        seen += len(chunk)
        if seen >= settings.IMPORT_PARALLEL_MIN_ROWS:
            phones.start(PhoneNormalizer.worker_count())  # once; a no-op afterwards
        future = phones.submit(raws)
        clock.lap("phones")
        if pending is not None:
            yield pending
        pending = (chunk, future)
    if pending is not None:
        yield pending


def _validate(chunk, cleaner, good, bad, seen, report_limit):
    """Finish each prepared row; drop repeats of a phone seen earlier in the file."""
    part = ValidChunk(fresh=[], phones=[])
    finish = cleaner.finish
    # The first line of each phone in this chunk; the rows to check against earlier chunks.
    here, keys, candidates = {}, [], []
    for position, prepared in enumerate(chunk):
        if not position & 127:
            # Let the database thread take the GIL now: after each statement
            # it would otherwise wait up to the 5 ms switch interval for it.
            time.sleep(0)
        row = finish(prepared, good, bad)
        if isinstance(row, list):  # its errors
            errors = row
            part.invalid += 1
            room = report_limit - len(part.errors)
            part.errors_dropped = part.errors_dropped or room < len(errors)
            part.errors.extend(errors[: max(room, 0)])
            continue
        key = int(row.phone[1:])
        first = here.get(key)
        if first is not None:
            _duplicate(part, row.line, row.phone, f"line {first}", report_limit)
            continue
        here[key] = row.line
        keys.append(key)
        candidates.append(row)
    earlier = seen.lines(here)
    fresh = part.fresh
    for key, row in zip(keys, candidates, strict=True):
        first = earlier.get(key)
        if first is not None:
            _duplicate(part, row.line, row.phone, f"line {first}", report_limit)
        else:
            fresh.append(row)
    seen.add((key, line) for key, line in here.items() if key not in earlier)
    part.duplicate_rows.sort(key=lambda entry: entry["line"])
    part.rows = len(chunk)
    part.phones = [row.phone for row in fresh]
    return part


def _match(rows, match_row):
    """Attach each row's routing rule (a ``Matched`` shared per rule)."""
    for position, row in enumerate(rows):
        if not position & 127:
            time.sleep(0)  # the database thread's turn for the GIL (see _validate)
        row.matched = match_row(row)


def _duplicate(part, line, phone, original, report_limit):
    part.duplicates += 1
    if len(part.duplicate_rows) < report_limit:
        part.duplicate_rows.append({"line": line, "phone": phone, "duplicate_of": original})


# Keys per lookup: below the bound on parameters of older SQLite builds (999).
_SQLITE_PARAMETERS = 900


# Pages of the phones' table kept in this process (KiB); the rest waits in a file.
SEEN_CACHE_KIB = 8192


class SeenPhones:
    """Phones met earlier in the file, with the line of their first row.

    A SQLite table keyed by the E.164 digits (~25 bytes an entry where a
    dict of ints costs ~95), looked up a chunk at a time, in C. A private
    temporary database, not ``:memory:``: SQLite keeps up to
    ``SEEN_CACHE_KIB`` of it in this process and pages the rest out to a file
    it deletes on close, so a million phones cost 8 MiB of memory, not 25.
    """

    def __init__(self):
        self.db = sqlite3.connect("")  # "": temporary, on disk past the cache
        self.db.execute(f"PRAGMA cache_size = -{SEEN_CACHE_KIB}")
        self.db.execute("PRAGMA journal_mode = OFF")  # scratch data: nothing to roll back
        self.db.execute("PRAGMA synchronous = OFF")
        self.db.execute("CREATE TABLE seen (phone INTEGER PRIMARY KEY, line INTEGER NOT NULL)")

    def lines(self, keys):
        """``{key: line}`` for those of ``keys`` met before."""
        found = {}
        for part in chunked(keys, _SQLITE_PARAMETERS):
            marks = ",".join("?" * len(part))
            found.update(
                self.db.execute(f"SELECT phone, line FROM seen WHERE phone IN ({marks})", part)  # noqa: S608
            )
        return found

    def add(self, pairs):
        self.db.executemany("INSERT INTO seen (phone, line) VALUES (?, ?)", pairs)

    def close(self):
        self.db.close()
