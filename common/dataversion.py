"""One "the data changed" version, shared through the cache by every process.

Anything derived from many rows (the dashboards, the lead list's totals) is
cached as ``(version, value)`` and used only while the version is unchanged.
A write that changes such numbers calls ``bump()``; with Redis as the cache,
every process sharing it stops using the old values at once. When the cache is
down, values are computed and served uncached.
"""

import logging
import time

from django.core.cache import cache
from django.db import transaction

logger = logging.getLogger(__name__)

KEY = "data:version"


def _bump_now():
    try:
        try:
            cache.incr(KEY)
        except ValueError:  # no version yet (or evicted): any new value will do
            cache.add(KEY, time.time_ns(), timeout=None)
    except Exception as exc:
        logger.warning("cache unavailable, data version not bumped: %s", exc)


def bump():
    """Retire every value cached under the current version.

    It bumps now and, inside a transaction, again after the commit: a reader
    that cached the pre-commit numbers between the two bumps is left behind by
    the second.
    """
    _bump_now()
    if transaction.get_connection().in_atomic_block:
        transaction.on_commit(_bump_now)


def cached(key, compute, *, timeout):
    """``compute()``'s value, reused from ``key`` while the data version stands.

    One cache round trip reads the version and the entry together. A version
    lost to eviction is replaced by a fresh start value (the clock in
    nanoseconds), so an old entry can never match it again.
    """
    try:
        found = cache.get_many([KEY, key])
        version = found.get(KEY)
        if version is None:
            cache.add(KEY, time.time_ns(), timeout=None)
            version = cache.get(KEY)
    except Exception as exc:
        logger.warning("cache unavailable, serving uncached: %s", exc)
        return compute()
    entry = found.get(key)
    if version is not None and entry is not None and entry[0] == version:
        return entry[1]
    value = compute()
    if version is not None:
        try:
            cache.set(key, (version, value), timeout)
        except Exception as exc:
            logger.warning("cache unavailable, not stored: %s", exc)
    return value
