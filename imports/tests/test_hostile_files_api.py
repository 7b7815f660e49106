"""The hostile files through the upload API: a 400 that says why, and nothing written.

No batch row, no lead, no assignment, no stored file: the limits are checked
by ``inspect`` before the upload is stored. The files are built by
``test_hostile_files``.
"""

import io
import json
import struct
from pathlib import Path

import pytest
from django.db import connection

from assignments.models import Assignment
from leads.models import ImportBatch, Lead

from .test_hostile_files import (
    calamine_guard,  # noqa: F401 - a fixture, used by name
    calamine_panic_xls,
    patched_xls,
    sparse_xlsx,
    wide_csv,
    xls_cells,
)

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


@pytest.fixture(autouse=True)
def _media(settings, tmp_path):
    settings.MEDIA_ROOT = tmp_path / "media"
    settings.PHONE_DEFAULT_REGION = "IN"
    settings.IMPORT_INLINE_MAX_BYTES = 64 * 1024 * 1024  # the inline pipeline (see conftest)


@pytest.fixture
def client(auth, manager):
    return auth(manager)


@pytest.fixture
def agents(make_agent):
    return [make_agent() for _ in range(2)]


def upload(client, data, name, **fields):
    upload = io.BytesIO(data)
    upload.name = name
    return client.post(URL, {"file": upload, **fields}, format="multipart")


def refused(response, code, settings):
    """The 400 in the error envelope, with nothing written; returns its message."""
    assert response.status_code == 400, response.content[:1000]
    body = response.json()
    assert set(body) == {"error"}
    assert set(body["error"]) == {"code", "message", "fields"}
    assert body["error"]["code"] == code, body
    assert not ImportBatch.objects.exists()
    assert not Lead.objects.exists()
    assert not Assignment.objects.exists()
    media = Path(settings.MEDIA_ROOT)
    assert not media.exists() or not any(path.is_file() for path in media.rglob("*"))
    return body["error"]["message"]


def people(count):
    return "".join(f"Person{n},98{n:08d},note {n}\n" for n in range(count))


# --- item 1: sparse spreadsheets -----------------------------------------------------


@pytest.mark.usefixtures("calamine_guard")
@pytest.mark.parametrize("preview", ["false", "true"])
def test_xlsx_with_a_cell_at_xfd1048576_is_400(client, agents, settings, preview):
    # The code as it was asked calamine for 512 GiB and the worker was aborted.
    response = upload(client, sparse_xlsx("XFD1048576"), "leads.xlsx", preview=preview)
    message = refused(response, "sheet_too_large", settings)
    assert message.startswith(
        "The sheet spans 1,048,576 rows x 16,384 columns (A1:XFD1048576) but holds only 5 cells; "
        "a sheet may span at most 2,000,000 cells."
    )


def test_xlsx_with_a_cell_at_zz100000_is_400(client, agents, settings):
    # The code as it was answered 201 after building a 2.3 GB grid.
    message = refused(
        upload(client, sparse_xlsx("ZZ100000"), "leads.xlsx"), "sheet_too_large", settings
    )
    assert "spans 100,000 rows x 702 columns (A1:ZZ100000) but holds only 5 cells" in message


def test_xls_with_a_cell_at_iv65536_is_400(client, agents, settings):
    # The code as it was answered 201 after building a 1.1 GB grid.
    data = xls_cells(
        {(0, 0): "FirstName", (0, 1): "Phone", (1, 0): "Asha", (1, 1): "9876543210"}
        | {(65535, 255): "x"}
    )
    message = refused(upload(client, data, "leads.xls"), "sheet_too_large", settings)
    assert "declares 65,536 rows x 256 columns but holds 5 cells" in message


@pytest.mark.usefixtures("calamine_guard")
def test_xls_that_declares_four_billion_rows_is_400(client, agents, settings):
    data = patched_xls(0x0200, struct.pack("<IIHH", 0, 0xFFFFFFFF, 0, 2))
    message = refused(upload(client, data, "leads.xls"), "sheet_too_large", settings)
    assert "declares 4,294,967,295 rows x 2 columns" in message


def test_xls_that_makes_calamine_panic_is_400_not_500(client, agents, settings):
    data = calamine_panic_xls()
    message = refused(
        upload(client, data, "leads.xls", preview="true"), "unreadable_file", settings
    )
    assert message.startswith("This XLS file cannot be read")
    # Committed at once, the batch records the failure and nothing else is written.
    response = upload(client, data, "leads.xls")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "unreadable_file"
    assert ImportBatch.objects.get().state == "failed"
    assert not Lead.objects.exists()


