"""The import services on the real database, with real files written here."""

import csv
import io
from collections import Counter

import openpyxl
import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from accounts.models import AuditLog
from agents.models import Agent
from assignments.models import Assignment, Reason, RotationState
from imports import pipeline, writers
from imports.normalize import CleanRow
from imports.readers import InvalidFile
from imports.services import (
    DuplicateFile,
    FileTooLarge,
    InvalidRows,
    commit_batch,
    import_file,
    undo_batch,
)
from leads import counters
from leads import services as lead_services
from leads.models import ImportBatch, Lead, LeadActivity, LeadStatus

pytestmark = pytest.mark.django_db


@pytest.fixture
def agents(make_agent):
    return [make_agent() for _ in range(5)]


def csv_bytes(rows, header=("FirstName", "Phone", "Notes")):
    lines = [",".join(header)] + [",".join(str(cell) for cell in row) for row in rows]
    return ("\n".join(lines) + "\n").encode()


def phone(n):
    return f"98{n:08d}"


def people(count, start=0):
    return [(f"Person{n}", phone(n), f"note {n}") for n in range(start, start + count)]


def run_import(data, actor, name="leads.csv", **options):
    return import_file(file=io.BytesIO(data), file_name=name, actor=actor, **options)


def per_agent_counts():
    return sorted(Counter(Lead.objects.values_list("agent_id", flat=True)).values(), reverse=True)


def test_csv_import_creates_and_distributes_leads(manager, agents):
    result = run_import(csv_bytes(people(23)), manager)
    batch = result.batch
    assert batch.state == ImportBatch.State.COMMITTED
    assert (batch.rows, batch.created, batch.duplicates, batch.invalid) == (23, 23, 0, 0)
    assert (batch.assigned, batch.unassigned) == (23, 0)
    assert per_agent_counts() == [5, 5, 5, 4, 4]
    assert sorted(batch.per_agent.values(), reverse=True) == [5, 5, 5, 4, 4]
    assert set(batch.per_agent) == {str(a.pk) for a in agents}
    lead = Lead.objects.get(phone="+919800000007")
    assert (lead.first_name, lead.notes, lead.batch_id) == ("Person7", "note 7", batch.pk)
    assignment = Assignment.objects.get(lead=lead)
    assert (assignment.agent_id, assignment.reason, assignment.batch_id) == (
        lead.agent_id,
        Reason.IMPORT,
        batch.pk,
    )
    assert assignment.ended_at is None
    # No timeline row per imported lead: its "created" entry is derived from the batch.
    assert not LeadActivity.objects.exists()
    assert batch.file.name.endswith(".csv")
    entry = AuditLog.objects.get(action="import_committed")
    assert (entry.actor, entry.target, entry.data["created"]) == (manager, f"batch:{batch.pk}", 23)
    # No "dedupe" on MariaDB: the phone index looks the rows up (test_guessed_dedupe.py).
    assert {"read", "phones", "validate", "insert", "distribute", "total"} <= set(result.timings)


def test_duplicates_across_formats_are_one_lead(manager, agents):
    data = csv_bytes(
        [
            ("Asha", "098765 43210", ""),
            ("Asha again", "+91 98765-43210", ""),
            ("Float", "9876543210.0", ""),
            ("Sci", "9.87654321E9", ""),
            ("Other", "+91 98765 43211", ""),
        ]
    )
    batch = run_import(data, manager).batch
    assert (batch.rows, batch.created, batch.duplicates) == (5, 2, 3)
    assert sorted(Lead.objects.values_list("phone", flat=True)) == [
        "+919876543210",
        "+919876543211",
    ]
    assert Lead.objects.get(phone="+919876543210").first_name == "Asha"
    assert batch.duplicate_rows == [
        {"line": 3, "phone": "+919876543210", "duplicate_of": "line 2"},
        {"line": 4, "phone": "+919876543210", "duplicate_of": "line 2"},
        {"line": 5, "phone": "+919876543210", "duplicate_of": "line 2"},
    ]


