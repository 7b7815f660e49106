# ruff: noqa: S603 - the tests start manage.py and python with the same interpreter
"""No request waits long on a lock: 409 ``locked`` with ``Retry-After`` instead.

The attack: ``DELETE /api/v1/agents/{id}/`` of an agent with tens of thousands
of open leads held their rows for 18.5 s, and a ``PATCH`` of one of those leads
waited 19.7 s for it (InnoDB waits up to 50 s by default). Web connections now
wait ``DB_LOCK_WAIT_TIMEOUT`` seconds (3) for a row or metadata lock; what they
cannot lock in time is answered 409 and changes nothing. Management commands
keep ``DB_COMMAND_LOCK_WAIT_TIMEOUT``.

The MariaDB tests hold a real lock on a second connection (a thread). Before
the fix the request waited until that thread let go and then succeeded (200 /
204); they assert status, header, body and rows, never the time taken.
"""

import json
import os
import subprocess
import sys
import threading
from contextlib import contextmanager
from pathlib import Path

import pytest
from django.db import OperationalError, connection, transaction
from django.test import RequestFactory

from agents.models import Agent
from assignments.models import Assignment
from common.api import exception_handler
from config.middleware import DatabaseUnavailableMiddleware
from leads.models import Lead, LeadActivity

BASE_DIR = Path(__file__).resolve().parents[2]
# How long the holder keeps its lock at most: far longer than DB_LOCK_WAIT_TIMEOUT
# (and twice it, for the retried services), so a request that still waited for
# it (the bug) would finish only after the holder let go, with a 200/204.
HOLD_SECONDS = 20


def _driver_error(*args):
    """An ``OperationalError`` as Django raises it: the driver's error as the cause."""
    try:
        import MySQLdb

        cause = MySQLdb.OperationalError(*args)
    except ImportError:  # pragma: no cover
        cause = Exception(*args)
    error = OperationalError(*args)
    error.__cause__ = cause
    return error


# --- the mapping, on any engine ---------------------------------------------


@pytest.mark.parametrize(
    "error",
    [
        _driver_error(1205, "Lock wait timeout exceeded; try restarting transaction"),
        OperationalError("database is locked"),  # SQLite's busy timeout
    ],
)
def test_api_answers_a_lock_wait_with_409_locked_and_retry_after(error, settings):
    settings.DB_LOCK_WAIT_TIMEOUT = 3
    response = exception_handler(error, {})
    assert response.status_code == 409
    assert response["Retry-After"] == "3"
    assert response.data["error"]["code"] == "locked"
    assert set(response.data["error"]) == {"code", "message", "fields"}


def test_api_still_answers_a_lost_database_with_503():
    response = exception_handler(_driver_error(2013, "Lost connection to server"), {})
    assert response.status_code == 503
    assert response.data["error"]["code"] == "database_unavailable"


def test_pages_outside_the_api_answer_a_lock_wait_with_409_too(settings):
    settings.DB_LOCK_WAIT_TIMEOUT = 3
    middleware = DatabaseUnavailableMiddleware(lambda request: None)
    request = RequestFactory().post("/admin/leads/lead/1/change/")
    response = middleware.process_exception(
        request, _driver_error(1205, "Lock wait timeout exceeded; try restarting transaction")
    )
    assert response.status_code == 409
    assert response["Retry-After"] == "3"
    assert json.loads(response.content)["error"]["code"] == "locked"


# --- real locks on MariaDB ----------------------------------------------------


@pytest.fixture
def mariadb():
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB's row and metadata locks")
    # A fresh connection runs the configured init_command: an earlier test may
    # have changed this one's session variables.
    connection.close()


