"""The reader's whole output for a hostile file, pinned: every row, error and duplicate.

The reader thread (imports.readahead, imports.normalize, common.phones) is
tuned for speed, and none of that may change a result. The file of
``hostile_csv`` goes through it in short chunks, with and without the phone
worker processes, and everything it hands the database side (each new row's
fields and JSON, each error with its message, each duplicate and the line it
repeats, the counts) must equal ``data/reader_outputs.jsonl``, made by the
reader as it was before it was tuned. Then the same file is imported for real
and the leads in the database must be those rows.

After a deliberate change of behaviour, rewrite the file with
``LEADLINE_WRITE_GOLDEN=1`` and read its diff.
"""

import gc
import hashlib
import io
import json
import os
from pathlib import Path

import pytest
from django.conf import settings

from imports.columns import map_columns
from imports.normalize import RowCleaner
from imports.pipeline import Options
from imports.readahead import ReadAhead
from imports.readers import open_table
from imports.services import import_file
from leads.models import Lead

from . import hostile_csv

_encode_json = json.JSONEncoder(ensure_ascii=False).encode
GOLDEN = Path(__file__).parent / "data" / "reader_outputs.jsonl"


@pytest.fixture
def hostile_settings(settings):
    settings.PHONE_DEFAULT_REGION = "IN"
    settings.IMPORT_CHUNK_ROWS = 300  # chunks of 75 (the first), then 300
    settings.IMPORT_MAX_EXTRA_BYTES = 4096
    settings.IMPORT_MAX_REPORTED_ROWS = 10_000
    return settings


def _short(value):
    """Long text as its length and digest, so the golden file stays readable."""
    if isinstance(value, str) and len(value) > 120:
        digest = hashlib.sha256(value.encode()).hexdigest()[:16]
        return f"{value[:40]}…<{len(value)} chars, sha256 {digest}>"
    return value


def _entries(report):
    return [
        {**entry, "value": _short(entry["value"])} if "value" in entry else entry
        for entry in report
    ]


def reader_outputs(data, report_limit, with_rows=True):
    """What the reader thread hands over, chunk by chunk, as lines of JSON.

    ``with_rows`` False leaves the new rows out (the counts and reports only).
    """
    table = open_table(io.BytesIO(data))
    rows = iter(table)
    header = next(rows)
    cleaner = RowCleaner(map_columns(header[1]))
    options = Options(region="IN")
    lines = []
    with ReadAhead(rows, cleaner, options, settings.IMPORT_CHUNK_ROWS, report_limit) as reader:
        for number, part in enumerate(reader):
            counts = [part.rows, part.invalid, part.duplicates, part.errors_dropped]
            lines.append({"chunk": number, "counts": counts})
            assert part.phones == [row.phone for row in part.fresh]
            for row in part.fresh if with_rows else ():
                fields = [row.line, row.first_name, row.last_name, row.phone, row.email, row.notes]
                # The JSON, as written to Lead.extra, holds the dict in its order.
                assert json.loads(row.extra_json) == row.extra
                assert row.matched is None
                lines.append(
                    {"row": [_short(value) for value in fields], "json": _short(row.extra_json)}
                )
            lines.extend({"error": entry} for entry in _entries(part.errors))
            lines.extend({"duplicate": entry} for entry in _entries(part.duplicate_rows))
    return lines


def _dumps(line):
    return json.dumps(line, ensure_ascii=False, separators=(",", ":"))


def _as_text(lines):
    return "".join(_dumps(line) + "\n" for line in lines)


def _golden_runs():
    data = hostile_csv.data()
    return {
        "all": reader_outputs(data, 10_000),
        "limited": reader_outputs(data, 7, with_rows=False),  # the report limit cuts in
        "narrow": reader_outputs(hostile_csv.narrow_data(), 10_000),
    }


def _expected():
    """The pinned output; with ``LEADLINE_WRITE_GOLDEN=1``, rewritten from the code first."""
    if os.environ.get("LEADLINE_WRITE_GOLDEN"):
        GOLDEN.parent.mkdir(exist_ok=True)
        text = "".join(
            _as_text({"run": name, **line} for line in lines)
            for name, lines in _golden_runs().items()
        )
        GOLDEN.write_text(text, encoding="utf-8")
    runs = {}
    for line in GOLDEN.read_text(encoding="utf-8").splitlines():
        entry = json.loads(line)
        runs.setdefault(entry.pop("run"), []).append(entry)
    return runs


