"""``manage.py import_leads`` delegates to the pipeline and reports."""

import io
from collections import Counter

import openpyxl
import pytest
from django.core.management import CommandError, call_command

from assignments.models import Assignment
from imports.management.commands import import_leads
from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _region(settings):
    settings.PHONE_DEFAULT_REGION = "IN"


@pytest.fixture
def agents(make_agent):
    return [make_agent() for _ in range(4)]


def write_csv(tmp_path, count, *, extra=(), name="leads.csv"):
    rows = [f"Person{n};+91 98{n:08d};note" for n in range(count)]
    path = tmp_path / name
    path.write_text("Name;Mobile;Notes\n" + "\n".join([*rows, *extra]) + "\n", encoding="utf-8")
    return path


def run(*args, **kwargs):
    out = io.StringIO()
    call_command("import_leads", *map(str, args), stdout=out, **kwargs)
    return out.getvalue()


def test_imports_distributes_and_prints_a_summary(tmp_path, agents, manager):
    path = write_csv(tmp_path, 10, extra=["Bad;123;x"])
    output = run(path, "--actor", manager.email)
    batch = ImportBatch.objects.get()
    assert (batch.source, batch.state, batch.created, batch.invalid) == (
        "command",
        "committed",
        10,
        1,
    )
    assert batch.created_by == manager
    assert not batch.file
    assert f"Batch #{batch.pk} committed." in output
    assert "rows=11 created=10 updated=0 duplicates=0 invalid=1 assigned=10 unassigned=0" in output
    assert "line 12 Mobile: Not a valid phone number" in output
    assert "timings: read=" in output and "total=" in output
    assert "peak_rss_mb=" in output
    assert Assignment.objects.filter(reason="import").count() == 10


def test_dry_run_writes_nothing(tmp_path, agents):
    output = run(write_csv(tmp_path, 8), "--dry-run")
    assert "Dry run: nothing was written." in output
    assert "created=8" in output and "assigned=8" in output
    assert ImportBatch.objects.count() == 0
    assert Lead.objects.count() == 0


def test_no_distribute_and_strategy(tmp_path, agents):
    run(write_csv(tmp_path, 5), "--no-distribute")
    assert Lead.objects.filter(agent__isnull=True).count() == 5
    run(write_csv(tmp_path, 8, name="b.csv").rename(tmp_path / "c.csv"), "--strategy", "balanced")
    assert Lead.objects.count() == 8  # 5 duplicates of the first file, 3 new
    assert set(Assignment.objects.values_list("strategy", flat=True)) == {"balanced"}
    assert Lead.objects.filter(agent__isnull=False).count() == 3


def test_strict_refuses_a_file_with_a_bad_row(tmp_path, agents):
    with pytest.raises(CommandError, match="Strict mode: 1 of 4 rows are invalid"):
        run(write_csv(tmp_path, 3, extra=[";98765;x"]), "--strict")
    assert Lead.objects.count() == 0
    assert ImportBatch.objects.get().state == "failed"


def test_same_file_twice_needs_force(tmp_path, agents):
    path = write_csv(tmp_path, 3)
    run(path)
    first = ImportBatch.objects.get()
    with pytest.raises(CommandError, match=f"batch #{first.pk}") as refused:
        run(path)
    assert "--force" in str(refused.value) and "force=true" not in str(refused.value)
    with pytest.raises(CommandError, match="--force"):
        run(path, "--queue")
    assert "duplicates=3" in run(path, "--force")


def test_dedupe_update(tmp_path, agents):
    run(write_csv(tmp_path, 2))
    path = tmp_path / "update.csv"
    path.write_text("Name,Mobile\nRenamed,+919800000001\n")
    assert "updated=1" in run(path, "--dedupe", "update")
    assert Lead.objects.get(phone="+919800000001").first_name == "Renamed"


def test_streams_in_chunks_with_duplicates_across_chunks(tmp_path, agents, settings, monkeypatch):
    settings.IMPORT_CHUNK_ROWS = 50
    monkeypatch.setattr(import_leads, "MILESTONE", 100)
    path = write_csv(tmp_path, 230, extra=["Again;9800000003;x"])
    output = run(path, "--verbosity", "2")
    assert "rows=231 created=230 updated=0 duplicates=1" in output
    assert "rows=100 peak_rss_mb=" in output
    counts = Counter(Lead.objects.values_list("agent_id", flat=True))
    assert sorted(counts.values()) == [57, 57, 58, 58]
    assert set(counts) == {a.pk for a in agents}


def test_xlsx_file(tmp_path, agents):
    workbook = openpyxl.Workbook()
    workbook.active.append(["First Name", "Phone Number"])
    workbook.active.append(["Asha", 9876543210])
    path = tmp_path / "leads.xlsx"
    workbook.save(path)
    assert "created=1" in run(path)


def test_missing_file_and_unknown_actor(tmp_path):
    with pytest.raises(CommandError, match="No such file"):
        run(tmp_path / "nope.csv")
    with pytest.raises(CommandError, match="No user"):
        run(tmp_path / "nope.csv", "--actor", "ghost@example.com")


@pytest.mark.parametrize("queue", [[], ["--queue"]])
def test_a_folder_is_refused_with_a_message_not_a_traceback(tmp_path, queue):
    with pytest.raises(CommandError, match=r"Cannot read .*: Is a directory"):
        run(tmp_path, *queue)
    assert not ImportBatch.objects.exists()
