"""Database helpers: retrying transient failures, chunking long id lists.

InnoDB picks a deadlock victim (1213), gives up waiting for a row lock (1205),
or, under some isolation settings, refuses a write whose row changed underneath
(1020). All three roll the whole transaction back and are safe to run again;
anything else is a real error and is raised at once.
"""

import functools
import logging
import random
import time

from django.db import OperationalError, transaction

from .errors import ServiceUnavailable

logger = logging.getLogger(__name__)

RETRYABLE = {1020, 1205, 1213}
ATTEMPTS = 3


def _retryable(exc):
    cause = exc.__cause__ if exc.__cause__ is not None else exc
    args = getattr(cause, "args", ()) or getattr(exc, "args", ())
    return bool(args) and args[0] in RETRYABLE


def retry_on_deadlock(fn=None, *, attempts=ATTEMPTS, base_delay=0.05, sleep=time.sleep):
    """Run ``fn`` up to ``attempts`` times on deadlock/lock-wait/record-changed.

    Usable bare (``@retry_on_deadlock``) or with options. Inside an outer
    transaction a retry cannot help (the outer one is already rolled back), so
    the error is passed up. After the last attempt: ``ServiceUnavailable`` (503).
    """

    def decorate(func):
        @functools.wraps(func)
        def wrapper(*args, **kwargs):
            for attempt in range(1, attempts + 1):
                try:
                    return func(*args, **kwargs)
                except OperationalError as exc:
                    if not _retryable(exc) or transaction.get_connection().in_atomic_block:
                        raise
                    logger.warning(
                        "transient database conflict in %s (attempt %d/%d): %s",
                        func.__qualname__,
                        attempt,
                        attempts,
                        exc.args[0] if exc.args else exc,
                    )
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
