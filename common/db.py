"""Database helpers: retrying transient failures, lock waits, chunking long id lists.

InnoDB picks a deadlock victim (1213), gives up waiting for a row or metadata
lock (1205, after ``innodb_lock_wait_timeout`` / ``lock_wait_timeout``), or,
under some isolation settings, refuses a write whose row changed underneath
(1020). The failed statement (and, for a deadlock, the whole transaction) is
rolled back; ``transaction.atomic`` rolls back the rest, so running the whole
transaction again is safe. Anything else is a real error and is raised at once.

A web request's connection waits at most ``DB_LOCK_WAIT_TIMEOUT`` seconds for a
lock (config/settings.py puts it in the connection's ``init_command``); a lock
it could not get is answered 409 ``locked`` with ``Retry-After``
(:class:`DatabaseLocked`), never a worker held for InnoDB's default 50 s.
"""

import functools
import logging
import random
import time

from django.conf import settings
from django.db import OperationalError, connection, transaction

from .errors import Conflict, ServiceUnavailable

logger = logging.getLogger(__name__)

RECORD_CHANGED = 1020
LOCK_WAIT_TIMEOUT = 1205
DEADLOCK = 1213
RETRYABLE = {RECORD_CHANGED, LOCK_WAIT_TIMEOUT, DEADLOCK}
ATTEMPTS = 3
# A lock wait has already spent DB_LOCK_WAIT_TIMEOUT: one more try, not two, so
# a request waits on locks at most twice that long.
LOCK_WAIT_ATTEMPTS = 2
# What SQLite says when its busy timeout runs out (or a shared-cache table is locked).
_SQLITE_LOCKED = ("database is locked", "database table is locked")


class DatabaseLocked(Conflict):
    """A row (or table) another transaction holds could not be locked in time.

    409, not 503: the database is fine, this one record is busy. The client may
    send the same request again after ``Retry-After`` seconds.
    """

    code = "locked"
    default_message = "This record is being changed by another request. Try again shortly."

    def __init__(self, message=default_message):
        super().__init__(message)
        self.headers = {"Retry-After": str(max(1, settings.DB_LOCK_WAIT_TIMEOUT))}


def _error_code(exc):
    """The driver's first argument: MariaDB's error number, SQLite's message."""
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    args = getattr(cause, "args", ()) or getattr(exc, "args", ())
    return args[0] if args else None


def _retryable(exc):
    return _error_code(exc) in RETRYABLE


def is_lock_wait(exc):
    """True when ``exc`` is a lock wait that ran out, on MariaDB/MySQL or SQLite."""
    if not isinstance(exc, OperationalError):
        return False
    code = _error_code(exc)
    if code == LOCK_WAIT_TIMEOUT:
        return True
    return isinstance(code, str) and code.startswith(_SQLITE_LOCKED)


def retry_on_deadlock(
    fn=None,
    *,
    attempts=ATTEMPTS,
    lock_wait_attempts=LOCK_WAIT_ATTEMPTS,
    base_delay=0.05,
    sleep=time.sleep,
):
    """Run ``fn`` up to ``attempts`` times on deadlock/lock-wait/record-changed.

    Usable bare (``@retry_on_deadlock``) or with options. Inside an outer
    transaction a retry cannot help (the outer one is already rolled back), so
    the error is passed up. A lock wait timeout is tried at most
    ``lock_wait_attempts`` times (each already waited the whole timeout) and
    then refused with :class:`DatabaseLocked` (409, ``Retry-After``); after the
    last attempt on a deadlock: ``ServiceUnavailable`` (503 ``database_busy``).
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            lock_waits = 0
            for attempt in range(1, attempts + 1):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    if not _retryable(exc) or transaction.get_connection().in_atomic_block:
                        raise
                    locked = _error_code(exc) == LOCK_WAIT_TIMEOUT
                    lock_waits += locked
                    logger.warning(
                        "transient database conflict in %s (attempt %d/%d): %s",
                        func.__qualname__,
                        attempt,
                        attempts,
                        exc.args[0] if exc.args else exc,
                    )
                    if locked and (lock_waits >= lock_wait_attempts or attempt == attempts):
                        raise DatabaseLocked() from exc
                    if attempt == attempts:
                        busy = ServiceUnavailable(
                            "The database is busy. Try again shortly.", code="database_busy"
                        )
                        busy.headers = {"Retry-After": "1"}
                        raise busy from exc
                    # Jitter so the two losers of a deadlock do not collide again.
                    sleep(base_delay * attempt * (0.5 + random.random()))
            return None  # unreachable

        return wrapper

    return decorate(fn) if fn is not None else decorate


# Ids per ``IN (...)`` list or bulk statement: SQLite refuses more than 32,766
# parameters, and MariaDB's packets stay small.
CHUNK_SIZE = 1000


def chunked(items, size=CHUNK_SIZE):
    """``items`` in lists of at most ``size``, in order (for ``IN`` lists and bulk writes)."""
    items = list(items)
    for start in range(0, len(items), size):
        yield items[start : start + size]


def without_reference_checks(sql):
    """``sql`` run without MariaDB's per-row foreign-key checks, for that statement only.

    Only for writes whose every reference the transaction already holds: rows
    it inserted itself, parents whose rows it has locked (each check takes a
    shared lock on the parent row and looks it up). Those checks cost 1.4-2.2 s
    of the 9.4-11.4 s an import's 990,000 assignment rows took. MariaDB's ``SET
    STATEMENT … FOR`` scopes the setting to the one statement: no round trip,
    nothing to restore. Elsewhere the statement is unchanged.
    """
    if connection.vendor == "mysql" and connection.mysql_is_mariadb:
        return "SET STATEMENT foreign_key_checks = 0 FOR " + sql
    return sql
