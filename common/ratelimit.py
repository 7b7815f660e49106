"""Rate limits: django-ratelimit on the shared "ratelimit" cache, DRF throttles.

Every process counts in the same Redis, so two gunicorn instances limit as one.
The limiter fails closed: when its cache cannot answer, a limited endpoint
(login, refresh, upload) answers 503 rather than letting unlimited password
guesses through. Refusals are 429 with ``Retry-After`` in the error envelope.
"""

import functools
import logging

from django.conf import settings
from django_ratelimit.core import get_usage
from prometheus_client import Counter
from rest_framework import throttling

from common.clientip import client_ip
from common.emails import normalize_email
from common.errors import DomainError, ServiceUnavailable

logger = logging.getLogger(__name__)

REFUSALS = Counter(
    "leadline_rate_limit_refusals",
    "Requests refused by a rate limit or throttle (reason: limit or unavailable).",
    ["group", "reason"],
)


def _refused(group, *, reason):
    REFUSALS.labels(group=group, reason=reason).inc()


class RateLimited(DomainError):
    status = 429
    code = "throttled"

    def __init__(self, retry_after):
        super().__init__("Too many requests. Try again later.")
        self.retry_after = max(1, int(retry_after))
        self.headers = {"Retry-After": str(self.retry_after)}
        self.extra = {"retry_after": self.retry_after}


class LimiterUnavailable(ServiceUnavailable):
    code = "rate_limiter_unavailable"

    def __init__(self):
        super().__init__("Temporarily unavailable. Try again shortly.")
        self.headers = {"Retry-After": str(settings.RATELIMIT_UNAVAILABLE_RETRY_AFTER)}


# The login limits' counters, one pair for every sign-in form (the API's token
# endpoint and the admin's login page): a budget spent on one is spent on both.
LOGIN_IP_GROUP = "login-ip"
LOGIN_EMAIL_GROUP = "login-email"


def _ip_key(group, request):
    return client_ip(request)


def _posted_email(request, name):
    # A body that does not parse raises here (DRF's ParseError → 400).
    data = request.data if hasattr(request, "data") else request.POST
    email = data.get(name) if hasattr(data, "get") else None
    # The canonical form: every spelling of one address shares one counter.
    return normalize_email(email if isinstance(email, str) else "")


def _email_key(group, request):
    return _posted_email(request, "email")


def _username_key(group, request):
    """The email of a Django login form (the admin's), posted as ``username``."""
    return _posted_email(request, "username")


def _user_or_ip_key(group, request):
    user = getattr(request, "user", None)
    if user is not None and user.is_authenticated:
        return f"user:{user.pk}"
    return f"ip:{client_ip(request)}"


KEYS = {
    "ip": _ip_key,
    "email": _email_key,
    "username": _username_key,
    "user_or_ip": _user_or_ip_key,
}


def enforce(request, *, group, rate, key):
    """Count this request against ``group``; raise 429 when over ``rate``.

    ``key`` is one of ``KEYS`` ("ip", "email", "username", "user_or_ip"). Raises
    ``LimiterUnavailable`` (503) when the shared cache cannot be reached.
    """
    if not rate:
        return
    value = KEYS[key](group, request)
    try:
        usage = get_usage(
            request, group=group, key=lambda _group, _request: value, rate=rate, increment=True
        )
    except Exception as exc:  # any cache failure means we cannot count
        logger.warning("rate limiter unavailable (%s); refusing %s", type(exc).__name__, group)
        _refused(group, reason="unavailable")
        raise LimiterUnavailable() from None
    if usage is None:
        return
    if usage["time_left"] == -1 and usage["should_limit"]:
        # django-ratelimit's answer when it could not read or write its counter.
        _refused(group, reason="unavailable")
        raise LimiterUnavailable()
    if usage["should_limit"]:
        _refused(group, reason="limit")
        raise RateLimited(usage["time_left"])


def rate_limit(group, *, rate, key):
    """Decorate a view method ``(self, request, ...)`` or function ``(request, ...)``.

    ``rate`` is a rate string ("10/m") or the name of a setting holding one, read
    per request so tests can override it.
    """

    def decorator(fn):
        @functools.wraps(fn)
        def wrapped(*args, **kwargs):
            request = args[1] if len(args) > 1 and hasattr(args[1], "META") else args[0]
            value = getattr(settings, rate, None) if rate.isupper() else rate
            enforce(request, group=group, rate=value, key=key)
            return fn(*args, **kwargs)

        return wrapped

    return decorator


class _WindowThrottle:
    """DRF throttle as a fixed-window counter: one cache round trip per request.

    DRF's stock throttle keeps a list of every request time in the window and
    rewrites it on each request (O(rate) bytes per request); a counter does the
    same job with one ``INCR``. When the default cache is down (errors ignored)
    the request is allowed: throttling the API is not worth an outage.
    """

    def get_ident(self, request):
        # DRF's default trusts any X-Forwarded-For; ours only a trusted proxy's.
        return client_ip(request)

    def allow_request(self, request, view):
        if self.rate is None:
            return True
        key = self.get_cache_key(request, view)
        if key is None:
            return True
        now = int(self.timer())
        window = now - now % self.duration
        self._retry_after = window + self.duration - now
        key = f"{key}:{window}"
        try:
            count = self.cache.incr(key)
        except ValueError:  # first request of the window
            count = 1 if self.cache.add(key, 1, self.duration + 5) else self.cache.incr(key)
        if count is None or count <= self.num_requests:
            return True
        _refused(f"throttle:{self.scope}", reason="limit")
        return False

    def wait(self):
        return max(1, getattr(self, "_retry_after", self.duration))


class AnonThrottle(_WindowThrottle, throttling.AnonRateThrottle):
    pass


class UserThrottle(_WindowThrottle, throttling.UserRateThrottle):
    pass
