"""Races on import batches: a double-clicked commit, the same file from several clients.

The attack: two concurrent ``POST /imports/{id}/commit/`` gave one 200 and one
409, and the loser's error path rewrote the committed batch to ``failed`` (so
undo was refused and the file re-imported without ``force``); four clients
uploading one file at once got two committed batches, or three previews.
The real races run on MariaDB with threads (each with its own connection);
the deterministic versions run on both engines.
"""

import hashlib
import io
import threading
from contextlib import contextmanager

import pytest
from django.db import connection

from assignments.models import Assignment
from common.errors import Conflict
from imports import committing, pipeline, services
from imports.committing import claim_new, claim_preview
from imports.readers import open_table
from imports.tests.conftest import leads_csv, named
from leads.models import ImportBatch, Lead

pytestmark = pytest.mark.django_db(transaction=True)

URL = "/api/v1/imports/"
needs_mariadb = pytest.mark.skipif(
    connection.vendor != "mysql",
    reason="row and named locks between connections are what is tested: needs MariaDB "
    "(SQLite serializes every writer on one file lock)",
)


def upload(manager_api, data, **fields):
    return manager_api.post(URL, {"file": named(data), **fields}, format="multipart")


def race(calls):
    """Run the callables at once, each in its own thread (and connection); their results."""
    barrier = threading.Barrier(len(calls))
    results = [None] * len(calls)

    def run(index, call):
        try:
            barrier.wait(timeout=30)
            results[index] = call()
        except Exception as exc:  # asserted on by the caller
            results[index] = exc
        finally:
            connection.close()

    threads = [threading.Thread(target=run, args=(i, c)) for i, c in enumerate(calls)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads)
    return results


@contextmanager
def claimed_elsewhere(take):
    """Hold the claim ``take()`` returns as another, live process would.

    On MariaDB a claim lives as long as its connection holds the batch's named
    lock, so a thread takes it on its own connection and keeps it until the
    block ends; on SQLite the committed ``processing`` row is the claim.
    """
    if connection.vendor != "mysql":
        claim = take()
        try:
            yield claim.batch
        finally:
            claim.release()
        return
    taken, done, box = threading.Event(), threading.Event(), {}

    def hold():
        try:
            box["claim"] = take()
        except Exception as exc:
            box["error"] = exc
        taken.set()
        try:
            if "claim" in box:
                done.wait(timeout=120)
                box["claim"].release()
        finally:
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    assert taken.wait(timeout=60)
    try:
        if "error" in box:
            raise box["error"]
        yield box["claim"].batch
    finally:
        done.set()
        holder.join(timeout=60)


# --- 7. Double-click commit -----------------------------------------------------


def _preview(manager_api, data):
    response = upload(manager_api, data, preview="true")
    assert response.status_code == 201, response.json()
    assert response.json()["state"] == "preview"
    return ImportBatch.objects.get(pk=response.json()["id"])


def _assert_committed_and_undoable(manager_api, batch_id, data, created):
    batch = ImportBatch.objects.get(pk=batch_id)
    assert batch.state == ImportBatch.State.COMMITTED, (batch.state, batch.message)
    assert Lead.objects.filter(batch_id=batch_id).count() == created
    assert Assignment.objects.count() == created
    # The same file is still a duplicate, and the batch can still be undone.
    again = upload(manager_api, data)
    assert again.status_code == 409
    assert (again.json()["error"]["code"], again.json()["error"]["batch"]) == (
        "duplicate_file",
        batch_id,
    )
    undo = manager_api.post(f"{URL}{batch_id}/undo/")
    assert undo.status_code == 200, undo.json()
    assert (undo.json()["state"], undo.json()["removed"]) == ("undone", created)


def test_a_late_second_commit_changes_nothing(manager_api, agents, manager):
    """Deterministic: the loser loaded the batch while it was still a preview."""
    data = leads_csv(12)
    batch = _preview(manager_api, data)
    stale = ImportBatch.objects.get(pk=batch.pk)  # what the second request had loaded
    first = manager_api.post(f"{URL}{batch.pk}/commit/")
    assert first.status_code == 200, first.json()

    with pytest.raises(Conflict) as caught:
        services.commit_batch(batch=stale, actor=manager)
    assert (caught.value.status, caught.value.code) == (409, "batch_not_in_preview")
    _assert_committed_and_undoable(manager_api, batch.pk, data, 12)


def test_commit_while_another_request_commits_it_is_409(manager_api, agents, manager):
    """Deterministic: the winner has claimed the batch and is still writing."""
    data = leads_csv(5)
    batch = _preview(manager_api, data)
    with claimed_elsewhere(lambda: claim_preview(batch.pk)):
        loser = manager_api.post(f"{URL}{batch.pk}/commit/")
        assert loser.status_code == 409
        error = loser.json()["error"]
        assert error["code"] == "batch_not_in_preview"
        assert "being imported right now" in error["message"]
        assert ImportBatch.objects.get(pk=batch.pk).state == ImportBatch.State.PROCESSING
    assert not Lead.objects.exists()