def test_duplicates_of_existing_leads_are_skipped_by_default(manager, agents, make_lead):
    existing = make_lead(first_name="Old", phone="+919800000001")
    batch = run_import(csv_bytes(people(3)), manager).batch
    assert (batch.created, batch.duplicates, batch.updated) == (2, 1, 0)
    existing.refresh_from_db()
    assert (existing.first_name, existing.batch_id) == ("Old", None)
    assert batch.duplicate_rows == [
        {"line": 3, "phone": "+919800000001", "duplicate_of": f"lead {existing.pk}"}
    ]


def test_dedupe_update_changes_existing_leads_without_moving_them(
    manager, agents, make_lead, make_agent
):
    owner = make_agent()
    existing = make_lead(first_name="Old", phone="+919800000001", agent=owner)
    data = csv_bytes(
        [("New name", phone(1), "fresh note", "Pune")], ("Name", "Phone", "Notes", "City")
    )
    batch = run_import(data, manager, dedupe="update").batch
    assert (batch.created, batch.duplicates, batch.updated, batch.assigned) == (0, 1, 1, 0)
    existing.refresh_from_db()
    assert (existing.first_name, existing.notes, existing.extra) == (
        "New name",
        "fresh note",
        {"City": "Pune"},
    )
    assert existing.agent_id == owner.pk
    assert existing.activities.filter(kind=LeadActivity.Kind.UPDATED).count() == 1


def test_bad_rows_are_reported_and_good_rows_imported(manager, agents):
    data = csv_bytes(
        [
            ("Asha", phone(1), "ok", "asha@example.com"),
            ("", phone(2), "", ""),
            ("Ravi", "12345", "", ""),
            ("Meera", "", "", ""),
            ("Long", phone(5), "x" * 5001, ""),
            ("Mail", phone(6), "", "not-an-email"),
        ],
        ("First Name", "Mobile", "Comments", "Email"),
    )
    batch = run_import(data, manager).batch
    assert (batch.rows, batch.created, batch.invalid) == (6, 1, 5)
    assert Lead.objects.get().first_name == "Asha"
    assert batch.errors[:3] == [
        {"line": 3, "column": "First Name", "value": "", "message": "First name is required."},
        {
            "line": 4,
            "column": "Mobile",
            "value": "12345",
            "message": "Not a valid phone number for region IN.",
        },
        {"line": 5, "column": "Mobile", "value": "", "message": "Phone number is required."},
    ]
    assert batch.errors[3]["column"] == "Comments"
    assert batch.errors[3]["message"] == "Notes is longer than 5000."
    assert batch.errors[4] == {
        "line": 7,
        "column": "Email",
        "value": "not-an-email",
        "message": "Not a valid email address.",
    }


def test_strict_mode_rejects_the_file_and_writes_no_lead(manager, agents):
    data = csv_bytes([*people(5), ("", phone(99), "")])
    with pytest.raises(InvalidRows) as caught:
        run_import(data, manager, strict=True)
    assert caught.value.status == 400
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0
    batch = ImportBatch.objects.get(pk=caught.value.extra["batch"])
    assert (batch.state, batch.created, batch.invalid) == (ImportBatch.State.FAILED, 0, 1)
    assert batch.errors[0]["line"] == 7


def test_cell_text_is_kept_verbatim(manager, agents):
    data = csv_bytes([("=SUM(A1:A2)", phone(1), "@cmd"), ("+Plus", phone(2), "-minus")])
    run_import(data, manager)
    assert sorted(Lead.objects.values_list("first_name", "notes")) == [
        ("+Plus", "-minus"),
        ("=SUM(A1:A2)", "@cmd"),
    ]


def test_unknown_columns_are_kept_in_extra(manager, agents):
    data = csv_bytes([("Asha", phone(1), "Pune", "")], ("name", "phone number", "City", "Source"))
    run_import(data, manager)
    assert Lead.objects.get().extra == {"City": "Pune"}


def test_xlsx_with_float_phones_and_formula_text(manager, agents):
    workbook = openpyxl.Workbook()
    sheet = workbook.active
    sheet.append(["First Name", "Last Name", "Phone", "Email"])
    sheet.append(["Asha", "Rao", 9876543210, "asha@example.com"])
    sheet.append(["=HYPERLINK(1)", "", 9.87654321e9 + 1, ""])
    sheet["A3"].data_type = "s"
    out = io.BytesIO()
    workbook.save(out)
    batch = run_import(out.getvalue(), manager, name="renamed.csv").batch
    assert (batch.rows, batch.created) == (2, 2)
    assert sorted(Lead.objects.values_list("first_name", "last_name", "phone")) == [
        ("=HYPERLINK(1)", "", "+919876543211"),
        ("Asha", "Rao", "+919876543210"),
    ]


