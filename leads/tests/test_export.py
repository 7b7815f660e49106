import csv
import io

import pytest
from django.core.management import call_command
from django.core.management.base import CommandError
from openpyxl import load_workbook

from leads.exporting import HEADER, iter_rows, neutralize
from leads.models import ImportBatch, Lead, LeadStatus

URL = "/api/v1/leads/export.csv"


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("=1+2", "'=1+2"),
        ("+cmd|' /C calc'!A0", "'+cmd|' /C calc'!A0"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\tx", "'\tx"),
        ("\rx", "'\rx"),
        ("+919876543210", "+919876543210"),
        ("-12.5", "-12.5"),
        ("+3", "+3"),
        ("1e5", "1e5"),
        ("Asha", "Asha"),
        ("a=b", "a=b"),
        ("", ""),
        (None, ""),
        (42, 42),
    ],
)
def test_neutralize(value, expected):
    assert neutralize(value) == expected


def test_export_header_is_the_files_contract():
    # Derived from the lead's API shape where they share fields; the header itself
    # is what spreadsheets and scripts read, so it is pinned here.
    assert HEADER == [
        "id",
        "first_name",
        "last_name",
        "phone",
        "email",
        "status",
        "agent_email",
        "batch_id",
        "next_follow_up",
        "notes",
        "created_at",
        "updated_at",
    ]


def _rows(text):
    return list(csv.DictReader(io.StringIO(text.lstrip("\ufeff"))))


@pytest.fixture
def leads(agent, other_agent, make_lead):
    return [
        make_lead(agent=agent, first_name='=HYPERLINK("http://x")', notes="@evil"),
        make_lead(agent=agent, first_name="Meera", last_name="Iyer", notes="-12.5"),
        make_lead(agent=other_agent, first_name="Dev", status=LeadStatus.LOST),
        make_lead(first_name="Zara", email="zara@example.com", notes='line1\nline2, "quoted"'),
    ]


def test_api_export_round_trips_and_neutralizes(auth, manager, leads):
    response = auth(manager).get(URL)
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    assert "attachment" in response["Content-Disposition"]
    text = b"".join(response.streaming_content).decode("utf-8")
    assert text.startswith("\ufeff")
    rows = _rows(text)
    assert list(rows[0]) == HEADER
    assert [int(row["id"]) for row in rows] == sorted(lead.pk for lead in leads)
    by_id = {int(row["id"]): row for row in rows}
    evil = by_id[leads[0].pk]
    assert evil["first_name"] == '\'=HYPERLINK("http://x")'
    assert evil["notes"] == "'@evil"
    assert evil["phone"] == leads[0].phone  # E.164 exported intact
    assert by_id[leads[1].pk]["notes"] == "-12.5"
    assert by_id[leads[1].pk]["agent_email"] == "asha@example.com"
    # Everything else survives the round trip unchanged.
    zara = by_id[leads[3].pk]
    db = Lead.objects.get(pk=leads[3].pk)
    assert (zara["first_name"], zara["email"], zara["notes"]) == (db.first_name, db.email, db.notes)
    assert zara["agent_email"] == ""
    assert zara["created_at"] == db.created_at.isoformat()


def test_api_export_applies_the_list_filters(auth, manager, agent, leads):
    client = auth(manager)
    text = b"".join(client.get(URL, {"agent": agent.pk}).streaming_content).decode()
    assert {int(r["id"]) for r in _rows(text)} == {leads[0].pk, leads[1].pk}
    text = b"".join(client.get(URL, {"status": "lost"}).streaming_content).decode()
    assert [int(r["id"]) for r in _rows(text)] == [leads[2].pk]
    text = b"".join(client.get(URL, {"search": "meera"}).streaming_content).decode()
    assert [int(r["id"]) for r in _rows(text)] == [leads[1].pk]
    assert client.get(URL, {"status": "nope"}).status_code == 400


def test_agent_exports_only_its_own_leads(auth, agent, leads):
    text = b"".join(auth(agent).get(URL).streaming_content).decode()
    assert {int(r["id"]) for r in _rows(text)} == {leads[0].pk, leads[1].pk}


def test_export_requires_login(api_client):
    assert api_client.get(URL).status_code == 401


def test_export_url_is_not_taken_for_a_lead_id(auth, manager, leads):
    assert auth(manager).get(URL).status_code == 200


def test_iter_rows_reads_in_chunks(make_lead, django_assert_num_queries):
    for _ in range(5):
        make_lead()
    with django_assert_num_queries(3):  # two chunks of 2, one of 1 (its size ends the loop)
        rows = list(iter_rows(Lead.objects.all(), chunk_size=2))
    assert len(rows) == 5


def test_command_csv_round_trip(tmp_path, leads, capsys):
    out = tmp_path / "leads.csv"
    call_command("export_leads", "--output", str(out))
    rows = _rows(out.read_text(encoding="utf-8"))
    assert len(rows) == 4
    assert rows[0]["first_name"] == '\'=HYPERLINK("http://x")'
    assert "Exported 4 leads" in capsys.readouterr().err


def test_command_filters(tmp_path, agent, leads):
    out = tmp_path / "a.csv"
    call_command("export_leads", "--agent", "ASHA@example.com", "--status", "new", "-o", str(out))
    assert {int(r["id"]) for r in _rows(out.read_text())} == {leads[0].pk, leads[1].pk}
    batch = ImportBatch.objects.create(file_name="b.csv", sha256="b" * 64)
    Lead.objects.filter(pk=leads[3].pk).update(batch=batch)
    call_command("export_leads", "--batch", str(batch.pk), "--output", str(out))
    assert [int(r["id"]) for r in _rows(out.read_text())] == [leads[3].pk]


def test_command_writes_csv_to_stdout(leads, capsys):
    call_command("export_leads", "--status", "lost")
    captured = capsys.readouterr()
    assert [r["first_name"] for r in _rows(captured.out)] == ["Dev"]
    assert "Exported 1 leads to stdout" in captured.err


def test_command_xlsx(tmp_path, leads):
    out = tmp_path / "leads.xlsx"
    call_command("export_leads", "--format", "xlsx", "--output", str(out))
    sheet = load_workbook(out, read_only=True).active
    rows = list(sheet.iter_rows(values_only=True))
    assert list(rows[0]) == HEADER
    assert len(rows) == 5
    first = dict(zip(HEADER, rows[1], strict=True))
    assert first["first_name"] == '\'=HYPERLINK("http://x")'  # text, not a formula
    assert first["phone"] == leads[0].phone
    assert first["id"] == leads[0].pk


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--agent", "nobody@example.com"], "No agent with email"),
        (["--batch", "999999"], "No import batch"),
        (["--format", "xlsx"], "needs --output"),
        (["--output", "/no/such/dir/x.csv"], "does not exist"),
    ],
)
def test_command_refuses_bad_input(db, args, message):
    with pytest.raises(CommandError, match=message):
        call_command("export_leads", *args)


def test_command_refuses_an_unknown_status(db):
    with pytest.raises(CommandError):
        call_command("export_leads", "--status", "nope")
