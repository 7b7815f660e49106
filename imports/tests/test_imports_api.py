"""The import API: status codes, bodies, rows written, roles."""

import csv
import io
import re
import zipfile
from collections import Counter

import openpyxl
import pytest
import xlwt

from assignments.models import Assignment
from leads.models import ImportBatch, Lead, LeadStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/imports/"


@pytest.fixture
def client(auth, manager):
    return auth(manager)


def csv_file(rows, name="leads.csv", header="FirstName,Phone,Notes"):
    data = (header + "\n" + "\n".join(rows) + "\n").encode()
    return named(data, name)


def named(data, name):
    upload = io.BytesIO(data)
    upload.name = name
    return upload


def people(count, start=0):
    return [f"Person{n},98{n:08d},note {n}" for n in range(start, start + count)]


def post(client, upload, **fields):
    return client.post(URL, {"file": upload, **fields}, format="multipart")


def test_upload_imports_and_answers_the_batch(client, agents):
    response = post(client, csv_file([*people(7), ",12345,bad"]))
    assert response.status_code == 201, response.json()
    body = response.json()
    assert body["state"] == "committed"
    assert body["file_name"] == "leads.csv"
    assert {k: body[k] for k in ("rows", "created", "updated", "duplicates", "invalid")} == {
        "rows": 8,
        "created": 7,
        "updated": 0,
        "duplicates": 0,
        "invalid": 1,
    }
    assert (body["assigned"], body["unassigned"]) == (7, 0)
    assert body["per_agent"] == {str(agents[0].pk): 3, str(agents[1].pk): 2, str(agents[2].pk): 2}
    assert body["errors"] == [
        {"line": 9, "column": "FirstName", "value": "", "message": "First name is required."},
        {
            "line": 9,
            "column": "Phone",
            "value": "12345",
            "message": "Not a valid phone number for region IN.",
        },
    ]
    assert "total" in body["timings"]
    assert Lead.objects.filter(batch_id=body["id"]).count() == 7
    assert Assignment.objects.count() == 7


def test_round_robin_remainder_rotates_across_uploads(client, make_agent):
    """README: three uploads of 23 leads to 5 agents leave every agent with 13 or 14."""
    five = [make_agent() for _ in range(5)]

    def counts():
        held = Counter(Lead.objects.values_list("agent_id", flat=True))
        return [held[agent.pk] for agent in five]

    for upload in range(3):
        rows = people(23, start=upload * 100)
        response = post(client, csv_file(rows, name=f"upload{upload}.csv"), strategy="round_robin")
        assert response.status_code == 201, response.json()
        assert (response.json()["created"], response.json()["assigned"]) == (23, 23)
        if upload == 0:
            assert sorted(counts(), reverse=True) == [5, 5, 5, 4, 4]
    assert all(count in (13, 14) for count in counts()), counts()
    assert sum(counts()) == Lead.objects.count() == 69
    assert not Lead.objects.filter(agent__isnull=True).exists()


def test_utf16_tab_separated_upload(client, agents):
    text = "First Name\tMobile\r\nJosé\t+91 98765 43210\r\n"
    response = post(client, named(b"\xff\xfe" + text.encode("utf-16-le"), "unicode.txt"))
    assert response.status_code == 201, response.json()
    assert Lead.objects.get().first_name == "José"


def test_preview_then_commit(client, agents):
    response = post(client, csv_file(people(4)), preview="true", strategy="balanced")
    assert response.status_code == 201
    body = response.json()
    assert (body["state"], body["created"], body["assigned"]) == ("preview", 4, 4)
    assert sum(body["per_agent"].values()) == 4
    assert Lead.objects.count() == 0
    assert Assignment.objects.count() == 0

    committed = client.post(f"{URL}{body['id']}/commit/")
    assert committed.status_code == 200
    assert committed.json()["state"] == "committed"
    assert Lead.objects.count() == 4
    assert set(Assignment.objects.values_list("strategy", flat=True)) == {"balanced"}

    again = client.post(f"{URL}{body['id']}/commit/")
    assert again.status_code == 409
    assert again.json()["error"]["code"] == "batch_not_in_preview"


