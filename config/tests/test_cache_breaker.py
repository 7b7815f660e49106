"""A hung Redis costs one timeout, not one per cache call (common/cache.py).

The attack: Redis stopped with SIGSTOP (alive, accepting, never answering), so
every cache call waited its 0.5 s socket timeout and a dashboard took seconds.
Here a throwaway redis-server is stopped for real; the breaker's counters say
how many calls went to Redis and failed (each of those waited) and how many
were skipped at once. The breaker's clock is a fake, so "after the pause" needs
no sleeping.
"""

import logging
import os
import signal

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from common.cache import CircuitBreaker, CircuitOpen, get_breaker
from config.settings import redis_caches

from .throwaway import RedisServer

PAUSE = 30


class FakeClock:
    def __init__(self):
        self.now = 1000.0

    def __call__(self):
        return self.now

    def advance(self, seconds):
        self.now += seconds


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    os.kill(server.proc.pid, signal.SIGCONT)
    server.kill()


@pytest.fixture
def breaker(monkeypatch):
    """The process's "default" breaker, reset, on a fake clock; reset again after."""
    breaker = get_breaker("default")
    breaker.reset()
    clock = FakeClock()
    monkeypatch.setattr(breaker, "clock", clock)
    breaker.advance = clock.advance
    yield breaker
    breaker.reset()


def _numbers(response):
    return {k: v for k, v in response.json().items() if k != "generated_at"}


def _caches(server):
    return redis_caches(server.url, key_prefix="breaker", connect_timeout=0.5, socket_timeout=0.5)


@pytest.mark.django_db
def test_a_hung_redis_costs_one_timeout_then_is_skipped_until_it_answers(
    redis_server, breaker, manager, agent, password, make_lead, auth, caplog
):
    make_lead(agent=agent)
    make_lead()
    with override_settings(CACHES=_caches(redis_server), CACHE_BREAKER_SECONDS=PAUSE):
        client = auth(manager)
        first = client.get("/api/v1/dashboard/")
        assert first.status_code == 200
        assert breaker.calls > 0
        assert breaker.failures == 0

        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        caplog.set_level(logging.WARNING)

        # Before: every cache call of every request waited 0.5 s (four per
        # dashboard here). Now the first call waits and fails, the rest skip.
        for _ in range(3):
            response = client.get("/api/v1/dashboard/")
            assert response.status_code == 200
            assert _numbers(response) == _numbers(first)  # computed, same numbers
            assert client.get("/api/v1/leads/").json()["count"] == 2
        assert breaker.failures == 1
        assert breaker.is_open
        skipped = breaker.skipped
        assert skipped >= 6

        # /readyz tells the truth without waiting.
        ready = APIClient().get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["cache"]
        assert breaker.failures == 1

        # The rate limiter has no breaker and stays closed: a login is refused.
        login = APIClient().post(
            "/api/v1/auth/token/", {"email": agent.user.email, "password": password}
        )
        assert login.status_code == 503
        assert login.json()["error"]["code"] == "rate_limiter_unavailable"
        assert int(login["Retry-After"]) >= 1
        assert breaker.failures == 1

        # After the pause, one call probes Redis (and waits: it is still hung);
        # it fails, so the breaker opens again and the rest of the request skips.
        breaker.advance(PAUSE + 1)
        calls = breaker.calls
        assert client.get("/api/v1/dashboard/").status_code == 200
        assert breaker.probes == 1
        assert breaker.calls == calls + 1
        assert breaker.failures == 2
        assert breaker.is_open

        # Still inside the new pause: nothing goes to Redis.
        breaker.advance(PAUSE - 1)
        assert client.get("/api/v1/dashboard/").status_code == 200
        assert breaker.calls == calls + 1

        os.kill(redis_server.proc.pid, signal.SIGCONT)
        breaker.advance(2)
        assert client.get("/api/v1/dashboard/").status_code == 200
        assert breaker.probes == 2
        assert not breaker.is_open
        assert breaker.failures == 2

        # Back to normal: values are stored and read again, logins work.
        cache = caches["default"]
        cache.set("breaker:check", 42)
        assert cache.get("breaker:check") == 42
        assert APIClient().get("/readyz").status_code == 200
        login = APIClient().post(
            "/api/v1/auth/token/", {"email": agent.user.email, "password": password}
        )
        assert login.status_code == 200

    loggers = ("common.cache", "config.cache")
    messages = [r.getMessage() for r in caplog.records if r.name in loggers]
    assert sum("skipping it for 30" in m for m in messages) == 1
    assert sum("answers again" in m for m in messages) == 1
    # One line per real failure from django-redis, none per skipped call.
    assert not any("CircuitOpen" in m for m in messages)


@pytest.mark.django_db
def test_pipelines_and_every_cache_method_pass_the_breaker(redis_server, breaker):
    with override_settings(CACHES=_caches(redis_server), CACHE_BREAKER_SECONDS=PAUSE):
        cache = caches["default"]
        cache.set_many({"a": 1, "b": 2})  # a pipeline
        assert cache.get_many(["a", "b"]) == {"a": 1, "b": 2}
        os.kill(redis_server.proc.pid, signal.SIGSTOP)
        assert cache.get("a") is None  # waits once, then the breaker is open
        assert breaker.failures == 1
        skipped = breaker.skipped
        assert cache.set_many({"c": 3}) in (None, [])
        assert cache.get_many(["a", "b"]) == {}
        assert cache.incr("a") is None
        assert cache.add("d", 1) is None
        assert cache.delete_pattern("*") is None
        cache.clear()
        assert breaker.skipped >= skipped + 6
        assert breaker.failures == 1
        # The limiter's cache raises, as before, for the limiter to refuse.
        with pytest.raises(Exception) as raised:
            caches["ratelimit"].add("x", 1)
        assert not isinstance(raised.value, CircuitOpen)


def test_the_breaker_alone(settings):
    settings.CACHE_BREAKER_SECONDS = 10
    clock = FakeClock()
    breaker = CircuitBreaker("unit", clock=clock)

    def fail():
        raise TimeoutError("hung")

    assert breaker.call(lambda: "ok") == "ok"
    with pytest.raises(TimeoutError):
        breaker.call(fail)
    with pytest.raises(CircuitOpen):
        breaker.call(lambda: "ok")
    clock.advance(10)
    # The probe is in flight: every other caller still skips.
    seen = []

    def probe():
        with pytest.raises(CircuitOpen):
            breaker.call(lambda: "other")
        seen.append("probe")
        return "ok"

    assert breaker.call(probe) == "ok"
    assert seen == ["probe"]
    assert not breaker.is_open
    assert (breaker.calls, breaker.failures, breaker.skipped, breaker.probes) == (3, 1, 2, 1)

    # An error Redis answered with is not an outage.
    import redis

    with pytest.raises(redis.exceptions.ResponseError):
        breaker.call(lambda: (_ for _ in ()).throw(redis.exceptions.ResponseError("WRONGTYPE")))
    assert not breaker.is_open

    settings.CACHE_BREAKER_SECONDS = 0  # off
    with pytest.raises(TimeoutError):
        breaker.call(fail)
    assert breaker.call(lambda: "ok") == "ok"