def test_preview_writes_nothing_then_commit_applies_the_plan(manager, agents):
    RotationState.objects.create(pool="default", last_agent_id=agents[1].pk)
    result = run_import(csv_bytes([*people(12), ("Dup", phone(3), "")]), manager, preview=True)
    batch = result.batch
    assert batch.state == ImportBatch.State.PREVIEW
    assert (batch.rows, batch.created, batch.duplicates, batch.assigned) == (13, 12, 1, 12)
    planned = batch.per_agent
    assert sum(planned.values()) == 12
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0
    assert LeadActivity.objects.count() == 0
    assert RotationState.objects.get().last_agent_id == agents[1].pk

    committed = commit_batch(batch=batch, actor=manager).batch
    assert committed.state == ImportBatch.State.COMMITTED
    assert committed.created == 12
    assert committed.per_agent == {k: v for k, v in planned.items() if v}
    assert Lead.objects.filter(batch=batch).count() == 12


def test_commit_is_refused_unless_in_preview(manager, agents):
    batch = run_import(csv_bytes(people(2)), manager).batch
    with pytest.raises(Exception) as caught:
        commit_batch(batch=batch, actor=manager)
    assert caught.value.code == "batch_not_in_preview"


def test_same_file_again_is_refused_unless_forced(manager, agents):
    data = csv_bytes(people(3))
    first = run_import(data, manager).batch
    with pytest.raises(DuplicateFile) as caught:
        run_import(data, manager, name="again.csv")
    assert caught.value.status == 409
    assert caught.value.extra == {"batch": first.pk}
    again = run_import(data, manager, force=True).batch
    assert (again.created, again.duplicates) == (0, 3)


