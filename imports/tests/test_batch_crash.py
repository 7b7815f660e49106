"""A process that dies mid-import leaves a batch that reads ``failed`` and blocks nothing.

The attack: a gunicorn worker was killed (OOM killer) in the middle of an
import; its batch stayed ``preview``, so the same file was refused as "seen in
batch #39 (preview)" and committing #39 killed a second worker. Here a real
child process runs the import through the service, stops inside it (a hook
that waits once the first chunk of leads is written, or read for a preview)
and is killed with SIGKILL; then the same file is uploaded again through the
API.
"""

import datetime
import hashlib
import io
import os
import signal
import subprocess
import sys
import threading
import time
from urllib.parse import quote

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command
from django.db import connection
from django.utils import timezone

from accounts.models import AuditLog
from assignments.models import Assignment
from leads.models import ImportBatch, Lead, LeadActivity

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/imports/"
ROWS = 30
CHUNK = 10

# The child: import the file with a hook that announces itself and then waits
# to be killed, inside the import (the commit's transaction is open, the first
# chunk's leads written; or, for a preview, the first chunk read).
CHILD = r"""
import sys, time
import django

django.setup()
from django.db import connection
from accounts.models import User
from imports import services, writers
from leads.models import ImportBatch

mode, path, email = sys.argv[1:4]
target = "existing_leads" if mode == "preview" else "insert_leads"
real = getattr(writers, target)

def stop_here(*args, **kwargs):
    result = real(*args, **kwargs)
    with connection.cursor() as cursor:
        cursor.execute("SELECT CONNECTION_ID()" if connection.vendor == "mysql" else "SELECT 0")
        print("STOPPED", cursor.fetchone()[0], flush=True)
    time.sleep(600)
    return result

setattr(writers, target, stop_here)
actor = User.objects.get(email=email)
if mode == "commit":
    services.commit_batch(batch=ImportBatch.objects.get(pk=int(path)), actor=actor)
else:
    with open(path, "rb") as upload:
        services.import_file(
            file=upload, file_name="leads.csv", actor=actor, preview=mode == "preview"
        )
print("FINISHED", flush=True)
"""


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PHONE_DEFAULT_REGION = "IN"


@pytest.fixture
def client(auth, manager):
    return auth(manager)


def leads_csv(count=ROWS):
    rows = [f"Person{n},98{n:08d},note {n}" for n in range(count)]
    return ("FirstName,Phone,Notes\n" + "\n".join(rows) + "\n").encode()


def named(data, name="leads.csv"):
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def _database_url():
    db = connection.settings_dict  # NAME is the test database by now
    if connection.vendor == "sqlite":
        return f"sqlite:///{db['NAME']}"
    auth = quote(db["USER"] or "root", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"mysql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


def run_and_kill(mode, arg, email, media_root):
    """Start the child, wait until it stops inside the import, SIGKILL it.

    Returns the child's MariaDB connection id (0 on SQLite).
    """
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(media_root),
        "IMPORT_CHUNK_ROWS": str(CHUNK),
        "CONN_MAX_AGE": "0",
        "LOG_LEVEL": "ERROR",
    }
    child = subprocess.Popen(  # noqa: S603 - this interpreter, a fixed script
        [sys.executable, "-c", CHILD, mode, str(arg), email],
        cwd=django_settings.BASE_DIR,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    watchdog = threading.Timer(180, child.kill)  # never hang the suite
    watchdog.start()
    try:
        line = child.stdout.readline()
        assert line.startswith("STOPPED"), (line, child.stderr.read())
        os.kill(child.pid, signal.SIGKILL)
        assert child.wait(timeout=60) == -signal.SIGKILL
    finally:
        watchdog.cancel()
        child.stdout.close()
        child.stderr.close()
    return int(line.split()[1])


def wait_until_the_server_dropped(connection_id):
    """MariaDB rolls the dead connection's transaction back when it sees the
    socket close; wait for that (synchronisation, not a timing assertion)."""
    if connection.vendor != "mysql":
        return
    deadline = time.monotonic() + 60
    with connection.cursor() as cursor:
        while time.monotonic() < deadline:
            cursor.execute(
                "SELECT COUNT(*) FROM information_schema.PROCESSLIST WHERE ID = %s",
                [connection_id],
            )
            if cursor.fetchone()[0] == 0:
                return
            time.sleep(0.05)
    raise AssertionError(f"MariaDB kept connection {connection_id} of the killed child")


def as_if_the_grace_passed(batch_id):
    """SQLite has no named locks: a ``processing`` batch is taken for dead once
    it has been claimed for longer than the grace (MariaDB knows at once)."""
    if connection.vendor == "mysql":
        return
    from imports.committing import SQLITE_CLAIM_GRACE

    earlier = timezone.now() - SQLITE_CLAIM_GRACE - datetime.timedelta(seconds=1)
    ImportBatch.objects.filter(pk=batch_id).update(processing_since=earlier)


def assert_dead_batch_failed(batch_id):
    dead = ImportBatch.objects.get(pk=batch_id)
    assert dead.state == ImportBatch.State.FAILED, (dead.state, dead.message)
    assert "stopped before it finished" in dead.message
    assert "nothing of it was written" in dead.message
    assert not Lead.objects.filter(batch_id=batch_id).exists()


@pytest.mark.parametrize("mode", ["upload", "preview"])
def test_reupload_after_the_worker_was_killed_mid_import(
    client, agents, manager, settings, tmp_path, mode
):
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv())
    child_connection = run_and_kill(mode, path, manager.email, settings.MEDIA_ROOT)
    wait_until_the_server_dropped(child_connection)

    # The dead import wrote nothing: its transaction died with it.
    assert not Lead.objects.exists()
    assert not Assignment.objects.exists()
    assert not LeadActivity.objects.exists()
    dead = ImportBatch.objects.get()
    # Never a real preview or import: it is recognisable as unfinished.
    assert dead.state == "processing"
    as_if_the_grace_passed(dead.pk)

    response = client.post(URL, {"file": named(leads_csv())}, format="multipart")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["state"], body["created"], body["assigned"]) == ("committed", ROWS, ROWS)
    assert Lead.objects.filter(batch_id=body["id"]).count() == ROWS
    assert_dead_batch_failed(dead.pk)
    # The dead batch keeps its stored file (for the purge) and never commits.
    commit = client.post(f"{URL}{dead.pk}/commit/")
    assert commit.status_code == 409
    assert commit.json()["error"]["code"] == "batch_not_in_preview"
    assert Lead.objects.count() == ROWS


