"""Imports through the queue (tasks in eager mode: in-process, at commit time).

The test transaction never commits, so queued work waits until a test runs the
``on_commit`` callbacks (``django_capture_on_commit_callbacks(execute=True)``):
that is the moment a worker would take the message.
"""

import io

import pytest
from celery import current_app
from django.core.management import call_command
from django.test import Client

from assignments.models import Assignment, RotationState
from imports import queueing, services
from imports.committing import claim_queued
from imports.tasks import run_batch
from imports.tests.conftest import leads_csv, named
from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"
ASYNC = {"HTTP_PREFER": "respond-async"}


@pytest.fixture(autouse=True)
def _small_inline_limit(settings):
    settings.IMPORT_INLINE_MAX_BYTES = 2048
    settings.IMPORT_CHUNK_ROWS = 50
    settings.IMPORT_PROGRESS_INTERVAL = 0


def upload(manager_api, data, headers=None, **fields):
    return manager_api.post(
        URL, {"file": named(data), **fields}, format="multipart", **(headers or {})
    )


def test_big_upload_answers_202_queued_with_location_then_commits(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, leads_csv(200))
    assert response.status_code == 202, response.json()
    body = response.json()
    assert body["state"] == "queued"
    assert body["progress"] == {"stage": "queued", "rows_done": 0, "rows_total": None, "percent": 0}
    assert response["Location"].endswith(f"/api/v1/imports/{body['id']}/")

    batch = manager_api.get(response["Location"]).json()
    assert batch["state"] == "committed"
    assert batch["progress"] == {
        "stage": "done",
        "rows_done": 200,
        "rows_total": 200,
        "percent": 100,
    }
    assert (batch["created"], batch["assigned"]) == (200, 200)
    assert Lead.objects.filter(batch_id=body["id"]).count() == 200
    assert Assignment.objects.filter(batch_id=body["id"], ended_at__isnull=True).count() == 200


def test_small_upload_is_inline_201_unless_the_client_prefers_async(
    manager_api, agents, django_capture_on_commit_callbacks
):
    inline = upload(manager_api, leads_csv(5))
    assert inline.status_code == 201
    assert inline.json()["state"] == "committed"
    assert "Location" not in inline

    with django_capture_on_commit_callbacks(execute=True):
        queued = upload(manager_api, leads_csv(5, start=100), headers=ASYNC)
    assert queued.status_code == 202
    assert queued.json()["state"] == "queued"
    assert queued["Preference-Applied"] == "respond-async"
    assert manager_api.get(queued["Location"]).json()["state"] == "committed"
    assert Lead.objects.count() == 10


def test_queued_preview_then_queued_commit_keeps_the_plan(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, leads_csv(120), preview="true")
    preview = manager_api.get(response["Location"]).json()
    assert preview["state"] == "preview"
    assert Lead.objects.count() == 0

    with django_capture_on_commit_callbacks(execute=True):
        commit = manager_api.post(f"{URL}{preview['id']}/commit/")
    assert commit.status_code == 202
    assert commit.json()["state"] == "queued"
    assert commit.json()["action"] == "commit"
    done = manager_api.get(commit["Location"]).json()
    assert done["state"] == "committed"
    assert done["per_agent"] == preview["per_agent"]
    assert Lead.objects.filter(batch_id=preview["id"]).count() == 120