@pytest.mark.parametrize("headers", [{}, {"HTTP_PREFER": "respond-async"}])
def test_commit_keeps_the_previewed_plan_and_says_so_when_agents_changed(
    client, agents, make_agent, headers, django_capture_on_commit_callbacks
):
    first = post(client, csv_file(people(7)), preview="true").json()
    with django_capture_on_commit_callbacks(execute=True):
        kept = client.post(f"{URL}{first['id']}/commit/", **headers)
    assert kept.status_code == (202 if headers else 200)
    kept = client.get(f"{URL}{first['id']}/").json()
    assert (kept["state"], kept["per_agent"], kept["message"]) == (
        "committed",
        first["per_agent"],
        "",
    )

    second = post(client, csv_file(people(7, start=100)), preview="true").json()
    newcomer = make_agent()  # joins between the preview and its commit
    with django_capture_on_commit_callbacks(execute=True):
        client.post(f"{URL}{second['id']}/commit/", **headers)
    moved = client.get(f"{URL}{second['id']}/").json()
    assert moved["state"] == "committed"
    assert moved["per_agent"] != second["per_agent"]
    assert moved["per_agent"][str(newcomer.pk)] > 0
    assert moved["message"].startswith("Assigned differently from the preview")
    assert f"agent #{newcomer.pk}: 0 → {moved['per_agent'][str(newcomer.pk)]}" in moved["message"]


@pytest.mark.parametrize(("value", "state"), [("1", "preview"), ("0", "committed")])
def test_boolean_fields_accept_one_and_zero(client, agents, value, state):
    response = post(client, csv_file(people(1)), preview=value)
    assert response.status_code == 201
    assert response.json()["state"] == state


def test_distribute_false_leaves_leads_unassigned(client, agents):
    response = post(client, csv_file(people(2)), distribute="false")
    assert response.status_code == 201
    assert response.json()["assigned"] == 0
    assert Lead.objects.filter(agent__isnull=True).count() == 2


def test_with_no_eligible_agent_preview_and_commit_count_the_leads_unassigned(client, make_agent):
    make_agent(accepts_leads=False)
    preview = post(client, csv_file(people(3)), preview="true").json()
    assert (preview["created"], preview["assigned"], preview["unassigned"]) == (3, 0, 3)
    committed = client.post(f"{URL}{preview['id']}/commit/").json()
    assert (committed["created"], committed["assigned"], committed["unassigned"]) == (3, 0, 3)
    direct = post(client, csv_file(people(2, start=10), name="other.csv")).json()
    assert (direct["created"], direct["assigned"], direct["unassigned"]) == (2, 0, 2)
    assert Lead.objects.filter(agent__isnull=True).count() == 5


@pytest.mark.parametrize(
    ("field", "value"),
    [("preview", "maybe"), ("distribute", "2"), ("strict", "yes please"), ("force", "nah")],
)
def test_garbage_booleans_are_refused(client, agents, field, value):
    response = post(client, csv_file(people(1)), **{field: value})
    assert response.status_code == 400
    body = response.json()["error"]
    assert body["code"] == "validation_error"
    assert field in body["fields"]
    assert ImportBatch.objects.count() == 0


def test_bad_strategy_and_dedupe_are_refused(client, agents):
    response = post(client, csv_file(people(1)), strategy="random", dedupe="merge")
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"strategy", "dedupe"}


def test_missing_file_is_refused(client):
    response = client.post(URL, {"preview": "true"}, format="multipart")
    assert response.status_code == 400
    assert "file" in response.json()["error"]["fields"]


