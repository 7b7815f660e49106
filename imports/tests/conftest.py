"""Fixtures of the import tests: uploads are stored in a temporary media folder;
``agents`` are three agents to share the leads."""

import pytest


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path
    settings.PHONE_DEFAULT_REGION = "IN"
    # These tests are about the inline pipeline: files of any size stay in the
    # request (201/200); test_queue.py sets its own threshold.
    settings.IMPORT_INLINE_MAX_BYTES = 64 * 1024 * 1024


@pytest.fixture
def agents(make_agent):
    return [make_agent() for _ in range(3)]