@contextmanager
def held_by_another_connection(*statements, lock=None):
    """A second connection (a thread) holds a lock while the block runs.

    ``lock`` is a queryset locked ``FOR UPDATE`` in a transaction; ``statements``
    are raw SQL run first (``LOCK TABLES …``). The lock is let go when the
    block ends, or after ``HOLD_SECONDS`` at the latest.
    """
    locked, release = threading.Event(), threading.Event()
    errors = []

    def hold():
        try:
            with transaction.atomic(), connection.cursor() as cursor:
                for sql in statements:
                    cursor.execute(sql)
                if lock is not None:
                    assert list(lock.select_for_update())
                locked.set()
                release.wait(timeout=HOLD_SECONDS)
                if statements:
                    cursor.execute("UNLOCK TABLES")
        except Exception as exc:  # asserted on below
            errors.append(exc)
        finally:
            locked.set()
            connection.close()

    holder = threading.Thread(target=hold)
    holder.start()
    try:
        assert locked.wait(timeout=60)
        assert errors == []
        yield
    finally:
        release.set()
        holder.join(timeout=60)
    assert errors == []


def _assert_locked(response):
    assert response.status_code == 409, response.content
    assert response["Retry-After"] == "3"
    body = response.json()
    assert body["error"]["code"] == "locked"
    assert body["error"]["fields"] == {}


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_patch_of_a_locked_lead_answers_409_instead_of_waiting(mariadb, auth, agent, make_lead):
    lead = make_lead(agent=agent, notes="before")
    activities = LeadActivity.objects.filter(lead=lead).count()

    with held_by_another_connection(lock=Lead.objects.filter(pk=lead.pk)):
        response = auth(agent).patch(
            f"/api/v1/leads/{lead.pk}/", {"status": "contacted", "notes": "after"}, format="json"
        )

    _assert_locked(response)
    lead.refresh_from_db()
    assert (lead.status, lead.notes) == ("new", "before")
    assert LeadActivity.objects.filter(lead=lead).count() == activities


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_deleting_an_agent_whose_leads_are_locked_answers_409_and_changes_nothing(
    mariadb, auth, manager, agent, other_agent, make_lead
):
    # agent_deactivate is retried once on a lock wait: two waits, then 409.
    leads = [make_lead(agent=agent) for _ in range(3)]

    with held_by_another_connection(lock=Lead.objects.filter(pk=leads[1].pk)):
        response = auth(manager).delete(f"/api/v1/agents/{agent.pk}/")

    _assert_locked(response)
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    assert agent.is_active and agent.user.is_active
    owners = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("agent", flat=True)
    assert set(owners) == {agent.pk}
    assert not Assignment.objects.filter(agent=other_agent).exists()


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_a_table_lock_is_a_409_too_not_a_day_long_wait(mariadb, auth, agent, make_lead):
    # A metadata lock (LOCK TABLES here; an ALTER TABLE waiting behind a long
    # transaction has the same effect) is bounded by lock_wait_timeout, which
    # MariaDB leaves at one day unless told otherwise.
    lead = make_lead(agent=agent)
    client = auth(agent)  # the token is issued before the table is locked

    with held_by_another_connection(f"LOCK TABLES {Lead._meta.db_table} WRITE"):
        response = client.get(f"/api/v1/leads/{lead.pk}/")

    _assert_locked(response)


def _session_lock_waits(argv, env):
    code = (
        "import django; django.setup(); from django.db import connection\n"
        "with connection.cursor() as c:\n"
        "    c.execute('SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout')\n"
        "    print(*c.fetchone())\n"
    )
    result = subprocess.run(
        [sys.executable, *argv, code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stderr
    return result.stdout.split()[-2:]


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_web_connections_wait_briefly_and_commands_wait_longer(mariadb):
    with connection.cursor() as cursor:
        cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout, @@SESSION.lock_wait_timeout")
        assert cursor.fetchone() == (3, 3)  # this process serves requests (test client)

    # The same database the tests use, from fresh processes.
    name = connection.settings_dict["NAME"]
    url = os.environ["DATABASE_URL"].rsplit("/", 1)[0] + "/" + name
    env = {**os.environ, "DATABASE_URL": url, "DJANGO_SETTINGS_MODULE": "config.settings"}
    assert _session_lock_waits(["manage.py", "shell", "-c"], env) == ["25", "25"]
    assert _session_lock_waits(["-c"], {**env, "DB_LOCK_WAIT_TIMEOUT": "5"}) == ["5", "5"]
    commands = {**env, "DB_COMMAND_LOCK_WAIT_TIMEOUT": "20"}
    assert _session_lock_waits(["manage.py", "shell", "-c"], commands) == ["20", "20"]
