"""Exports over EXPORT_INLINE_MAX_ROWS: a job (202) whose worker writes the CSV to storage."""

import csv
import io

import pytest

from leads.exporting import HEADER
from leads.models import ExportJob, LeadStatus

pytestmark = pytest.mark.django_db

URL = "/api/v1/leads/export.csv"


@pytest.fixture(autouse=True)
def _small_exports(settings, tmp_path):
    settings.EXPORT_INLINE_MAX_ROWS = 2
    settings.MEDIA_ROOT = tmp_path


@pytest.fixture
def leads(agent, other_agent, make_lead):
    return [
        make_lead(agent=agent, first_name="=cmd()", notes="a"),
        make_lead(agent=agent, first_name="Meera"),
        make_lead(agent=agent, first_name="Ravi", status=LeadStatus.LOST),
        make_lead(agent=other_agent, first_name="Dev"),
    ]


def _rows(data):
    return list(csv.DictReader(io.StringIO(data.decode("utf-8").lstrip("\ufeff"))))


def test_big_export_is_a_job_with_a_download_link_for_its_owner_only(
    auth, manager, make_user, leads, django_capture_on_commit_callbacks
):
    client = auth(manager)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.get(URL)
    assert response.status_code == 202
    body = response.json()
    assert (body["state"], body["rows_total"], body["download_url"]) == ("queued", 4, None)
    job = client.get(response["Location"]).json()
    assert job["state"] == "done" and job["rows"] == 4
    download = client.get(job["download_url"])
    assert download.status_code == 200
    assert download["Content-Type"].startswith("text/csv")
    rows = _rows(b"".join(download.streaming_content))
    assert list(rows[0]) == HEADER
    assert sorted(int(r["id"]) for r in rows) == sorted(lead.pk for lead in leads)
    assert {r["first_name"] for r in rows} >= {"'=cmd()"}  # neutralized as inline

    other = auth(make_user(role="manager"))
    assert other.get(response["Location"]).status_code == 404
    assert other.get(job["download_url"]).status_code == 404


def test_the_job_keeps_the_filters_and_the_agents_scope(
    auth, agent, leads, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 1
    with django_capture_on_commit_callbacks(execute=True):
        response = auth(agent).get(URL, {"status": ["new"]})
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert job.rows == 2
    rows = _rows(job.file.read())
    assert {int(r["id"]) for r in rows} == {leads[0].pk, leads[1].pk}


def test_the_job_keeps_the_search(
    auth, manager, leads, settings, django_capture_on_commit_callbacks
):
    settings.EXPORT_INLINE_MAX_ROWS = 0
    with django_capture_on_commit_callbacks(execute=True):
        response = auth(manager).get(URL, {"search": "meera", "status": ["new", "lost"]})
    assert response.status_code == 202
    job = ExportJob.objects.get()
    assert (job.state, job.rows) == ("done", 1)
    assert [int(r["id"]) for r in _rows(job.file.read())] == [leads[1].pk]


def test_small_exports_stay_inline(auth, manager, leads):
    response = auth(manager).get(URL, {"status": "lost"})
    assert response.status_code == 200
    assert not ExportJob.objects.exists()


def test_download_before_done_is_409(auth, manager, leads):
    response = auth(manager).get(URL)  # the test transaction never commits: still queued
    job_id = response.json()["id"]
    answer = auth(manager).get(f"/api/v1/leads/exports/{job_id}/download/")
    assert answer.status_code == 409
    assert answer.json()["error"]["code"] == "export_not_ready"


def test_bad_filter_is_400_and_queues_nothing(auth, manager, leads):
    assert auth(manager).get(URL, {"status": "nope"}).status_code == 400
    assert not ExportJob.objects.exists()


def test_a_job_whose_filters_stopped_passing_fails_with_the_reason(auth, manager, leads):
    # Queued with valid filters; a choice that no longer exists when the worker runs
    # (a deploy between the two) fails the job instead of leaving it queued forever.
    from leads.exporting import export_job_create
    from leads.tasks import export_leads

    job = export_job_create(user=manager, query={"status": ["archived"]}, rows_total=4)
    export_leads(job_id=job.pk)
    client = auth(manager)
    body = client.get(f"/api/v1/leads/exports/{job.pk}/").json()
    assert body["state"] == "failed" and body["download_url"] is None
    assert "status" in body["message"] and "archived" in body["message"]
    assert body["finished_at"] is not None
    answer = client.get(f"/api/v1/leads/exports/{job.pk}/download/")
    assert answer.status_code == 409
    assert not job.file