# --- item 3: very wide rows ------------------------------------------------------------


def test_csv_with_a_million_columns_is_400(client, agents, settings):
    message = refused(upload(client, wide_csv(1_000_000), "wide.csv"), "too_many_columns", settings)
    assert message.startswith("Line 1 has 1,000,000 columns; at most 200 columns are read.")


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_csv_with_a_million_columns_is_400_not_503_on_mariadb(client, agents, settings):
    """The attack as reported: its Lead.extra outgrew max_allowed_packet.

    The code as it was answered ``503 database_unavailable`` with Retry-After,
    telling the client to retry a request that could never succeed. (Without
    the test's own transaction, as in production: the failed statement breaks
    the connection, which the 503 handling then reports.)
    """
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB's max_allowed_packet")
    response = upload(client, wide_csv(1_000_000), "wide.csv")
    assert "Retry-After" not in response, (response.status_code, response.content[:300])
    refused(response, "too_many_columns", settings)


def test_extra_columns_over_the_limit_make_an_invalid_row(client, agents, settings):
    big = "y" * 17_000
    data = f"FirstName,Phone,Notes,Source\n{people(2)}Ravi,9811111111,x,{big}\n".encode()
    response = upload(client, data, "leads.csv")
    assert response.status_code == 201, response.json()
    body = response.json()
    assert (body["rows"], body["created"], body["invalid"]) == (3, 2, 1)
    assert body["errors"] == [
        {
            "line": 4,
            "column": "Source",
            "value": "y" * 200 + "…",
            "message": "The columns that are not lead fields take more than 16,384 bytes as "
            "JSON; at most 16,384 bytes are kept per lead. Shorten or remove them.",
        }
    ]
    assert Lead.objects.count() == 2
    assert not Lead.objects.filter(first_name="Ravi").exists()


@pytest.mark.mariadb
def test_leads_with_extra_at_the_limit_are_written_on_mariadb(client, agents):
    """Rows just under IMPORT_MAX_EXTRA_BYTES, many to a statement, fit MariaDB's packet."""
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB")
    value = "z" * 16_000
    rows = "".join(f"Person{n},98{n:08d},{value}\n" for n in range(400))
    response = upload(client, f"FirstName,Phone,Source\n{rows}".encode(), "leads.csv")
    assert response.status_code == 201, response.content[:500]
    assert (response.json()["created"], response.json()["invalid"]) == (400, 0)
    lead = Lead.objects.get(phone="+919800000399")
    assert lead.extra == {"Source": value}
    assert len(json.dumps(lead.extra, ensure_ascii=False).encode()) <= 16_384


# --- item 4: long fields --------------------------------------------------------------


@pytest.mark.parametrize("size", [200_000, 4_000_000])
def test_csv_field_over_the_limit_is_400_naming_line_and_limit(client, agents, settings, size):
    # The code as it was said "a quoted field is never closed".
    data = f"FirstName,Phone,Notes\n{people(3)}Ravi,9811111111,{'x' * size}\n".encode()
    message = refused(upload(client, data, "leads.csv"), "field_too_large", settings)
    assert message == (
        "Line 5: a field is longer than 131,072 characters, the most a CSV field may hold. "
        "Shorten it or remove it and upload again."
    )


def test_csv_field_over_the_limit_at_the_end_is_refused_before_any_row_is_written(
    client, agents, settings
):
    # The code as it was imported every row before it, then rolled back and kept a failed batch.
    data = f"FirstName,Phone,Notes\n{people(3000)}Late,9811111111,{'x' * 200_000}\n".encode()
    message = refused(upload(client, data, "leads.csv"), "field_too_large", settings)
    assert message.startswith("Line 3002: a field is longer than 131,072 characters")


def test_unclosed_quote_is_still_400_malformed_csv(client, agents):
    data = f'FirstName,Phone,Notes\n{people(3)}Ravi,9811111111,"open\n{people(20_000)}'.encode()
    response = upload(client, data, "leads.csv")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_csv"
    assert error["message"].startswith("Line 5: a quoted field is never closed (unclosed quote).")
    assert not Lead.objects.exists()


@pytest.mark.parametrize("length", ["ten", "-5", "1e3", "12 34", "\uff19"])  # \uff19: full-width 9
def test_a_content_length_that_is_not_a_number_is_a_400(client, agents, length):
    response = client.post(URL, {}, format="multipart", CONTENT_LENGTH=length)

    assert response.status_code == 400
    assert response.json()["error"] == {
        "code": "bad_request",
        "message": "The Content-Length header is not a number.",
        "fields": {},
    }
    assert not ImportBatch.objects.exists()
