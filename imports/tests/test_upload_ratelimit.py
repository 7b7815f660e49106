"""The import upload is rate limited per user (RATELIMIT_UPLOAD)."""

import io

import pytest
from django.core.cache import caches
from django.test import override_settings

from leads.models import ImportBatch

pytestmark = pytest.mark.django_db(transaction=True)


@override_settings(RATELIMIT_UPLOAD="2/d")
def test_import_upload_is_rate_limited_per_user(auth, manager):
    caches["ratelimit"].clear()
    client = auth(manager)

    def upload():
        data = io.BytesIO(b"not a spreadsheet")
        data.name = "x.csv"
        return client.post("/api/v1/imports/", {"file": data}, format="multipart")

    # The first two reach the import (and fail it: the file has no columns).
    for _ in range(2):
        allowed = upload()
        assert allowed.status_code == 400
        assert allowed.json()["error"]["code"] == "missing_columns"
    assert ImportBatch.objects.filter(state=ImportBatch.State.FAILED).count() == 2
    refused = upload()
    assert refused.status_code == 429
    assert int(refused["Retry-After"]) >= 1
    assert refused.json()["error"]["code"] == "throttled"
    assert ImportBatch.objects.count() == 2  # the refused upload never reached the import
