"""Fixtures of the import tests: uploads are stored in a temporary media folder;
``agents`` are three agents to share the leads; ``manager_api`` is the API as a
manager. ``leads_csv`` and ``named`` make the files the tests upload."""

import io

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


@pytest.fixture
def manager_api(auth, manager):
    return auth(manager)


def leads_csv(count, start=0):
    """A CSV of ``count`` valid leads, phones numbered from ``start``."""
    rows = [f"Person{n},98{n:08d},note {n}" for n in range(start, start + count)]
    return ("FirstName,Phone,Notes\n" + "\n".join(rows) + "\n").encode()


def named(data, name="leads.csv"):
    """``data`` as an uploaded file called ``name``."""
    upload = io.BytesIO(data)
    upload.name = name
    return upload
