"""backup → wipe → restore on the engine the suite runs on (MariaDB or SQLite).

Transactional tests: mariadb-dump reads through its own session, so the data
must be committed, and a restore replaces the database wholesale.
"""

import io
import json
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.core.cache import cache
from django.core.files.base import ContentFile
from django.core.files.storage import storages
from django.core.management import CommandError, call_command
from django.db import connection

from accounts.audit import Action
from accounts.models import AuditLog, User
from accounts.tokens import issue_tokens
from agents.models import Agent
from leads.models import Lead
from ops import backups, dumps

pytestmark = pytest.mark.django_db(transaction=True)

on_mariadb = pytest.mark.skipif(
    connection.vendor != "mysql", reason="needs MariaDB/MySQL (DATABASE_URL=mysql://...)"
)


@pytest.fixture(autouse=True)
def media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    return settings.MEDIA_ROOT


@pytest.fixture
def out(tmp_path):
    return tmp_path / "backups"


@pytest.fixture
def desk(make_agent, make_lead, manager):
    """Two agents, a manager, 30 leads (20 owned), one uploaded list."""
    asha, ravi = make_agent(name="Asha"), make_agent(name="Ravi", weight=2)
    for n in range(30):
        owner = (asha, ravi, None)[n % 3]
        make_lead(agent=owner, first_name=f"Lead {n}", notes="it's a \\ 'quoted'\nnote ;)")
    storages["default"].save("imports/2026/11/list.csv", ContentFile(b"name,phone\nA,+9198\n"))
    return {"asha": asha, "ravi": ravi, "manager": manager}


def _archives(path):
    return sorted(p.name for p in Path(path).iterdir()) if Path(path).exists() else []


def _backup(out, *args):
    stdout = io.StringIO()
    call_command("backup", "--output", str(out), *args, stdout=stdout)
    return stdout.getvalue()


def _restore(path, *args):
    stdout = io.StringIO()
    call_command("restore", str(path), *args, stdout=stdout)
    return stdout.getvalue()


def _wipe(media):
    """Empty database (freshly migrated) and no uploaded files."""
    call_command("flush", interactive=False, verbosity=0)
    for path in sorted(Path(media).rglob("*"), reverse=True):
        path.unlink() if path.is_file() else path.rmdir()


def _owned_counts():
    return {a.email: a.leads.count() for a in Agent.objects.order_by("email")}


def test_backup_wipe_restore_round_trip(desk, out, media, api_client):
    _refresh, old_access = issue_tokens(desk["manager"])
    before_counts = dumps.MySQL().count_live(connection) if connection.vendor == "mysql" else None
    owned = _owned_counts()
    checksum = dumps.leads_checksum_live(connection)

    printed = _backup(out)
    (name,) = _archives(out)
    assert backups.ARCHIVE_NAME.match(name)
    assert f"Backup {name} written to {out}" in printed
    with tarfile.open(out / name) as tar:
        manifest = json.load(tar.extractfile("manifest.json"))
        assert set(tar.getnames()) == {"manifest.json", *manifest["members"]}
    assert manifest["engine"] == connection.vendor
    assert manifest["tables"]["leads_lead"] == 30
    assert manifest["tables"]["agents_agent"] == 2
    assert manifest["leads_checksum"] == checksum
    assert "0001_initial" in manifest["migrations"]["leads"]
    assert "media/imports/2026/11/list.csv" in manifest["members"]
    if before_counts is not None:
        assert manifest["tables"] == before_counts
    assert AuditLog.objects.filter(action=Action.BACKUP, target=name).exists()

    _wipe(media)
    assert not Lead.objects.exists() and not User.objects.exists()

    cache.set("numbers-of-the-replaced-data", 1)
    printed = _restore(out / name)

    assert Lead.objects.count() == 30
    assert cache.get("numbers-of-the-replaced-data") is None
    assert _owned_counts() == owned
    assert dumps.leads_checksum_live(connection) == checksum
    # The command prints the live counts it verified (before the restore's own
    # audit entry and token revocation were written): identical to the manifest.
    pairs = [line.split() for line in printed.splitlines()]
    rows = {p[0]: int(p[1]) for p in pairs if len(p) == 2 and p[1].isdigit()}
    assert rows == manifest["tables"]
    assert "match the manifest, leads checksum verified" in printed
    assert (media / "imports/2026/11/list.csv").read_bytes() == b"name,phone\nA,+9198\n"
    assert AuditLog.objects.filter(action=Action.RESTORE).exists()

    # Tokens issued before the restore are refused; a fresh login works.
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {old_access}")
    assert api_client.get("/api/v1/auth/me/").status_code == 401
    _refresh, new_access = issue_tokens(User.objects.get(email="manager@example.com"))
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {new_access}")
    assert api_client.get("/api/v1/auth/me/").status_code == 200


def test_restore_refuses_a_database_holding_data_without_force(desk, out, make_lead):
    _backup(out)
    (name,) = _archives(out)
    make_lead(first_name="Added after the backup")

    with pytest.raises(CommandError, match=r"already holds users, agents or leads.*--force"):
        _restore(out / name)
    assert Lead.objects.count() == 31  # untouched

    _restore(out / name, "--force")
    assert Lead.objects.count() == 30
    assert not Lead.objects.filter(first_name="Added after the backup").exists()


