"""``manage.py purge_import_files``: failed batches' files go after the retention, rows stay.

Rejected uploads used to be kept under ``media/imports/`` forever. Files refused
by their size or shape (zip bombs, sparse sheets) are not stored at all; those
that fail while being read (missing columns, a broken quote, strict mode) are,
until the purge.
"""

import datetime
import io
import zipfile
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.core.management import CommandError, call_command
from django.utils import timezone

from leads.models import ImportBatch

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PHONE_DEFAULT_REGION = "IN"
    settings.IMPORT_FAILED_FILE_RETENTION_DAYS = 30


@pytest.fixture
def client(auth, manager):
    return auth(manager)


def named(data, name):
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def zip_bomb():
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" * (20 * 1024 * 1024))
    return out.getvalue()


def upload(client, data, name, **fields):
    response = client.post(URL, {"file": named(data, name), **fields}, format="multipart")
    batch_id = response.json().get("id") or response.json()["error"].get("batch")
    if batch_id is None:  # a refusal without a batch: the newest one is it
        batch_id = ImportBatch.objects.order_by("-id").values_list("id", flat=True).first()
    return response, ImportBatch.objects.get(pk=batch_id)


def aged(batch, days):
    when = timezone.now() - datetime.timedelta(days=days)
    ImportBatch.objects.filter(pk=batch.pk).update(created_at=when)
    batch.refresh_from_db()
    return batch


def stored(tmp_path):
    files = (path for path in Path(tmp_path).rglob("*") if path.is_file())
    return sorted(str(path.relative_to(tmp_path)) for path in files)


def purge(*args):
    out = io.StringIO()
    call_command("purge_import_files", *args, stdout=out)
    return out.getvalue()


@pytest.fixture
def batches(client, agent, tmp_path):
    """An old file without the needed columns, an old malformed CSV, a recent failure,
    an old committed import and an old preview, each with its stored file."""
    wrong_response, wrong = upload(client, b"Foo,Bar\n1,2\n", "wrong.csv")
    assert (wrong_response.status_code, wrong.state) == (400, "failed")
    broken_response, broken = upload(client, b'FirstName,Phone\nAsha,"98765\n', "broken.csv")
    assert (broken_response.status_code, broken.state) == (400, "failed")
    strict_bad = b"FirstName,Phone\n=1,123\n"
    recent_response, recent = upload(client, strict_bad, "recent.csv", strict="true")
    assert (recent_response.status_code, recent.state) == (400, "failed")
    _, committed = upload(client, b"FirstName,Phone\nAsha,9876543210\n", "ok.csv")
    _, preview = upload(client, b"FirstName,Phone\nRavi,9876543211\n", "p.csv", preview="true")
    assert (committed.state, preview.state) == ("committed", "preview")
    every = {
        "wrong": aged(wrong, 31),
        "broken": aged(broken, 45),
        "recent": aged(recent, 29),
        "committed": aged(committed, 400),
        "preview": aged(preview, 400),
    }
    assert all(batch.file for batch in every.values())
    assert len(stored(tmp_path)) == 5
    return every


def test_purge_deletes_only_old_failed_files_and_keeps_the_rows(batches, tmp_path):
    before = {name: batch.file.name for name, batch in batches.items()}
    out = purge()
    assert stored(tmp_path) == sorted(before[name] for name in ("recent", "committed", "preview"))
    for name in ("wrong", "broken"):
        batch = ImportBatch.objects.get(pk=batches[name].pk)
        assert (batch.state, batch.file.name) == ("failed", "")
        assert batch.errors or batch.message  # the history stays
        assert f"Removed {before[name]} (batch #{batch.pk}, " in out
    assert "Removed 2 file(s)" in out
    for name in ("recent", "committed", "preview"):
        assert ImportBatch.objects.get(pk=batches[name].pk).file.name == before[name]
    # A second run has nothing left to do.
    assert "Removed 0 file(s), 0 bytes" in purge()


def test_dry_run_changes_nothing_and_says_what_it_would_remove(batches, tmp_path):
    files = stored(tmp_path)
    out = purge("--dry-run")
    assert f"Would remove {batches['wrong'].file.name} (batch #{batches['wrong'].pk}, " in out
    assert f"Would remove {batches['broken'].file.name} (batch #{batches['broken'].pk}, " in out
    assert "Would remove 2 file(s)" in out
    assert "Dry run: nothing was deleted or changed." in out
    assert stored(tmp_path) == files
    assert all(ImportBatch.objects.get(pk=b.pk).file.name == b.file.name for b in batches.values())


def test_days_option_and_setting(batches, tmp_path, settings):
    settings.IMPORT_FAILED_FILE_RETENTION_DAYS = 40
    purge()
    assert ImportBatch.objects.get(pk=batches["wrong"].pk).file  # 31 days: kept
    assert not ImportBatch.objects.get(pk=batches["broken"].pk).file  # 45 days: removed
    purge("--days", "0")
    left = {b.pk for b in ImportBatch.objects.exclude(file="")}
    assert left == {batches["committed"].pk, batches["preview"].pk}
    with pytest.raises(CommandError, match="days must be 0 or more"):
        purge("--days", "-1")


def test_a_batch_whose_process_died_is_marked_failed_and_its_file_purged(manager, tmp_path):
    dead = ImportBatch(
        file_name="dead.csv",
        sha256="d" * 64,
        created_by=manager,
        state=ImportBatch.State.PROCESSING,
        processing_token="0" * 32,
        # Long ago: no live process holds it (MariaDB: nobody holds its lock).
        processing_since=timezone.now() - datetime.timedelta(days=40),
    )
    dead.file.save("dead.csv", ContentFile(b"FirstName,Phone\n"), save=False)
    dead.save()
    aged(dead, 40)
    assert "Would mark batch #" in purge("--dry-run")
    assert ImportBatch.objects.get(pk=dead.pk).state == "processing"
    out = purge()
    assert f"Marked batch #{dead.pk} failed: its import process died." in out
    dead.refresh_from_db()
    assert (dead.state, dead.file.name) == ("failed", "")
    assert "stopped before it finished" in dead.message
    assert stored(tmp_path) == []


def test_a_zip_bomb_is_refused_before_anything_is_stored(client, tmp_path):
    response = client.post(URL, {"file": named(zip_bomb(), "bomb.xlsx")}, format="multipart")
    assert response.status_code == 400
    assert not ImportBatch.objects.exists()
    assert stored(tmp_path) == []
