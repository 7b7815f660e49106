"""Row validation: from a record of text to the fields of a lead, or to errors.

Phone numbers are the slow part (``phonenumbers`` costs ~20-60 µs each), so
they are normalised once per distinct raw string and, for big files, in worker
processes on every core while the main process reads and writes the database.
"""

import multiprocessing
import os
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator

from leads.models import Lead
from leads.services import NOTES_MAX_LENGTH

from .phoneworker import normalise_many

VALUE_IN_REPORT = 200
_validate_email = EmailValidator()
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
        self.index = columns.fields
        self.phone_index = columns.fields["phone"]
        self.extra = _unique_names(columns.extra)

    def raw_phone(self, record):
        return _cell(record, self.phone_index).strip()

    def clean(self, line, record, phones, bad_phones):
        """Return ``(CleanRow, [])`` or ``(None, [error, ...])``.

        Text is kept verbatim apart from surrounding spaces: a name that starts
        with ``=`` is a name, neutralised only where it is exported to CSV.
        """
        values = {name: _cell(record, i).strip() for name, i in self.index.items()}
        errors = []
        header = self.columns.header
        if not values["first_name"]:
            errors.append(error(line, header("first_name"), "", "First name is required."))
        raw = values["phone"]
        phone = phones.get(raw)
        if not raw:
            errors.append(error(line, header("phone"), "", "Phone number is required."))
        elif phone is None:
            message = bad_phones.get(raw, "Not a valid phone number.")
            errors.append(error(line, header("phone"), raw, message))
        for name, limit in _MAX.items():
            value = values.get(name, "")
            if value and len(value) > limit:
                errors.append(
                    error(line, header(name), value, f"{_LABEL[name]} is longer than {limit}.")
                )
        email = values.get("email", "")
        if email and len(email) <= _MAX["email"]:
            try:
                _validate_email(email)
            except ValidationError:
                errors.append(error(line, header("email"), email, "Not a valid email address."))
        if errors:
            return None, errors
        extra = {}
        for index, name in self.extra:
            value = _cell(record, index)
            if value.strip():
                extra[name] = value
        return (
            CleanRow(
                line,
                values["first_name"],
                values.get("last_name", ""),
                phone,
                email,
                values.get("notes", ""),
                extra,
            ),
            [],
        )


def _cell(record, index):
    return record[index] if index < len(record) else ""


def _unique_names(extra):
    seen, out = {}, []
    for index, name in extra:
        count = seen.get(name, 0) + 1
        seen[name] = count
        out.append((index, name if count == 1 else f"{name} ({count})"))
    return out


class PhoneNormaliser:
    """Normalise distinct raw phone strings, in worker processes when it pays.

    ``submit`` returns a future so the caller can read and write the next chunk
    while the workers parse phones. Workers start with ``forkserver``: forking a
    threaded web worker that holds database connections is not safe.
    """

    def __init__(self, *, region=None, workers=0):
        self.region = (region or settings.PHONE_DEFAULT_REGION).upper()
        self.workers = workers
        self._pool = None

    @staticmethod
    def worker_count():
        configured = getattr(settings, "IMPORT_WORKERS", None)
        if configured is not None:
            return int(configured)
        return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else 1

    def start(self, workers):
        if workers > 1 and self._pool is None:
            self.workers = workers
            self._pool = ProcessPoolExecutor(
                max_workers=workers, mp_context=multiprocessing.get_context("forkserver")
            )

    def submit(self, raws):
        raws = list(raws)
        if self._pool is None or len(raws) < 2 * self.workers:
            done = Future()
            done.set_result(normalise_many(raws, self.region))
            return done
        size = -(-len(raws) // self.workers)
        parts = [
            self._pool.submit(normalise_many, raws[i : i + size], self.region)
            for i in range(0, len(raws), size)
        ]
        return _Merged(parts)

    def close(self):
        if self._pool is not None:
            self._pool.shutdown(wait=True, cancel_futures=True)
            self._pool = None

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()


class _Merged:
    def __init__(self, parts):
        self.parts = parts

    def result(self):
        good, bad = {}, {}
        for part in self.parts:
            part_good, part_bad = part.result()
            good.update(part_good)
            bad.update(part_bad)
        return good, bad