def _rewrite(archive, change):
    """Copy ``archive`` with ``change(name, bytes) -> bytes`` applied to each member."""
    with tarfile.open(archive) as tar:
        members = [(i.name, tar.extractfile(i).read()) for i in tar]
    tampered = archive.with_name("tampered.tar.gz")
    with tarfile.open(tampered, "w:gz") as tar:
        for name, data in members:
            data = change(name, data)
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    return tampered


def _edit_dump(name, data):
    if name == "database.sql":
        return data.replace(b"'Lead 1'", b"'Lead X'")
    if name == "database.sqlite3":  # flip bytes inside a data page
        return data[:-200] + bytes(b ^ 0xFF for b in data[-200:-100]) + data[-100:]
    return data


def _edit_manifest(name, data):
    if name != "manifest.json":
        return data
    manifest = json.loads(data)
    manifest["tables"]["leads_lead"] = 29
    return json.dumps(manifest).encode()


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (_edit_dump, "Checksum mismatch for database"),
        (_edit_manifest, "does not match the manifest"),
    ],
    ids=["dump-edited", "manifest-edited"],
)
def test_tampered_archive_is_refused_before_anything_is_touched(desk, out, change, message):
    _backup(out)
    (name,) = _archives(out)
    tampered = _rewrite(out / name, change)
    Lead.objects.filter(first_name="Lead 2").delete()

    with pytest.raises(CommandError, match=message):
        _restore(tampered, "--force")
    assert Lead.objects.count() == 29


def test_truncated_archive_is_refused(desk, out):
    _backup(out)
    (name,) = _archives(out)
    data = (out / name).read_bytes()
    (out / name).write_bytes(data[: len(data) // 2])
    with pytest.raises(CommandError, match="damaged"):
        _restore(out / name, "--force")
    assert Lead.objects.count() == 30


def test_keep_prunes_to_the_newest_archives(desk, out):
    _backup(out)
    first = _archives(out)
    _backup(out)
    printed = _backup(out, "--keep", "2")
    kept = _archives(out)
    assert len(kept) == 2 and first[0] not in kept
    assert f"Pruned {first[0]}" in printed and "pruned 1 old archives" in printed
    _backup(out, "--keep", "1")
    assert len(_archives(out)) == 1


@on_mariadb
def test_failing_dump_leaves_no_archive(desk, out):
    # A view over a dropped table: mariadb-dump stops with an error mid-dump.
    with connection.cursor() as cursor:
        cursor.execute("CREATE TABLE ops_doomed (id INT PRIMARY KEY)")
        cursor.execute("CREATE VIEW ops_broken AS SELECT id FROM ops_doomed")
        cursor.execute("DROP TABLE ops_doomed")
    try:
        with pytest.raises(CommandError, match="no archive written: mariadb-dump failed"):
            _backup(out)
    finally:
        with connection.cursor() as cursor:
            cursor.execute("DROP VIEW ops_broken")
    assert _archives(out) == []  # no archive, no partial file, no work directory


def test_interrupted_backup_leaves_no_archive(desk, out):
    _backup(out)
    existing = _archives(out)

    def interrupt(message):
        if message.startswith("  ") and "MB" in message:  # archive fully written, not renamed
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        backups.create_backup(output=str(out), progress=interrupt)
    assert _archives(out) == existing


def test_restore_of_a_missing_archive_exits_non_zero(tmp_path):
    env = {**os.environ, "DJANGO_DEBUG": "true"}
    proc = subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [sys.executable, "manage.py", "restore", str(tmp_path / "nope.tar.gz")],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )
    assert proc.returncode == 1
    assert "No backup archive at" in proc.stderr


def test_unwritable_destination_is_a_clear_error(desk, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("")
    with pytest.raises(CommandError, match="no archive written"):
        _backup(blocker)
    assert blocker.read_text() == ""


def test_negative_keep_is_refused(out):
    with pytest.raises(CommandError, match="--keep"):
        _backup(out, "--keep", "-1")
    assert _archives(out) == []


def test_a_member_outside_the_archive_root_is_refused(desk, out):
    _backup(out)
    (name,) = _archives(out)
    evil = out / "evil.tar.gz"
    with tarfile.open(out / name) as src, tarfile.open(evil, "w:gz") as dst:
        for info in src:
            dst.addfile(info, src.extractfile(info))
        info = tarfile.TarInfo("media/../../escaped.txt")
        info.size = 3
        dst.addfile(info, io.BytesIO(b"bad"))
    with pytest.raises(CommandError, match="Unexpected archive member"):
        _restore(evil, "--force")
    assert not (out.parent.parent / "escaped.txt").exists()
    assert Lead.objects.count() == 30


def test_restore_by_bare_name_from_the_backups_directory(desk, settings, out):
    settings.STORAGES = {
        **settings.STORAGES,
        "backups": {
            "BACKEND": "django.core.files.storage.FileSystemStorage",
            "OPTIONS": {"location": out},
        },
    }
    call_command("backup", stdout=io.StringIO())
    (name,) = _archives(out)
    Lead.objects.all().delete()
    _restore(name, "--force")
    assert Lead.objects.count() == 30


def test_the_checksummed_table_and_columns_are_the_lead_models():
    columns = {f.column for f in Lead._meta.concrete_fields}
    assert Lead._meta.db_table == dumps.LEADS_TABLE
    assert set(dumps.LEADS_COLUMNS) <= columns