def test_queued_undo_answers_202_and_removes_the_leads(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    with django_capture_on_commit_callbacks(execute=True):
        undo = manager_api.post(f"{URL}{batch_id}/undo/")
    assert undo.status_code == 202
    assert undo.json()["action"] == "undo"
    assert manager_api.get(undo["Location"]).json()["state"] == "undone"
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0


def test_cancel_a_queued_import_writes_nothing_and_the_message_then_does_nothing(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=False) as sent:
        batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    response = manager_api.post(f"{URL}{batch_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "cancelled"
    # The message arrives at a worker after all: nothing to do.
    for callback in sent:
        callback()
    assert ImportBatch.objects.get(pk=batch_id).state == "cancelled"
    assert Lead.objects.count() == 0
    # And the same file may be uploaded again (a cancelled batch is not live).
    assert upload(manager_api, leads_csv(100)).status_code == 202


def test_cancel_a_queued_commit_leaves_the_preview(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, leads_csv(100), preview="true").json()["id"]
    manager_api.post(f"{URL}{batch_id}/commit/", **ASYNC)
    response = manager_api.post(f"{URL}{batch_id}/cancel/")
    assert response.status_code == 200
    assert response.json()["state"] == "preview"
    assert Lead.objects.count() == 0


def test_cancel_a_running_import_stops_between_chunks_and_rolls_back(
    manager_api, agents, monkeypatch, django_capture_on_commit_callbacks
):
    cursor_before = list(RotationState.objects.values_list("pool", "last_agent_id"))
    seen = []
    real = queueing.Reporter.rows

    def cancel_after_the_first_chunk(self, rows_done, **kwargs):
        if rows_done and not seen:
            # A client polls and cancels while the worker is between chunks.
            seen.append(manager_api.get(f"{URL}{self.batch_id}/").json())
            seen.append(manager_api.post(f"{URL}{self.batch_id}/cancel/"))
        return real(self, rows_done, **kwargs)

    monkeypatch.setattr(queueing.Reporter, "rows", cancel_after_the_first_chunk)
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, leads_csv(300)).json()["id"]
    polled, cancel = seen
    assert polled["state"] == "processing"
    assert polled["progress"]["stage"] == "reading"
    assert cancel.status_code == 202
    batch = manager_api.get(f"{URL}{batch_id}/").json()
    assert batch["state"] == "cancelled", batch["message"]
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0
    assert list(RotationState.objects.values_list("pool", "last_agent_id")) == cursor_before


def test_progress_is_live_while_the_worker_reads(
    manager_api, agents, monkeypatch, django_capture_on_commit_callbacks
):
    polled = []
    real = queueing.Reporter.rows

    def poll(self, rows_done, **kwargs):
        result = real(self, rows_done, **kwargs)
        polled.append(manager_api.get(f"{URL}{self.batch_id}/").json()["progress"])
        return result

    monkeypatch.setattr(queueing.Reporter, "rows", poll)
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager_api, leads_csv(300))
    assert len(polled) >= 5
    done = [p["rows_done"] for p in polled]
    assert done == sorted(done) and done[0] > 0
    assert all(p["stage"] == "reading" and 0 <= p["percent"] < 100 for p in polled)
    assert all(p["rows_total"] and p["rows_total"] >= p["rows_done"] for p in polled)


