"""The imports console's upload page: refusals are shown on the form and write nothing."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from assignments.models import Assignment
from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db

UPLOAD = "/admin/leads/importbatch/upload/"
CSV = b"FirstName,Phone,Notes\nAsha,9876511111,hot\nRavi,+919876511112,\n"


@pytest.fixture
def console(client, manager, settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PHONE_DEFAULT_REGION = "IN"
    client.force_login(manager)
    return client


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
