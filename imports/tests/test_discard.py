"""Discarding a preview (``POST /api/v1/imports/{id}/discard/``): the batch ends
``cancelled``, its stored file is deleted, nothing else was or is written."""

import pytest

from accounts.models import AuditLog
from imports.tests.conftest import leads_csv, named
from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


def _preview(manager_api, data):
    response = manager_api.post(URL, {"file": named(data), "preview": "true"}, format="multipart")
    assert response.status_code == 201, response.content
    return ImportBatch.objects.get(pk=response.json()["id"])


def test_a_discarded_preview_is_cancelled_its_file_gone_and_the_file_can_come_again(
    manager_api, agents
):
    data = leads_csv(5)
    batch = _preview(manager_api, data)
    storage, name = batch.file.storage, batch.file.name
    assert storage.exists(name)

    response = manager_api.post(f"{URL}{batch.pk}/discard/")
    assert response.status_code == 200
    body = response.json()
    assert body["state"] == "cancelled"
    assert "discarded" in body["message"]
    batch.refresh_from_db()
    assert (batch.state, batch.file.name) == ("cancelled", "")
    assert not storage.exists(name)
    assert not Lead.objects.exists()
    assert AuditLog.objects.filter(action="import_discarded", target=f"batch:{batch.pk}").exists()
    # No longer a live batch of that file: no `force` needed.
    again = manager_api.post(URL, {"file": named(data)}, format="multipart")
    assert again.status_code == 201
    assert Lead.objects.count() == 5


@pytest.mark.parametrize("state", ["committed", "queued", "processing", "cancelled", "failed"])
def test_only_a_preview_can_be_discarded(manager_api, agents, state):
    batch = _preview(manager_api, leads_csv(3))
    ImportBatch.objects.filter(pk=batch.pk).update(state=state)
    response = manager_api.post(f"{URL}{batch.pk}/discard/")
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "batch_not_discardable"
    batch.refresh_from_db()
    assert batch.state == state
    assert batch.file.storage.exists(batch.file.name)


def test_a_committed_preview_is_not_discarded(manager_api, agents):
    batch = _preview(manager_api, leads_csv(3))
    assert manager_api.post(f"{URL}{batch.pk}/commit/").status_code == 200
    assert manager_api.post(f"{URL}{batch.pk}/discard/").status_code == 409
    assert Lead.objects.filter(batch=batch).count() == 3


def test_agents_may_not_discard(manager_api, agents, auth, agent):
    batch = _preview(manager_api, leads_csv(3))
    assert auth(agent).post(f"{URL}{batch.pk}/discard/").status_code == 403
    assert manager_api.post(f"{URL}999999/discard/").status_code == 404
    batch.refresh_from_db()
    assert batch.state == "preview"