@pytest.mark.parametrize("workers", [False, True], ids=["in-thread", "worker-processes"])
def test_reader_output_for_a_hostile_file_is_unchanged(hostile_settings, workers):
    if workers:
        hostile_settings.IMPORT_PARALLEL_MIN_ROWS = 100
        hostile_settings.IMPORT_WORKERS = 2
    else:
        hostile_settings.IMPORT_PARALLEL_MIN_ROWS = 10**9
    expected = _expected()
    for name, lines in _golden_runs().items():
        # Compared as text, line by line, so a failure shows the first line that differs.
        assert _as_text(lines).splitlines() == _as_text(expected[name]).splitlines(), name


def test_the_golden_file_covers_every_kind_of_result():
    lines = _expected()["all"]
    messages = {line["error"]["message"] for line in lines if "error" in line}
    assert {
        "First name is required.",
        "Phone number is required.",
        "Not a valid phone number for region IN.",
        "Phone number is too long.",
        "Not a valid email address.",
        "First name is longer than 150.",
        "Last name is longer than 150.",
        "Notes is longer than 5000.",
    } <= messages
    assert any("as JSON; at most 4,096 bytes" in message for message in messages)
    fresh = [line["row"] for line in lines if "row" in line]
    duplicates = [line["duplicate"] for line in lines if "duplicate" in line]
    assert len(fresh) > 900 and len(duplicates) > 120
    assert any(row[1].startswith("=") for row in fresh)  # formulas stay text
    assert any("…<" in line["json"] for line in lines if "row" in line)  # long extra columns
    assert any(line["counts"][0] for line in lines if "counts" in line)
    limited = _expected()["limited"]
    assert any(line["counts"][3] for line in limited if "counts" in line)  # errors_dropped
    narrow = [line for line in _expected()["narrow"] if "row" in line]
    assert len(narrow) > 200 and all(line["json"] == "{}" for line in narrow)


@pytest.mark.django_db
def test_a_hostile_file_imports_exactly_the_pinned_rows(hostile_settings, manager, make_agent):
    make_agent()
    hostile_settings.IMPORT_PARALLEL_MIN_ROWS = 100
    hostile_settings.IMPORT_WORKERS = 2
    batch = import_file(
        file=io.BytesIO(hostile_csv.data()), file_name="hostile.csv", actor=manager
    ).batch
    lines = _expected()["all"]
    fresh = [line for line in lines if "row" in line]
    stored = [
        [
            *(_short(value) for value in (lead.first_name, lead.last_name, lead.phone)),
            *(_short(value) for value in (lead.email, lead.notes)),
            _short(_encode_json(lead.extra)),  # the text the reader made, if nothing was lost
        ]
        for lead in Lead.objects.order_by("id")
    ]
    assert stored == [[*line["row"][1:], line["json"]] for line in fresh]
    assert _entries(batch.errors) == [line["error"] for line in lines if "error" in line]
    assert _entries(batch.duplicate_rows) == [
        line["duplicate"] for line in lines if "duplicate" in line
    ]
    assert (batch.created, batch.invalid, batch.duplicates) == (
        len(fresh),
        sum(line["counts"][1] for line in lines if "counts" in line),
        sum(line["counts"][2] for line in lines if "counts" in line),
    )


def test_the_heap_is_frozen_while_reading_and_given_back_after(hostile_settings):
    table = open_table(io.BytesIO(hostile_csv.narrow_data(50)))
    rows = iter(table)
    cleaner = RowCleaner(map_columns(next(rows)[1]))
    assert gc.get_freeze_count() == 0
    with ReadAhead(rows, cleaner, Options(region="IN"), 20, 100) as reader:
        assert gc.get_freeze_count() > 0
        assert sum(part.rows for part in reader) == 50
    assert gc.get_freeze_count() == 0


def test_a_heap_frozen_before_the_import_stays_frozen(hostile_settings):
    """``import_leads`` freezes its start-up heap for the process's life: an import
    must not hand it back to the collector (its exit would walk it again)."""
    table = open_table(io.BytesIO(hostile_csv.narrow_data(50)))
    rows = iter(table)
    cleaner = RowCleaner(map_columns(next(rows)[1]))
    gc.freeze()
    try:
        frozen = gc.get_freeze_count()
        with ReadAhead(rows, cleaner, Options(region="IN"), 20, 100) as reader:
            assert sum(part.rows for part in reader) == 50
        assert gc.get_freeze_count() >= frozen
    finally:
        gc.unfreeze()
    assert gc.get_freeze_count() == 0