@pytest.mark.parametrize(
    ("module", "where"), [(pipeline, "_distribute"), (writers, "insert_leads")]
)
def test_commit_is_atomic_when_a_later_chunk_fails(
    manager, agents, settings, monkeypatch, module, where
):
    settings.IMPORT_CHUNK_ROWS = 10
    RotationState.objects.create(pool="default", last_agent_id=agents[2].pk)
    real = getattr(module, where)
    calls = []

    def fail_on_second_chunk(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("injected failure")
        return real(*args, **kwargs)

    monkeypatch.setattr(module, where, fail_on_second_chunk)
    with pytest.raises(RuntimeError):
        run_import(csv_bytes(people(35)), manager)
    assert len(calls) == 2
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0
    assert LeadActivity.objects.count() == 0
    assert RotationState.objects.get().last_agent_id == agents[2].pk
    batch = ImportBatch.objects.get()
    assert batch.state == ImportBatch.State.FAILED
    assert (batch.created, batch.assigned, batch.per_agent) == (0, 0, {})
    assert "RuntimeError" in batch.message


def test_chunks_and_worker_processes_give_the_same_result(manager, agents, settings):
    settings.IMPORT_CHUNK_ROWS = 100
    settings.IMPORT_PARALLEL_MIN_ROWS = 50
    settings.IMPORT_WORKERS = 2
    rows = [*people(250), ("Again", phone(10), ""), ("Bad", "123", "")]
    batch = run_import(csv_bytes(rows), manager).batch
    assert (batch.rows, batch.created, batch.duplicates, batch.invalid) == (252, 250, 1, 1)
    assert batch.duplicate_rows[0] == {
        "line": 252,
        "phone": "+919800000010",
        "duplicate_of": "line 12",
    }
    assert per_agent_counts() == [50] * 5


def test_leads_that_fit_nowhere_are_reported_unassigned(manager, make_agent):
    make_agent(capacity=2)
    make_agent(capacity=1)
    batch = run_import(csv_bytes(people(5)), manager).batch
    assert (batch.created, batch.assigned, batch.unassigned) == (5, 3, 2)
    assert Lead.objects.filter(agent__isnull=True).count() == 2


def test_without_eligible_agents_leads_are_imported_unassigned(manager, make_agent):
    make_agent(accepts_leads=False)
    batch = run_import(csv_bytes(people(3)), manager).batch
    assert (batch.created, batch.assigned, batch.unassigned) == (3, 0, 3)
    assert "No eligible agent" in batch.message
    assert Assignment.objects.count() == 0


def test_no_distribute_leaves_leads_unassigned(manager, agents):
    batch = run_import(csv_bytes(people(4)), manager, distribute=False).batch
    assert (batch.created, batch.assigned) == (4, 0)
    assert Lead.objects.filter(agent__isnull=True).count() == 4


def test_undo_removes_unworked_leads_and_keeps_worked_ones(manager, agents):
    batch = run_import(csv_bytes(people(6)), manager).batch
    leads = list(Lead.objects.filter(batch=batch).order_by("id"))
    worked_status, worked_notes, worked_follow = leads[0], leads[1], leads[2]
    lead_services.lead_update(lead=worked_status, actor=manager, status=LeadStatus.CONTACTED)
    lead_services.lead_update(lead=worked_notes, actor=manager, notes="called, busy")
    lead_services.lead_update(
        lead=worked_follow, actor=manager, next_follow_up="2030-01-01T10:00:00Z"
    )

    result = undo_batch(batch=batch, actor=manager)
    assert result.removed == 3
    assert result.kept == [worked_status.pk, worked_notes.pk, worked_follow.pk]
    assert sorted(Lead.objects.values_list("id", flat=True)) == result.kept
    assert set(Assignment.objects.values_list("lead_id", flat=True)) == set(result.kept)
    assert not LeadActivity.objects.exclude(lead_id__in=result.kept).exists()
    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.UNDONE
    assert batch.undone_at is not None
    assert "3 already worked and kept" in batch.message
    assert AuditLog.objects.get(action="import_undone").data == {"removed": 3, "kept": 3}
    with pytest.raises(Exception) as caught:
        undo_batch(batch=batch, actor=manager)
    assert caught.value.code == "batch_not_committed"


def test_undone_file_may_be_imported_again(manager, agents):
    data = csv_bytes(people(2))
    undo_batch(batch=run_import(data, manager).batch, actor=manager)
    assert run_import(data, manager).batch.created == 2


def test_agents_not_eligible_get_nothing(manager, make_agent):
    active = make_agent()
    away = make_agent(accepts_leads=False)
    run_import(csv_bytes(people(4)), manager)
    assert set(Lead.objects.values_list("agent_id", flat=True)) == {active.pk}
    assert not Agent.objects.get(pk=away.pk).leads.exists()


def test_error_report_is_bounded_and_says_so(manager, agents, settings):
    settings.IMPORT_MAX_REPORTED_ROWS = 2
    rows = [*people(2), ("", phone(50), ""), ("", phone(51), ""), ("", phone(52), "")]
    batch = run_import(csv_bytes(rows), manager).batch
    assert (batch.created, batch.invalid, len(batch.errors)) == (2, 3, 2)
    assert "lists the first 2 errors" in batch.message


def test_service_refuses_files_over_the_upload_limit(manager, settings):
    data = csv_bytes(people(3))
    settings.MAX_UPLOAD_SIZE = len(data) - 1
    with pytest.raises(FileTooLarge) as caught:
        run_import(data, manager)
    assert caught.value.status == 413
    assert ImportBatch.objects.count() == 0


def test_reader_errors_in_a_later_chunk_roll_everything_back(manager, agents, settings):
    settings.IMPORT_CHUNK_ROWS = 5
    data = csv_bytes(people(12)) + b'Late,9812345678,"never closed\n'
    with pytest.raises(InvalidFile, match="Line 14"):
        run_import(data, manager)
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0
    assert ImportBatch.objects.get().state == ImportBatch.State.FAILED


TRICKY = [
    "O'Brien",
    'Say "hi"',
    "back\\slash\\",
    "50% off; DROP TABLE leads_lead; --",
    '=HYPERLINK("http://x")',
    "Zoë 😀 漢字",
    "tab\tinside",
    "\\'; --",
]


@pytest.mark.parametrize("small_statements", [False, True])
def test_values_are_stored_exactly_whatever_the_statement_size(
    manager, agents, monkeypatch, small_statements
):
    if small_statements:
        # Many statements: by row count and by bytes (one long row goes alone).
        monkeypatch.setattr(writers, "LITERAL_BATCH", 3)
        monkeypatch.setattr(writers, "STATEMENT_BYTES", 600)
    with connection.cursor() as cursor:
        # MariaDB takes the driver-escaped path, other databases the parameters.
        assert (writers._literal_function(cursor) is not None) == (connection.vendor == "mysql")
    rows = [(text, phone(n), text) for n, text in enumerate(TRICKY)]
    rows.append(("Long", phone(50), "n" * 5000))
    header = ("FirstName", "Phone", "Notes")
    data = io.StringIO()
    csv.writer(data).writerow(header)
    csv.writer(data).writerows(rows)
    batch = run_import(data.getvalue().encode(), manager).batch
    assert (batch.rows, batch.created, batch.invalid, batch.assigned) == (9, 9, 0, 9)
    stored = {lead.phone: (lead.first_name, lead.notes) for lead in Lead.objects.all()}
    for n, text in enumerate(TRICKY):
        assert stored[f"+91{phone(n)}"] == (text, text)
    assert stored[f"+91{phone(50)}"] == ("Long", "n" * 5000)
    assert Lead.objects.filter(agent__isnull=True).count() == 0
    assert per_agent_counts() == [2, 2, 2, 2, 1]
    assert Assignment.objects.filter(ended_at__isnull=True).count() == 9


def test_insert_statements_respect_both_bounds(monkeypatch):
    monkeypatch.setattr(writers, "LITERAL_BATCH", 4)
    monkeypatch.setattr(writers, "STATEMENT_BYTES", 400)
    row = CleanRow(1, "A", "B", "+919800000001", "", "", {})
    big = CleanRow(2, "A" * 500, "B", "+919800000002", "", "", {})

    def literal(text):
        return ("'" + text.replace("'", "''") + "'").encode()

    statements = list(
        writers._insert_statements(
            "t", "a", "'new', 1, 'x', 'x'", [row] * 6 + [big, row], [1] * 8, literal
        )
    )
    counts = [sql.count(b"+9198") for sql in statements]
    assert sum(counts) == 8
    assert all(count <= 4 for count in counts)
    # The long row is alone; every statement with two or more rows fits the bound.
    pairs = list(zip(statements, counts, strict=True))
    assert any(b"A" * 500 in sql and count == 1 for sql, count in pairs)
    assert all(len(sql) <= 400 for sql, count in pairs if count > 1)


# Text that a CSV for LOAD DATA must carry verbatim: its quote, separator and line
# end, the words MariaDB reads as NULL, and an escape character it must not apply.
# Statements per chunk of a plain import: the id floor, the write (on MariaDB a
# LOAD DATA between a savepoint and its release, the phone index being the dedupe;
# elsewhere the dedupe lookup and an INSERT), the id range and the assignments
# (on MariaDB after share-locking the importing user's row: the assignments are
# written without per-row reference checks). No timeline row is written: the
# "created" entry is derived.
PER_CHUNK_QUERIES = 7 if connection.vendor == "mysql" else 5

LOADED_TEXT = [
    *TRICKY,
    'ends with a quote"',
    '"quoted", then more',
    "two\nlines",
    "carriage\r\nreturn",
    "NULL",
    "\\N",
    "trailing backslash\\",
    ",",
]


@pytest.mark.parametrize("load_data", [True, False])
def test_new_leads_are_loaded_verbatim_by_load_data_or_inserts(
    manager, agents, settings, load_data
):
    settings.IMPORT_LOAD_DATA = load_data
    rows = [(text, phone(n), text, f"{text} city") for n, text in enumerate(LOADED_TEXT)]
    data = io.StringIO()
    out = csv.writer(data)
    out.writerow(("FirstName", "Phone", "Notes", "City"))
    out.writerows(rows)
    with CaptureQueriesContext(connection) as queries:
        batch = run_import(data.getvalue().encode(), manager).batch
    loaded = any("LOAD DATA LOCAL INFILE" in query["sql"] for query in queries)
    # The bulk path where the database has it (the test server allows local_infile).
    assert loaded == (load_data and connection.vendor == "mysql")
    assert (batch.created, batch.invalid, batch.assigned) == (len(rows), 0, len(rows))
    stored = {lead.phone: lead for lead in Lead.objects.all()}
    for n, text in enumerate(LOADED_TEXT):
        lead = stored[f"+91{phone(n)}"]
        assert (lead.first_name, lead.notes, lead.extra) == (text, text, {"City": f"{text} city"})
        assert (lead.status, lead.batch_id, lead.last_name, lead.email) == ("new", batch.pk, "", "")
        assert lead.created_at == lead.updated_at
    assert per_agent_counts() == [4, 3, 3, 3, 3]
    assert Assignment.objects.filter(ended_at__isnull=True, batch=batch).count() == len(rows)


def test_each_chunk_costs_the_same_few_queries_and_counts_nothing_again(manager, agents, settings):
    """The plan already knows who gets how many leads: the counters and the digest take
    its numbers, so no chunk groups the leads it has just written."""
    settings.IMPORT_CHUNK_ROWS = 10

    def queries_of(first, count):
        with CaptureQueriesContext(connection) as queries:
            run_import(csv_bytes(people(count, start=first)), manager, name=f"{first}.csv")
        return [query["sql"] for query in queries]

    queries_of(0, 12)  # the first import also creates the rotation state
    four = queries_of(100, 32)  # chunks of 2, 10, 10, 10 rows
    eight = queries_of(200, 72)  # 2, then seven of 10
    grouped = [[sql for sql in run if "GROUP BY" in sql.upper()] for run in (four, eight)]
    assert len(grouped[0]) == len(grouped[1]) == 1  # the agents' open loads, once an import
    assert (len(eight) - len(four)) / 4 == PER_CHUNK_QUERIES
    stored, counted = counters.stored_tally(), counters.recount_tally()
    assert counters.differences(stored, counted) == []
    assert per_agent_counts() == [24, 23, 23, 23, 23]


def test_a_chunks_leads_are_written_agent_by_agent_each_with_its_planned_agent(
    manager, agents, settings
):
    """Each chunk's new leads are inserted grouped by agent (the agent-first indexes then
    take them a page at a time): the ids run agent by agent, file order within an agent,
    and every line still has the agent the rotation gave it."""
    settings.IMPORT_CHUNK_ROWS = 10  # chunks of lines 0-1, 2-11, 12-21
    run_import(csv_bytes(people(22)), manager)
    order = sorted(a.pk for a in agents)
    leads = {lead.phone: lead for lead in Lead.objects.all()}
    by_line = [leads[f"+91{phone(n)}"] for n in range(22)]
    assert [lead.agent_id for lead in by_line] == [order[n % 5] for n in range(22)]
    for first, last in ((0, 2), (2, 12), (12, 22)):
        chunk = sorted(range(first, last), key=lambda n: by_line[n].pk)
        assert chunk == sorted(range(first, last), key=lambda n: (by_line[n].agent_id, n))
        assert min(by_line[n].pk for n in chunk) > max(
            (by_line[n].pk for n in range(first)), default=0
        )


@pytest.mark.skipif(connection.vendor != "mysql", reason="LOAD DATA is MariaDB's")
def test_rows_the_reader_did_not_encode_are_loaded_all_the_same(manager, agents):
    """``insert_leads`` writes the LOAD DATA line of a row the reader thread left without one."""
    from django.db import transaction
    from django.utils import timezone

    batch = ImportBatch.objects.create(file_name="direct.csv", sha256="0" * 64, created_by=manager)
    rows = [CleanRow(n, f'Fir"st{n}', "", f"+9198000001{n:02d}", "", "a,b\\", {}) for n in range(3)]
    with transaction.atomic():
        writers.insert_leads(
            rows,
            [agents[0].pk, None, agents[1].pk],
            batch=batch,
            now=timezone.now(),
            load_data=True,
        )
    stored = {lead.phone: lead for lead in Lead.objects.filter(batch=batch)}
    assert [(stored[r.phone].first_name, stored[r.phone].notes) for r in rows] == [
        (r.first_name, "a,b\\") for r in rows
    ]
    assert [stored[r.phone].agent_id for r in rows] == [agents[0].pk, None, agents[1].pk]