def test_cancel_of_a_finished_batch_is_409_and_changes_nothing(manager_api, agents):
    batch_id = upload(manager_api, leads_csv(5)).json()["id"]
    response = manager_api.post(f"{URL}{batch_id}/cancel/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "batch_not_cancellable"
    assert ImportBatch.objects.get(pk=batch_id).state == "committed"


def test_agents_may_not_cancel(auth, agent, manager_api, django_capture_on_commit_callbacks):
    batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    assert auth(agent).post(f"{URL}{batch_id}/cancel/").status_code == 403
    assert ImportBatch.objects.get(pk=batch_id).state == "queued"


def test_same_file_while_queued_is_409_duplicate(manager_api, agents):
    first = upload(manager_api, leads_csv(100)).json()["id"]
    response = upload(manager_api, leads_csv(100))
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_file"
    assert ImportBatch.objects.count() == 1 and first


def test_bad_file_is_refused_in_the_request_not_queued(manager_api, agents):
    response = upload(manager_api, b"%PDF-1.4" + b"x" * 5000)
    assert response.status_code == 415
    assert ImportBatch.objects.count() == 0


def test_second_delivery_of_a_finished_batch_does_nothing(
    manager_api, agents, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    assert services.run_queued(batch_id=batch_id) is None
    assert Lead.objects.count() == 100
    assert Assignment.objects.count() == 100


def _die(claim):
    """The claiming worker vanishes: its named lock goes (MariaDB), its claim
    ages past the grace (SQLite)."""
    from imports.tests.test_batch_crash import as_if_the_grace_passed

    claim.release()
    as_if_the_grace_passed(claim.batch.pk)


def test_sweep_requeues_a_dead_workers_batch_and_it_finishes_once(
    manager_api, agents, django_capture_on_commit_callbacks
):
    batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    _die(claim_queued(batch_id))
    with django_capture_on_commit_callbacks(execute=True):
        result = services.sweep()
    assert result.requeued == [batch_id]
    batch = ImportBatch.objects.get(pk=batch_id)
    assert batch.state == "committed"
    assert batch.attempts == 2
    assert Lead.objects.count() == 100
    assert Assignment.objects.filter(ended_at__isnull=True).count() == 100


def test_a_batch_whose_workers_keep_dying_is_given_up_clearly(manager_api, agents, settings):
    settings.IMPORT_MAX_ATTEMPTS = 2
    batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    _die(claim_queued(batch_id))
    assert services.sweep().requeued == [batch_id]
    _die(claim_queued(batch_id))
    assert services.sweep().failed == [batch_id]
    batch = manager_api.get(f"{URL}{batch_id}/").json()
    assert batch["state"] == "failed"
    assert "stopped 2 times" in batch["message"]
    assert Lead.objects.count() == 0


def test_sweep_command_resends_long_queued_batches(manager_api, agents, settings):
    settings.IMPORT_REQUEUE_AFTER_SECONDS = 0
    batch_id = upload(manager_api, leads_csv(100)).json()["id"]
    out = io.StringIO()
    call_command("sweep_imports", stdout=out)
    assert f"resent: [{batch_id}]" in out.getvalue()


def test_import_leads_queue_prints_the_batch_id(
    agents, tmp_path, django_capture_on_commit_callbacks
):
    path = tmp_path / "leads.csv"
    path.write_bytes(leads_csv(100))
    out = io.StringIO()
    with django_capture_on_commit_callbacks(execute=True):
        call_command("import_leads", str(path), "--queue", stdout=out)
    batch = ImportBatch.objects.get()
    assert f"Batch #{batch.pk} queued" in out.getvalue()
    assert batch.source == "command"
    batch.refresh_from_db()
    assert batch.state == "committed"
    assert Lead.objects.count() == 100


def _metrics(settings):
    settings.METRICS_TOKEN = "t0ken"
    settings.METRICS_ALLOWED_NETWORKS = []
    return Client().get("/metrics", HTTP_AUTHORIZATION="Bearer t0ken").content.decode()


def test_metrics_count_task_run_time_and_failures_by_task(
    manager_api, agents, settings, monkeypatch, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        upload(manager_api, leads_csv(100))
    body = _metrics(settings)
    assert 'leadline_task_duration_seconds_count{task="imports.run_batch"}' in body

    def explode(**kwargs):
        raise RuntimeError("boom")

    monkeypatch.setattr(services, "run_queued", explode)
    before = _failures(body)
    # As a worker runs it (an eager run re-raises before the failure signal).
    run_batch.apply(kwargs={"batch_id": 1}, throw=False)
    assert _failures(_metrics(settings)) == before + 1


def _failures(body):
    for line in body.splitlines():
        if line.startswith('leadline_task_failures_total{task="imports.run_batch"}'):
            return float(line.split()[-1])
    return 0.0


@pytest.mark.mariadb
def test_metrics_show_the_queue_depth(manager_api, agents, settings):
    if not settings.REDIS_URL:
        pytest.skip("needs Redis as the broker")
    conf = current_app.conf
    # Read before the setting changes: the app's conf reads Django's settings live.
    eager, conf.task_always_eager = conf.task_always_eager, False
    settings.CELERY_TASK_ALWAYS_EAGER = False
    current_app.control.purge()
    try:
        from imports.tasks import sweep

        sweep.delay()
        sweep.delay()
        # Present and counted (a parallel test's workers may take messages meanwhile).
        lines = [x for x in _metrics(settings).splitlines() if x.startswith("leadline_queue_")]
        assert lines and lines[0].startswith('leadline_queue_depth{queue="celery"} ')
    finally:
        conf.task_always_eager = eager
        current_app.control.purge()


def test_a_stopping_worker_gives_the_batch_back_to_the_queue(
    manager_api, agents, monkeypatch, django_capture_on_commit_callbacks
):
    real = queueing.Reporter.rows

    def shutdown_after_the_first_chunk(self, rows_done, **kwargs):
        if rows_done:
            queueing.stop_between_chunks()  # what SIGTERM does to a worker
        return real(self, rows_done, **kwargs)

    monkeypatch.setattr(queueing.Reporter, "rows", shutdown_after_the_first_chunk)
    try:
        with django_capture_on_commit_callbacks(execute=False) as sent:
            batch_id = upload(manager_api, leads_csv(300)).json()["id"]
        with django_capture_on_commit_callbacks(execute=False) as resent:
            sent[0]()
    finally:
        queueing._stopping.clear()
    batch = ImportBatch.objects.get(pk=batch_id)
    assert (batch.state, batch.attempts) == ("queued", 0)
    assert "queued again" in batch.message
    assert Lead.objects.count() == 0
    monkeypatch.setattr(queueing.Reporter, "rows", real)
    with django_capture_on_commit_callbacks(execute=True):
        resent[0]()  # another worker takes it
    assert ImportBatch.objects.get(pk=batch_id).state == "committed"
    assert Lead.objects.count() == 300


def test_cancel_a_running_inline_commit_leaves_the_preview(
    manager_api, agents, settings, monkeypatch
):
    settings.IMPORT_INLINE_MAX_BYTES = 1024 * 1024
    batch_id = upload(manager_api, leads_csv(300), preview="true").json()["id"]
    real = queueing.Reporter.rows
    answers = []

    def cancel_once(self, rows_done, **kwargs):
        if rows_done and not answers:
            answers.append(manager_api.post(f"{URL}{self.batch_id}/cancel/"))
        return real(self, rows_done, **kwargs)

    monkeypatch.setattr(queueing.Reporter, "rows", cancel_once)
    response = manager_api.post(f"{URL}{batch_id}/commit/")
    assert answers[0].status_code == 202
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "import_cancelled"
    assert ImportBatch.objects.get(pk=batch_id).state == "preview"
    assert Lead.objects.count() == 0


def test_worker_logs_carry_the_batch_and_the_request_id(
    manager_api, agents, caplog, django_capture_on_commit_callbacks
):
    with (
        caplog.at_level("INFO", logger="imports.tasks"),
        django_capture_on_commit_callbacks(execute=True),
    ):
        response = manager_api.post(
            URL,
            {"file": named(leads_csv(100))},
            format="multipart",
            HTTP_X_REQUEST_ID="req-abc-123",
        )
    batch_id = response.json()["id"]
    done = [r for r in caplog.records if "task done" in r.getMessage()]
    assert done and done[0].batch_id == batch_id
    from common.logging import JsonFormatter

    line = JsonFormatter().format(done[0])
    assert '"request_id": "req-abc-123"' in line
    assert f'"batch_id": {batch_id}' in line


def test_a_queued_file_over_the_content_limits_ends_failed_saying_why(
    manager_api, agents, settings, django_capture_on_commit_callbacks
):
    settings.IMPORT_MAX_COLUMNS = 5
    wide = leads_csv(100) + b"Wide,9811111111,a,b,c,d,e,f,g\n"
    with django_capture_on_commit_callbacks(execute=True):
        response = upload(manager_api, wide)
    assert response.status_code == 202  # answered before the rows are read
    batch = manager_api.get(response["Location"]).json()
    assert batch["state"] == "failed"
    assert "columns" in batch["message"]
    assert Lead.objects.count() == 0


def test_a_zip_bomb_is_refused_in_the_request_even_when_queued(manager_api, agents, settings):
    import zipfile

    settings.IMPORT_XLSX_MAX_RATIO = 10
    data = io.BytesIO()
    with zipfile.ZipFile(data, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("[Content_Types].xml", "<Types/>")
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", "<a>" + "0" * 2_000_000 + "</a>")
    response = manager_api.post(
        URL, {"file": named(data.getvalue(), "bomb.xlsx")}, format="multipart", **ASYNC
    )
    assert response.status_code == 400, response.json()
    assert ImportBatch.objects.count() == 0
