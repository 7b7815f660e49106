"""retry_on_deadlock: MariaDB's transient errors retried with jitter, then a 503
(deadlocks) or a 409 ``locked`` (lock waits)."""

import threading

import pytest
from django.db import OperationalError, connection, transaction

from common.db import DatabaseLocked, retry_on_deadlock
from common.errors import ServiceUnavailable


def _mysql_error(code):
    # What mysqlclient raises, wrapped by Django the way the ORM wraps it.
    try:
        import MySQLdb

        cause = MySQLdb.OperationalError(code, "simulated")
    except ImportError:  # pragma: no cover
        cause = Exception(code, "simulated")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


@pytest.mark.parametrize("code, failures", [(1213, 2), (1020, 2), (1205, 1)])
def test_transient_errors_are_retried_then_succeed(code, failures):
    calls, sleeps = [], []

    @retry_on_deadlock(sleep=sleeps.append)
    def work(x):
        calls.append(x)
        if len(calls) <= failures:
            raise _mysql_error(code)
        return x * 2

    assert work(21) == 42
    assert len(calls) == failures + 1
    assert len(sleeps) == failures and all(s > 0 for s in sleeps)


@pytest.mark.parametrize("codes", [[1205, 1205], [1213, 1213, 1205], [1213, 1205, 1205]])
def test_a_lock_wait_that_runs_out_again_is_a_409_locked(codes, settings):
    # Each lock wait already waited DB_LOCK_WAIT_TIMEOUT: one retry, then the
    # client is told to come back, instead of a 503 after three full waits.
    settings.DB_LOCK_WAIT_TIMEOUT = 3
    failures = iter(codes)
    calls = []

    @retry_on_deadlock(sleep=lambda s: None)
    def work():
        calls.append(1)
        raise _mysql_error(next(failures))

    with pytest.raises(DatabaseLocked) as refused:
        work()
    assert len(calls) == len(codes)
    assert refused.value.status == 409
    assert refused.value.code == "locked"
    assert refused.value.headers == {"Retry-After": "3"}


def test_after_three_attempts_a_clear_503():
    calls = []

    @retry_on_deadlock(sleep=lambda s: None)
    def work():
        calls.append(1)
        raise _mysql_error(1213)

    with pytest.raises(ServiceUnavailable) as refused:
        work()
    assert len(calls) == 3
    assert refused.value.status == 503
    assert refused.value.code == "database_busy"
    assert refused.value.headers["Retry-After"]


def test_other_errors_are_not_retried():
    calls = []

    @retry_on_deadlock(sleep=lambda s: None)
    def work():
        calls.append(1)
        raise _mysql_error(1146)  # no such table: a bug, not contention

    with pytest.raises(OperationalError):
        work()
    assert calls == [1]


@pytest.mark.django_db
def test_no_retry_inside_an_outer_transaction():
    calls = []

    @retry_on_deadlock(sleep=lambda s: None)
    def work():
        calls.append(1)
        raise _mysql_error(1213)

    with pytest.raises(OperationalError), transaction.atomic():
        work()
    assert calls == [1]


@pytest.mark.mariadb
@pytest.mark.django_db(transaction=True)
def test_a_real_deadlock_is_retried_to_success(make_lead):
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB's row locks")
    from leads.models import Lead

    a, b = make_lead(), make_lead()
    barrier = threading.Barrier(2)
    outcomes, attempts = [], []

    def worker(first, second):
        @retry_on_deadlock
        def update():
            attempts.append(first)
            with transaction.atomic():
                Lead.objects.filter(pk=first).update(notes="x")
                if len(attempts) <= 2:
                    barrier.wait(timeout=10)  # both hold one row, then want the other
                Lead.objects.filter(pk=second).update(notes="y")

        try:
            update()
            outcomes.append("ok")
        except Exception as exc:
            outcomes.append(repr(exc))
        finally:
            connection.close()

    threads = [
        threading.Thread(target=worker, args=(a.pk, b.pk)),
        threading.Thread(target=worker, args=(b.pk, a.pk)),
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert outcomes == ["ok", "ok"]
    assert len(attempts) == 3  # one deadlock victim ran again