def test_commit_killed_mid_way_leaves_a_failed_batch_and_a_free_file(
    client, agents, manager, settings
):
    preview = client.post(URL, {"file": named(leads_csv()), "preview": "true"}, format="multipart")
    assert preview.status_code == 201, preview.json()
    batch_id = preview.json()["id"]
    child_connection = run_and_kill("commit", batch_id, manager.email, settings.MEDIA_ROOT)
    wait_until_the_server_dropped(child_connection)
    assert not Lead.objects.exists()
    assert ImportBatch.objects.get(pk=batch_id).state == "processing"
    as_if_the_grace_passed(batch_id)

    # Committing the dead batch again is refused (it killed one worker already) ...
    again = client.post(f"{URL}{batch_id}/commit/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "batch_not_in_preview"
    assert_dead_batch_failed(batch_id)
    assert not AuditLog.objects.filter(action="import_committed").exists()
    # ... and the same file uploads again without force.
    response = client.post(URL, {"file": named(leads_csv())}, format="multipart")
    assert response.status_code == 201, response.json()
    assert Lead.objects.filter(batch_id=response.json()["id"]).count() == ROWS


def test_import_leads_passes_over_a_dead_batch_of_the_same_file(agents, manager, tmp_path):
    """A batch left ``processing`` by a dead process (no process holds it; on
    SQLite claimed long ago) blocks neither a dry run nor the import."""
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv())
    dead = ImportBatch.objects.create(
        file_name="leads.csv",
        sha256=hashlib.sha256(leads_csv()).hexdigest(),
        state=ImportBatch.State.PROCESSING,
        processing_token="0" * 32,
        processing_since=timezone.now() - datetime.timedelta(minutes=5),
    )
    out = io.StringIO()
    call_command("import_leads", str(path), "--dry-run", stdout=out)
    assert "Dry run: nothing was written." in out.getvalue()
    assert ImportBatch.objects.get(pk=dead.pk).state == "processing"  # a dry run marks nothing

    call_command("import_leads", str(path), stdout=out)
    batch = ImportBatch.objects.exclude(pk=dead.pk).get()
    assert f"Batch #{batch.pk} committed." in out.getvalue()
    assert Lead.objects.filter(batch=batch).count() == ROWS
    assert_dead_batch_failed(dead.pk)


def test_reading_a_dead_batch_shows_it_failed(client, agents, manager, settings, tmp_path):
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv())
    wait_until_the_server_dropped(run_and_kill("upload", path, manager.email, settings.MEDIA_ROOT))
    dead = ImportBatch.objects.get()
    as_if_the_grace_passed(dead.pk)

    response = client.get(f"{URL}{dead.pk}/")
    assert response.status_code == 200
    assert response.json()["state"] == "failed"
    assert "stopped before it finished" in response.json()["message"]
    assert_dead_batch_failed(dead.pk)
