"""The admin upload of a big file: queued, followed by a live progress bar."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/leads/importbatch/upload/"


def leads_csv(count):
    rows = [f"Person{n},98{n:08d},note {n}" for n in range(count)]
    return ("FirstName,Phone,Notes\n" + "\n".join(rows) + "\n").encode()


@pytest.fixture(autouse=True)
def _small_inline_limit(settings):
    settings.IMPORT_INLINE_MAX_BYTES = 1024


def test_big_upload_shows_a_progress_bar_then_the_preview_then_commits_queued(
    console, agent, django_capture_on_commit_callbacks
):
    data = {"file": SimpleUploadedFile("big.csv", leads_csv(100), "text/csv"), "dedupe": "skip"}
    with django_capture_on_commit_callbacks(execute=False) as queued:
        response = console.post(UPLOAD, {**data, "distribute": "on"})
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/leads/importbatch/{batch.pk}/change/"

    page = console.get(response["Location"]).content.decode()
    assert 'id="import-progress-bar"' in page
    assert "imports/progress.js" in page
    assert f'data-url="/admin/leads/importbatch/{batch.pk}/progress.json"' in page
    assert "<script>" not in page  # CSP: no inline script
    progress = console.get(f"/admin/leads/importbatch/{batch.pk}/progress.json").json()
    assert progress["state"] == "queued"
    assert progress["progress"]["stage"] == "queued"

    for callback in queued:  # the worker takes it
        callback()
    progress = console.get(f"/admin/leads/importbatch/{batch.pk}/progress.json").json()
    assert progress["state"] == "preview"
    assert progress["progress"]["percent"] == 100
    page = console.get(response["Location"]).content.decode()
    assert 'id="import-progress-bar"' not in page
    assert 'id="commit-form"' in page

    with django_capture_on_commit_callbacks(execute=True):
        committed = console.post(f"/admin/leads/importbatch/{batch.pk}/commit/", follow=True)
    messages = [str(m) for m in get_messages(committed.wsgi_request)]
    assert any("the commit is queued" in m for m in messages)
    batch.refresh_from_db()
    assert batch.state == "committed"
    assert Lead.objects.count() == 100


def test_cancel_from_the_admin(console, agent):
    data = {"file": SimpleUploadedFile("big.csv", leads_csv(100), "text/csv"), "dedupe": "skip"}
    console.post(UPLOAD, data)
    batch = ImportBatch.objects.get()
    console.post(f"/admin/leads/importbatch/{batch.pk}/cancel/")
    batch.refresh_from_db()
    assert batch.state == "cancelled"


def test_agent_cannot_read_the_progress(client, agent, console):
    data = {"file": SimpleUploadedFile("big.csv", leads_csv(100), "text/csv"), "dedupe": "skip"}
    console.post(UPLOAD, data)
    batch = ImportBatch.objects.get()
    client.force_login(agent.user)
    response = client.get(f"/admin/leads/importbatch/{batch.pk}/progress.json")
    assert response.status_code in (302, 403)
