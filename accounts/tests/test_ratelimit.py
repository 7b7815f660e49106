"""Login, refresh and API rate limits: 429 with Retry-After, keyed on the real client."""

import pytest
from django.core.cache import caches
from django.test import RequestFactory, override_settings
from rest_framework.settings import api_settings
from rest_framework.test import APIClient
from rest_framework.throttling import SimpleRateThrottle

from common.clientip import client_ip

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _clear_limiter():
    caches["ratelimit"].clear()
    yield
    caches["ratelimit"].clear()


def login(email, password="wrong-password", ip="198.51.100.7", **headers):
    return APIClient().post(
        TOKEN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip, **headers
    )


# Counters live in fixed windows; the tests use day-long ones so that a window
# never ends in the middle of a test.


def _assert_429(response):
    assert response.status_code == 429
    assert int(response["Retry-After"]) >= 1
    body = response.json()
    assert body["error"]["code"] == "throttled"
    assert body["error"]["retry_after"] == int(response["Retry-After"])


@override_settings(RATELIMIT_LOGIN_IP="3/d", RATELIMIT_LOGIN_EMAIL="100/d")
def test_login_is_limited_per_ip_with_429_and_retry_after(manager):
    for n in range(3):
        assert login(f"nobody{n}@example.com").status_code == 401
    _assert_429(login("manager@example.com", "correct-horse-battery-staple"))
    # Another client is not affected.
    assert login("nobody@example.com", ip="198.51.100.8").status_code == 401


@override_settings(RATELIMIT_LOGIN_IP="100/d", RATELIMIT_LOGIN_EMAIL="3/d")
def test_login_is_limited_per_email_across_ips(manager, password):
    for n in range(3):
        assert login("manager@example.com", ip=f"203.0.113.{n + 1}").status_code == 401
    # The right password from a fresh address still waits: the account is under attack.
    _assert_429(login("MANAGER@example.com", password, ip="203.0.113.99"))
    assert login("other@example.com", ip="203.0.113.99").status_code == 401


@override_settings(RATELIMIT_LOGIN_IP="2/d", TRUSTED_PROXIES=[])
def test_forwarded_for_is_ignored_from_an_untrusted_peer(db):
    for n in range(2):
        assert login("x@example.com", HTTP_X_FORWARDED_FOR=f"192.0.2.{n}").status_code == 401
    # Rotating the header does not buy a fresh budget.
    _assert_429(login("x@example.com", HTTP_X_FORWARDED_FOR="192.0.2.77"))


@override_settings(RATELIMIT_LOGIN_IP="2/d", TRUSTED_PROXIES=["10.0.0.0/8"])
def test_forwarded_for_is_believed_from_a_trusted_proxy(db):
    proxy = {"ip": "10.1.2.3"}
    for _ in range(2):
        assert login("x@example.com", **proxy, HTTP_X_FORWARDED_FOR="192.0.2.1").status_code == 401
    _assert_429(login("x@example.com", **proxy, HTTP_X_FORWARDED_FOR="192.0.2.1"))
    # Behind the same proxy, a different client has its own budget.
    assert login("x@example.com", **proxy, HTTP_X_FORWARDED_FOR="192.0.2.2").status_code == 401


@override_settings(TRUSTED_PROXIES=["10.0.0.0/8"])
def test_client_ip_takes_rightmost_untrusted_hop():
    factory = RequestFactory()

    def ip(remote, xff=None):
        extra = {"HTTP_X_FORWARDED_FOR": xff} if xff is not None else {}
        return client_ip(factory.get("/", REMOTE_ADDR=remote, **extra))

    assert ip("198.51.100.1", "1.2.3.4") == "198.51.100.1"
    assert ip("10.0.0.1", "1.2.3.4") == "1.2.3.4"
    # A client-written left part cannot win: the proxy appended the real peer.
    assert ip("10.0.0.1", "6.6.6.6, 1.2.3.4") == "1.2.3.4"
    assert ip("10.0.0.1", "1.2.3.4, 10.0.0.9") == "1.2.3.4"
    assert ip("10.0.0.1", "garbage") == "10.0.0.1"
    assert ip("10.0.0.1") == "10.0.0.1"
    assert ip("2001:db8::1") == "2001:db8::1"


@override_settings(RATELIMIT_REFRESH="2/d")
def test_refresh_is_limited(db):
    for _ in range(2):
        response = APIClient().post(REFRESH, {"refresh": "x"}, format="json", REMOTE_ADDR="1.1.1.1")
        assert response.status_code == 401
    _assert_429(APIClient().post(REFRESH, {"refresh": "x"}, format="json", REMOTE_ADDR="1.1.1.1"))


def test_api_reads_are_throttled_per_user_with_retry_after(auth, agent, settings):
    rates = {"anon": "100/day", "user": "3/day"}
    framework = {**settings.REST_FRAMEWORK, "DEFAULT_THROTTLE_RATES": rates}
    original = SimpleRateThrottle.THROTTLE_RATES
    # DRF copies the rates into the class at import; follow the override here.
    SimpleRateThrottle.THROTTLE_RATES = rates
    try:
        with override_settings(REST_FRAMEWORK=framework):
            client = auth(agent)
            for _ in range(3):
                assert client.get("/api/v1/auth/me/").status_code == 200
            response = client.get("/api/v1/auth/me/")
            assert response.status_code == 429
            assert int(response["Retry-After"]) >= 1
            assert response.json()["error"]["code"] == "throttled"
    finally:
        SimpleRateThrottle.THROTTLE_RATES = original
    assert original == api_settings.DEFAULT_THROTTLE_RATES
