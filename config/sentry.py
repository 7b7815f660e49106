"""Sentry, when ``SENTRY_DSN`` is set: no personal data, secrets scrubbed.

The SDK's default (no personal data: ``send_default_pii`` left unset, which
sentry-sdk 2.75 deprecates setting explicitly) keeps cookies, user emails and
IPs out, and its event scrubber stays on;
``before_send`` is the second belt: it masks the Authorization header, and any
password or token in request bodies, query strings and local variables, which
the SDK would otherwise ship with an exception.
"""

import re

FILTERED = "[Filtered]"
_SENSITIVE = re.compile(
    r"(?i)(password|passwd|secret|token|refresh|access|authorization|api[_-]?key|cookie|"
    r"csrf|session|signing[_-]?key|dsn)"
)
_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")


def _scrub(value, depth=0):
    if depth > 8:
        return value
    if isinstance(value, dict):
        return {
            key: FILTERED
            if isinstance(key, str) and _SENSITIVE.search(key)
            else _scrub(item, depth + 1)
            for key, item in value.items()
        }
    if isinstance(value, list):
        return [_scrub(item, depth + 1) for item in value]
    if isinstance(value, tuple):
        return tuple(_scrub(item, depth + 1) for item in value)
    if isinstance(value, str):
        return _JWT.sub(FILTERED, value)
    return value


def _scrub_pairs(query):
    # "a=1&password=x" -> "a=1&password=[Filtered]"
    if not isinstance(query, str):
        return _scrub(query)
    parts = []
    for pair in query.split("&"):
        name, sep, _value = pair.partition("=")
        parts.append(f"{name}{sep}{FILTERED}" if sep and _SENSITIVE.search(name) else pair)
    return _JWT.sub(FILTERED, "&".join(parts))


def before_send(event, hint):
    request = event.get("request")
    if isinstance(request, dict):
        headers = request.get("headers")
        if isinstance(headers, dict):
            request["headers"] = {
                k: FILTERED if _SENSITIVE.search(k) else _scrub(v) for k, v in headers.items()
            }
        if "data" in request:
            request["data"] = _scrub(request["data"])
        if "query_string" in request:
            request["query_string"] = _scrub_pairs(request["query_string"])
        request.pop("cookies", None)
    for exception in (event.get("exception") or {}).get("values") or []:
        for frame in (exception.get("stacktrace") or {}).get("frames") or []:
            if "vars" in frame:
                frame["vars"] = _scrub(frame["vars"])
    if "extra" in event:
        event["extra"] = _scrub(event["extra"])
    for crumb in (event.get("breadcrumbs") or {}).get("values") or []:
        if "message" in crumb and isinstance(crumb["message"], str):
            crumb["message"] = _JWT.sub(FILTERED, crumb["message"])
        if "data" in crumb:
            crumb["data"] = _scrub(crumb["data"])
    return event


def init(*, dsn, environment, release, traces_sample_rate, transport=None):
    """Start the SDK with the Django integration; called from settings."""
    import sentry_sdk
    from sentry_sdk.integrations.django import DjangoIntegration

    options = {
        "dsn": dsn,
        "environment": environment,
        "release": release or None,
        "traces_sample_rate": traces_sample_rate,
        "before_send": before_send,
        "integrations": [DjangoIntegration()],
    }
    if transport is not None:
        options["transport"] = transport
    sentry_sdk.init(**options)