def test_upload_over_the_limit_is_413(client, agents, settings):
    limit = settings.MAX_UPLOAD_SIZE
    assert limit == 10 * 1024 * 1024
    head = b"FirstName,Phone,Notes\nAsha,9876543210,"
    data = head + b"x" * (limit + 1 - len(head))
    response = post(client, named(data, "big.csv"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert "10,485,761 bytes" in error["message"]
    assert "10 MiB" in error["message"]
    assert ImportBatch.objects.count() == 0


def test_upload_at_the_limit_is_accepted(client, agents, settings):
    data = b"FirstName,Phone\nAsha,9876543210\n"
    settings.MAX_UPLOAD_SIZE = len(data)
    assert post(client, named(data, "a.csv")).status_code == 201
    settings.MAX_UPLOAD_SIZE = len(data) - 1
    assert post(client, named(data, "b.csv"), force="true").status_code == 413


def test_upload_one_byte_over_the_limit_writes_nothing(client, agents, settings, tmp_path):
    data = b"FirstName,Phone\nAsha,9876543210\nRavi,9876543211\n"
    settings.MAX_UPLOAD_SIZE = len(data) - 1
    response = post(client, named(data, "over.csv"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    assert error["message"].startswith(f"The file is {len(data)} bytes; uploads are limited to")
    assert not ImportBatch.objects.exists()
    assert not Lead.objects.exists()
    assert not Assignment.objects.exists()
    assert not any(path.is_file() for path in tmp_path.rglob("*"))  # no stored file


def test_oversized_body_is_refused_by_its_length_before_it_is_read(client, agents, settings):
    settings.MAX_UPLOAD_SIZE = 100
    data = b"FirstName,Phone\n" + b"Asha,9876543210\n" * 5000  # well past limit + envelope
    response = post(client, named(data, "huge.csv"))
    assert response.status_code == 413
    error = response.json()["error"]
    assert error["code"] == "file_too_large"
    # The request's length (file and envelope) is reported: the body was never parsed.
    reported = int(re.match(r"The file is ([\d,]+) bytes", error["message"])[1].replace(",", ""))
    assert reported > len(data)
    assert "uploads are limited to 100 bytes" in error["message"]
    assert not ImportBatch.objects.exists()
    assert not Lead.objects.exists()


def test_renamed_executable_is_415(client):
    exe = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff" + bytes(500)
    response = post(client, named(exe, "leads.csv"))
    assert response.status_code == 415
    assert response.json()["error"]["code"] == "unsupported_file_type"
    assert ImportBatch.objects.count() == 0


def test_unclosed_quote_is_400_naming_the_line(client, agents):
    response = post(client, csv_file(["Asha,9876543210,ok", 'Ravi,9876543211,"open', "x,y,z"]))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "malformed_csv"
    assert "Line 3" in error["message"]
    assert Lead.objects.count() == 0


def test_file_without_phone_column_is_400_naming_columns(client):
    response = post(client, csv_file(["Asha,Pune"], header="Name,City"))
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "missing_columns"
    assert '"Name", "City"' in error["message"]


def test_zip_bomb_is_400(client):
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", compression=zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("xl/workbook.xml", "<workbook/>")
        archive.writestr("xl/worksheets/sheet1.xml", b"<" * (20 * 1024 * 1024))
    response = post(client, named(out.getvalue(), "leads.xlsx"))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "zip_bomb"
    assert Lead.objects.count() == 0


def test_same_file_again_is_409_unless_forced(client, agents):
    first = post(client, csv_file(people(3))).json()
    again = post(client, csv_file(people(3), name="copy.csv"))
    assert again.status_code == 409
    error = again.json()["error"]
    assert (error["code"], error["batch"]) == ("duplicate_file", first["id"])
    assert f"#{first['id']}" in error["message"]
    forced = post(client, csv_file(people(3)), force="true")
    assert forced.status_code == 201
    assert (forced.json()["created"], forced.json()["duplicates"]) == (0, 3)


def test_strict_upload_is_400_and_imports_nothing(client, agents):
    response = post(client, csv_file([*people(3), "Bad,123,"]), strict="true")
    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "invalid_rows"
    assert error["errors"][0]["line"] == 5
    assert Lead.objects.count() == 0
    assert ImportBatch.objects.get(pk=error["batch"]).state == "failed"


def test_errors_csv_lists_errors_with_formulas_neutralized(client, agents):
    body = post(client, csv_file(["=cmd(),123,x", "Ok,9876543210,"])).json()
    response = client.get(f"{URL}{body['id']}/errors.csv")
    assert response.status_code == 200
    assert response["Content-Type"].startswith("text/csv")
    rows = list(csv.reader(io.StringIO(response.content.decode())))
    assert rows == [
        ["line", "column", "value", "message"],
        ["2", "Phone", "123", "Not a valid phone number for region IN."],
    ]
    body = post(client, csv_file(["Ok,=1+2,"], name="f.csv")).json()
    rows = list(
        csv.reader(io.StringIO(client.get(f"{URL}{body['id']}/errors.csv").content.decode()))
    )
    assert rows[1][2] == "'=1+2"


def test_list_and_detail(client, agents, django_assert_num_queries):
    ids = [
        post(client, csv_file(people(2, start=10 * n), name=f"{n}.csv")).json()["id"]
        for n in range(3)
    ]
    with django_assert_num_queries(3):  # user, count, page
        response = client.get(URL)
    assert response.status_code == 200
    body = response.json()
    assert [item["id"] for item in body["results"]] == ids[::-1]
    assert "errors" not in body["results"][0]
    for n in range(3, 6):
        post(client, csv_file(people(1, start=10 * n), name=f"{n}.csv"))
    with django_assert_num_queries(3):
        assert client.get(URL).json()["count"] == 6
    detail = client.get(f"{URL}{ids[0]}/")
    assert detail.status_code == 200
    assert detail.json()["errors"] == []
    assert client.get(f"{URL}999999/").status_code == 404


def test_undo_endpoint_keeps_worked_leads(client, agents):
    body = post(client, csv_file(people(4))).json()
    worked = Lead.objects.filter(batch_id=body["id"]).order_by("id").first()
    Lead.objects.filter(pk=worked.pk).update(status=LeadStatus.CONTACTED)
    response = client.post(f"{URL}{body['id']}/undo/")
    assert response.status_code == 200
    undone = response.json()
    assert (undone["state"], undone["removed"], undone["kept"]) == ("undone", 3, [worked.pk])
    assert list(Lead.objects.values_list("id", flat=True)) == [worked.pk]
    assert client.post(f"{URL}{body['id']}/undo/").status_code == 409


@pytest.mark.parametrize(
    ("method", "suffix"),
    [
        ("get", ""),
        ("post", ""),
        ("get", "{id}/"),
        ("get", "{id}/errors.csv"),
        ("post", "{id}/commit/"),
        ("post", "{id}/undo/"),
    ],
)
def test_agents_get_403_and_anonymous_401(auth, agent, api_client, manager, method, suffix):
    batch = ImportBatch.objects.create(file_name="x.csv", sha256="0" * 64, created_by=manager)
    url = URL + suffix.format(id=batch.pk)
    denied = getattr(auth(agent), method)(url)
    assert denied.status_code == 403
    assert denied.json()["error"]["code"] == "permission_denied"
    assert getattr(api_client, method)(url).status_code == 401
    batch.refresh_from_db()
    assert batch.state == "preview"
    assert Lead.objects.count() == 0


def test_xlsx_and_xls_uploads(client, agents):
    workbook = openpyxl.Workbook()
    workbook.active.append(["First Name", "Phone Number", "City"])
    workbook.active.append(["Asha", 9876543210, "Pune"])
    out = io.BytesIO()
    workbook.save(out)
    response = post(client, named(out.getvalue(), "leads.xlsx"))
    assert response.status_code == 201, response.json()
    assert response.json()["created"] == 1

    book = xlwt.Workbook()
    sheet = book.add_sheet("Leads")
    for r, row in enumerate([["Name", "Mobile"], ["Ravi", 9876543211.0]]):
        for c, value in enumerate(row):
            sheet.write(r, c, value)
    out = io.BytesIO()
    book.save(out)
    response = post(client, named(out.getvalue(), "leads.xls"))
    assert response.status_code == 201, response.json()
    assert sorted(Lead.objects.values_list("phone", "extra")) == [
        ("+919876543210", {"City": "Pune"}),
        ("+919876543211", {}),
    ]


def test_refused_preview_leaves_no_stored_file(client, settings, tmp_path):
    response = post(client, csv_file(["Asha,Pune"], header="Name,City"), preview="true")
    assert response.status_code == 400
    assert ImportBatch.objects.count() == 0
    assert not [p for p in tmp_path.rglob("*") if p.is_file()]
