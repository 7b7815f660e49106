"""The imports console's upload page: refusals are shown on the form and write nothing."""

import pytest
from django.contrib.messages import get_messages
from django.core.files.uploadedfile import SimpleUploadedFile

from assignments.models import Assignment
from leads.models import ImportBatch, Lead, LeadStatus
from leads.services import lead_update

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/leads/importbatch/upload/"
CSV = b"FirstName,Phone,Notes\nAsha,9876511111,hot\nRavi,+919876511112,\n"


def _messages(response):
    return [str(m) for m in get_messages(response.wsgi_request)]


def _act(console, action, objects, *, url):
    data = {"action": action, "_selected_action": [obj.pk for obj in objects]}
    return console.post(url, data, follow=True)


def upload(console, content=CSV):
    data = {"file": SimpleUploadedFile("june.csv", content, "text/csv"), "dedupe": "skip"}
    return console.post(UPLOAD, {**data, "distribute": "on"})


def test_upload_one_byte_over_the_limit_shows_the_error_and_writes_nothing(
    console, agent, settings, tmp_path
):
    settings.MAX_UPLOAD_SIZE = len(CSV) - 1
    response = upload(console)
    assert response.status_code == 200  # the form again, with the error
    body = response.content.decode()
    assert f"The file is {len(CSV)} bytes; uploads are limited to {len(CSV) - 1} bytes" in body
    assert not ImportBatch.objects.exists()
    assert not Lead.objects.exists()
    assert not Assignment.objects.exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # no stored file


def test_upload_at_the_limit_goes_to_the_preview(console, agent, settings):
    settings.MAX_UPLOAD_SIZE = len(CSV)
    response = upload(console)
    batch = ImportBatch.objects.get()
    assert response.status_code == 302
    assert response["Location"] == f"/admin/leads/importbatch/{batch.pk}/preview/"
    assert (batch.state, batch.created) == (ImportBatch.State.PREVIEW, 2)
    assert not Lead.objects.exists()


# --- Imports: upload → preview → commit, batch page, error report, undo ---------

CSV_FILE = (
    "FirstName,Phone,Notes\n"
    "Asha,098765 11111,hot\n"
    "Ravi,+919876511112,\n"
    "Dup,9876511111,same phone as line 2\n"
    ",9876511113,no name\n"
    "Bad,12,bad phone\n"
    "Meera,9876511114,\n"
)


def _upload(console, content=CSV_FILE, name="june.csv", **fields):
    data = {"file": SimpleUploadedFile(name, content.encode(), "text/csv"), "dedupe": "skip"}
    data.update({"distribute": "on", **fields})
    return console.post(UPLOAD, data)


def test_upload_page_renders(console):
    page = console.get(UPLOAD)
    assert page.status_code == 200
    assert b'type="file"' in page.content
    assert console.get("/admin/leads/importbatch/add/")["Location"] == UPLOAD


def test_upload_preview_commit_flow(console, agent, other_agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    response = _upload(console)
    assert response.status_code == 302
    batch = ImportBatch.objects.get()
    assert response["Location"] == f"/admin/leads/importbatch/{batch.pk}/preview/"
    assert batch.state == ImportBatch.State.PREVIEW
    assert not Lead.objects.exists()  # a preview writes no leads

    preview = console.get(response["Location"])
    body = preview.content.decode()
    assert preview.status_code == 200
    assert "<strong>6</strong> rows read" in body
    assert "Asha Agent" in body and "Ravi Agent" in body  # the per-agent plan
    assert "line 2" in body  # the duplicate
    assert 'id="import-errors"' in body and 'id="commit-form"' in body

    errors = console.get(f"/admin/leads/importbatch/{batch.pk}/errors.csv")
    assert errors["Content-Type"].startswith("text/csv")
    assert len(errors.content.decode().strip().splitlines()) == 1 + batch.invalid

    committed = console.post(f"/admin/leads/importbatch/{batch.pk}/commit/", follow=True)
    assert any("committed: 3 leads created" in m for m in _messages(committed))
    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.COMMITTED
    assert Lead.objects.filter(batch=batch).count() == 3
    assert (
        Lead.objects.filter(agent=agent).count() + Lead.objects.filter(agent=other_agent).count()
        == 3
    )
    page = console.get(f"/admin/leads/importbatch/{batch.pk}/change/")
    assert b'id="undo-button"' in page.content
    assert b'name="_save"' not in page.content


def test_upload_refuses_the_same_file_twice(console, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _upload(console)
    again = _upload(console)
    assert again.status_code == 200
    assert "already imported as batch" in again.content.decode()
    assert ImportBatch.objects.count() == 1


def test_commit_twice_is_an_error_message(console, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _upload(console)
    batch = ImportBatch.objects.get()
    console.post(f"/admin/leads/importbatch/{batch.pk}/commit/")
    again = console.post(f"/admin/leads/importbatch/{batch.pk}/commit/", follow=True)
    assert any("only a preview can be committed" in m for m in _messages(again))
    assert console.get(f"/admin/leads/importbatch/{batch.pk}/commit/").status_code == 405


def test_undo_import_keeps_worked_leads(console, agent, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _upload(console)
    batch = ImportBatch.objects.get()
    console.post(f"/admin/leads/importbatch/{batch.pk}/commit/")
    worked = Lead.objects.filter(batch=batch).first()
    lead_update(lead=worked, actor=manager, status=LeadStatus.CONTACTED)
    response = console.post(f"/admin/leads/importbatch/{batch.pk}/undo/", follow=True)
    assert any("2 leads removed, 1 already worked and kept" in m for m in _messages(response))
    assert list(Lead.objects.filter(batch=batch)) == [worked]
    batch.refresh_from_db()
    assert batch.state == ImportBatch.State.UNDONE


def test_undo_selected_action(console, agent, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    _upload(console)
    batch = ImportBatch.objects.get()
    console.post(f"/admin/leads/importbatch/{batch.pk}/commit/")
    response = _act(console, "undo_selected", [batch], url="/admin/leads/importbatch/")
    assert any("3 leads removed" in m for m in _messages(response))
    assert not Lead.objects.exists()


def test_agent_cannot_reach_the_import_pages(client, agent):
    client.force_login(agent.user)
    response = client.get(UPLOAD)
    assert response.status_code == 302 and response["Location"].startswith("/admin/login/")