@needs_mariadb
@pytest.mark.parametrize("clicks", [2, 4])
def test_double_click_commit_one_wins_and_the_losers_change_nothing(
    manager_api, agents, auth, manager, clicks
):
    data = leads_csv(300)
    batch = _preview(manager_api, data)
    clients = [auth(manager) for _ in range(clicks)]
    responses = race([lambda c=c: c.post(f"{URL}{batch.pk}/commit/") for c in clients])
    codes = sorted(response.status_code for response in responses)
    assert codes == [200] + [409] * (clicks - 1), [r.json() for r in responses]
    for response in responses:
        if response.status_code == 409:
            assert response.json()["error"]["code"] == "batch_not_in_preview"
    _assert_committed_and_undoable(manager_api, batch.pk, data, 300)


# --- 8. The same file from several clients at once -----------------------------


def test_a_file_being_imported_is_refused_naming_its_batch(manager_api, agents, manager, tmp_path):
    """Deterministic: another upload of the file has claimed it and is still working."""
    data = leads_csv(4)
    pending = ImportBatch(
        file_name="first.csv", sha256=hashlib.sha256(data).hexdigest(), created_by=manager
    )
    with claimed_elsewhere(lambda: claim_new(pending)) as first:
        response = upload(manager_api, data)
        assert response.status_code == 409
        error = response.json()["error"]
        assert (error["code"], error["batch"]) == ("duplicate_file", first.pk)
        assert f"being imported right now as batch #{first.pk}" in error["message"]
        # The check that decides, under the same-file lock (the upload's quick
        # look before storing the file only spares the storage).
        with pytest.raises(services.DuplicateFile) as caught:
            claim_new(ImportBatch(file_name="again.csv", sha256=pending.sha256))
        assert caught.value.extra == {"batch": first.pk}
        assert ImportBatch.objects.count() == 1
        # force is still the way to import a file twice on purpose.
        forced = upload(manager_api, data, force="true")
        assert forced.status_code == 201, forced.json()
    # The refused upload's copy of the file was removed again.
    stored = {path.name for path in tmp_path.rglob("*") if path.is_file()}
    assert stored == {ImportBatch.objects.get(pk=forced.json()["id"]).file.name.split("/")[-1]}


@needs_mariadb
@pytest.mark.parametrize("preview", ["false", "true"])
def test_same_file_from_four_clients_one_wins(manager_api, agents, auth, manager, preview):
    data = leads_csv(500)
    clients = [auth(manager) for _ in range(4)]
    responses = race([lambda c=c: upload(c, data, preview=preview) for c in clients])
    codes = sorted(response.status_code for response in responses)
    assert codes == [201, 409, 409, 409], [r.json() for r in responses]
    winner = next(r.json() for r in responses if r.status_code == 201)
    for response in responses:
        if response.status_code == 409:
            error = response.json()["error"]
            assert (error["code"], error["batch"]) == ("duplicate_file", winner["id"])
    assert list(ImportBatch.objects.values_list("id", "state")) == [
        (winner["id"], "committed" if preview == "false" else "preview")
    ]
    assert Lead.objects.count() == (500 if preview == "false" else 0)


@needs_mariadb
def test_waiting_too_long_for_the_file_lock_is_503_and_writes_nothing(
    manager_api, agents, monkeypatch, tmp_path
):
    data = leads_csv(3)
    monkeypatch.setattr(committing, "FILE_LOCK_WAIT_SECONDS", 0)
    with claimed_elsewhere(lambda: _HeldFileLock(hashlib.sha256(data).hexdigest())):
        response = upload(manager_api, data)
    assert response.status_code == 503
    assert response.json()["error"]["code"] == "import_busy"
    assert response["Retry-After"] == "1"
    assert not ImportBatch.objects.exists()
    assert not [path for path in tmp_path.rglob("*") if path.is_file()]


class _HeldFileLock:
    """Another upload of the same file in the middle of its claim (a stand-in Claim)."""

    def __init__(self, sha256):
        self._held = committing._same_file_lock(sha256)
        self._held.__enter__()
        self.batch = None

    def release(self):
        self._held.__exit__(None, None, None)


def test_a_claim_given_up_for_dead_does_not_commit(agents, manager):
    """If a claim was taken for dead before its work began (SQLite's grace ran
    out), its work is refused and the batch keeps what the reaper wrote."""
    data = leads_csv(3)
    batch = ImportBatch(file_name="x.csv", sha256=hashlib.sha256(data).hexdigest())
    claim = claim_new(batch)
    ImportBatch.objects.filter(pk=batch.pk).update(state="failed", message="reaped")
    table = open_table(io.BytesIO(data))
    with pytest.raises(Conflict) as caught, committing.processing(claim):
        committing.commit_claimed(
            claim=claim, table=table, actor=manager, options=pipeline.Options()
        )
    assert (caught.value.status, caught.value.code) == (409, "import_interrupted")
    assert ImportBatch.objects.filter(pk=batch.pk, state="failed", message="reaped").exists()
    assert not Lead.objects.exists()
