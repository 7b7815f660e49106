"""A circuit breaker for the default (Redis) cache.

The default cache treats Redis errors as misses (``IGNORE_EXCEPTIONS``), so a
dead Redis, which refuses connections at once, costs nothing. A *hung* one (the
process stopped, a black-holed network, a server stuck in a long command)
accepts the connection and never answers, and costs every cache call its full
socket timeout: a dashboard request makes four to seven calls, 0.5 s each.

So after one call fails with a connection error or a timeout the breaker
*opens*: for ``CACHE_BREAKER_SECONDS`` every call fails at once, without
touching the network (the cache answers a miss, as for a dead Redis). Then one
call is let through as a probe while the others keep skipping; if Redis answers
it, the breaker closes, if not, it opens for another period.

The state is per process and per breaker name (one per cache alias): shared
state would have to live in the very Redis that is failing.

It is hooked in as django-redis's ``REDIS_CLIENT_CLASS``, around redis-py's
``execute_command`` and pipelines, so every command of the cache passes through
it whoever issues it: the data version (dashboards, list totals), the DRF
throttles, ``/readyz``, ``restore``'s clear.

The rate limiter's cache (``"ratelimit"``) has no breaker: it must fail closed,
and it does, each limited request asking Redis and being refused with 503 when
Redis cannot answer. With a breaker, one slow reply would refuse every login
for the whole pause.
"""

import logging
import threading
import time

import redis
from django.conf import settings
from redis.client import Pipeline

logger = logging.getLogger(__name__)

# Errors that mean "Redis did not answer". Any other error (a ResponseError,
# say) means it did, and counts as a success.
OUTAGE_ERRORS = (redis.exceptions.ConnectionError, redis.exceptions.TimeoutError, OSError)


class CircuitOpen(redis.exceptions.ConnectionError):
    """Raised instead of calling Redis while the breaker is open.

    A ``ConnectionError``, so django-redis handles it like any lost connection:
    a miss for a cache that ignores exceptions, an error for one that does not.
    """


class CircuitBreaker:
    """Closed → (a call fails) → open → (pause over) one probe → closed or open.

    ``calls`` counts the calls that went to Redis, ``failures`` those among
    them that failed (each of which waited up to the socket timeout),
    ``skipped`` the calls answered at once while open, ``probes`` the calls let
    through after a pause.
    """

    def __init__(self, name, clock=time.monotonic):
        self.name = name
        self.clock = clock
        self._lock = threading.Lock()
        self.reset()

    def reset(self):
        with self._lock:
            self._open_until = None  # None: closed
            self._probing = False
            self.calls = self.failures = self.skipped = self.probes = 0

    @property
    def is_open(self):
        return self._open_until is not None

    def call(self, fn, *args, **kwargs):
        seconds = settings.CACHE_BREAKER_SECONDS
        if seconds <= 0:
            return fn(*args, **kwargs)
        probe = self._admit()
        try:
            result = fn(*args, **kwargs)
        except OUTAGE_ERRORS as exc:
            self._failed(exc, probe, seconds)
            raise
        except redis.exceptions.RedisError:
            self._answered(probe)
            raise
        except BaseException:
            self._release(probe)
            raise
        self._answered(probe)
        return result

    def _admit(self):
        """True for the probe, False for an ordinary call; raises while open."""
        with self._lock:
            if self._open_until is None:
                self.calls += 1
                return False
            if self._probing or self.clock() < self._open_until:
                self.skipped += 1
                raise CircuitOpen(f"cache {self.name!r} skipped: Redis failed recently")
            self._probing = True
            self.probes += 1
            self.calls += 1
            return True

    def _failed(self, exc, probe, seconds):
        with self._lock:
            self.failures += 1
            if probe:
                self._probing = False
            was_open = self._open_until is not None
            self._open_until = self.clock() + seconds
        if not was_open:
            logger.warning(
                "cache %r unavailable (%s: %s); skipping it for %s s",
                self.name,
                type(exc).__name__,
                exc,
                seconds,
            )

    def _answered(self, probe):
        with self._lock:
            if probe:
                self._probing = False
            was_open = self._open_until is not None
            self._open_until = None
        if was_open:
            logger.warning("cache %r answers again; using it", self.name)

    def _release(self, probe):
        if probe:
            with self._lock:
                self._probing = False


_breakers = {}
_breakers_lock = threading.Lock()


def get_breaker(name):
    """The process's breaker called ``name`` (created on first use)."""
    with _breakers_lock:
        if name not in _breakers:
            _breakers[name] = CircuitBreaker(name)
        return _breakers[name]


class BreakerRedis(redis.Redis):
    """redis-py's client with every command and pipeline behind a breaker.

    django-redis builds it with ``REDIS_CLIENT_KWARGS`` (``{"breaker": name}``)
    from the cache's ``OPTIONS``.
    """

    def __init__(self, *args, breaker="default", **kwargs):
        super().__init__(*args, **kwargs)
        self.breaker = get_breaker(breaker)

    def execute_command(self, *args, **options):
        return self.breaker.call(super().execute_command, *args, **options)

    def pipeline(self, transaction=True, shard_hint=None):
        pipe = BreakerPipeline(
            self.connection_pool, self.response_callbacks, transaction, shard_hint
        )
        pipe.breaker = self.breaker
        return pipe


class BreakerPipeline(Pipeline):
    """A pipeline whose round trips (``execute``, commands under WATCH) pass the breaker."""

    breaker = None

    def execute(self, raise_on_error=True):
        if not self.command_stack and not self.watching:
            return super().execute(raise_on_error)
        return self.breaker.call(super().execute, raise_on_error)

    def immediate_execute_command(self, *args, **options):
        return self.breaker.call(super().immediate_execute_command, *args, **options)
