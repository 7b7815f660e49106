"""``manage.py import_leads`` as a process of its own: what it loads and starts.

Its start-up is part of every import from the console, so the process
imports only what the command uses (not the API, DRF and what DRF pulls in),
sets its collector for an import (only when it is the process's command), and
boots the phone workers' fork server while it checks the file, for a file big
enough to need the workers.
"""

import gc
import io
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.core.management import call_command

from imports.management.commands import import_leads
from imports.tests.test_batch_crash import _database_url
from leads.models import ImportBatch, Lead

ROWS = 40


def _manage(*args, **env):
    return subprocess.run(  # noqa: S603 - this interpreter, fixed argv
        [sys.executable, *args],
        cwd=django_settings.BASE_DIR,
        env={**os.environ, "CONN_MAX_AGE": "0", "LOG_LEVEL": "ERROR", **env},
        capture_output=True,
        text=True,
        timeout=180,
    )


@pytest.fixture
def collector():
    """This test process's collector, as it was before the test."""
    thresholds = gc.get_threshold()
    yield
    gc.unfreeze()
    gc.set_threshold(*thresholds)


def write_leads(tmp_path, count=ROWS):
    path = tmp_path / "leads.csv"
    rows = [f"Person{n},+91 98{n:08d}" for n in range(count)]
    path.write_text("Name,Mobile\n" + "\n".join(rows) + "\n", encoding="utf-8")
    return path


@pytest.mark.django_db(transaction=True)
def test_the_command_process_imports_without_loading_the_api(tmp_path):
    path = write_leads(tmp_path)

    # -X importtime lists every module the process imported, on stderr. Not
    # distributed: with no broker the assignment emails are rendered in this
    # process, and Django's template engine loads every app's template tags (DRF's too).
    result = _manage(
        "-X",
        "importtime",
        "manage.py",
        "import_leads",
        str(path),
        "--no-distribute",
        DATABASE_URL=_database_url(),
        PHONE_DEFAULT_REGION="IN",
    )

    assert result.returncode == 0, result.stderr[-3000:]
    batch = ImportBatch.objects.get()
    assert f"Batch #{batch.pk} committed." in result.stdout
    assert f"rows={ROWS} created={ROWS}" in result.stdout
    assert batch.state == ImportBatch.State.COMMITTED
    assert Lead.objects.filter(batch=batch).count() == ROWS
    imported = {
        line.rsplit("|", 1)[1].strip()
        for line in result.stderr.splitlines()
        if line.startswith("import time:")
    }
    assert "imports.services" in imported  # the listing is there...
    # ...without the API's serializers and schema generator (and requests,
    # pygments, which they import): the system checks' URLconf and the OpenAPI
    # extensions brought them in.
    api = {"rest_framework.serializers", "drf_spectacular.openapi", "requests", "pygments"}
    assert not api & imported
    if not django_settings.REDIS_URL:
        assert "redis" not in imported  # the logging filters did, with no Redis to use


@pytest.mark.django_db(transaction=True)
def test_the_process_collector_is_set_only_for_the_command_line(tmp_path, collector, capsys):
    before = gc.get_threshold()
    call_command("import_leads", str(write_leads(tmp_path)), stdout=io.StringIO())
    assert Lead.objects.count() == ROWS
    assert gc.get_threshold() == before  # a caller's process is left as it was

    # What manage.py calls: the start-up heap frozen, the import's thresholds.
    path = write_leads(tmp_path, ROWS + 1)
    import_leads.Command().run_from_argv(["manage.py", "import_leads", str(path), "--force"])

    assert "rows=41 created=1 updated=0 duplicates=40" in capsys.readouterr().out
    assert gc.get_threshold() == import_leads.GC_THRESHOLDS
    assert gc.get_freeze_count() > 0
    assert Lead.objects.count() == ROWS + 1


# Started in a child process of its own: the fork server is one per process,
# and this test process may have started it already.
SERVER = r"""
import os, sys, time
import django

django.setup()
from imports.normalize import start_worker_server

start_worker_server(int(sys.argv[1]))
pid = os.getpid()
children = []
for task in os.listdir(f"/proc/{pid}/task"):
    with open(f"/proc/{pid}/task/{task}/children") as listing:
        children += listing.read().split()
commands = []
for child in children:
    # The parent returns once the child's exec has begun; its command line is
    # empty until the kernel has finished setting up the new program.
    for _ in range(200):
        with open(f"/proc/{child}/cmdline", "rb") as cmdline:
            command = cmdline.read().decode().replace("\0", " ")
        if command:
            break
        time.sleep(0.05)
    commands.append(command)
print(sum("multiprocessing.forkserver" in command for command in commands))
"""


@pytest.mark.skipif(not os.path.exists("/proc/self/task"), reason="reads /proc (Linux)")
@pytest.mark.parametrize(
    ("size", "workers", "servers"),
    [
        (10_000 * 16, "2", "1"),  # IMPORT_PARALLEL_MIN_ROWS rows may fit: started
        (10_000 * 16 - 1, "2", "0"),  # too small for that many rows
        (10_000 * 16, "1", "0"),  # one worker: no pool, no server
    ],
)
def test_the_worker_server_boots_early_only_for_a_file_that_may_need_it(size, workers, servers):
    result = _manage(
        "-c", SERVER, str(size), IMPORT_PARALLEL_MIN_ROWS="10000", IMPORT_WORKERS=workers
    )

    assert result.returncode == 0, result.stderr[-3000:]
    assert result.stdout.split() == [servers]
