"""JSON log lines on stdout, each carrying the request id.

One JSON object per line: a newline in user data is encoded as ``\\n`` inside a
string, so it can never start a forged line. Anything shaped like a JWT or a
``password=...`` pair is masked as a last line of defence; code should not log
secrets in the first place.
"""

import contextvars
import json
import logging
import re
from datetime import UTC, datetime

request_id_var = contextvars.ContextVar("request_id", default="-")

_JWT = re.compile(r"eyJ[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]{4,}\.[A-Za-z0-9_-]*")
_SECRET_PAIR = re.compile(
    r"(?i)\b(password|passwd|refresh|access|token|secret|authorization)"
    r"""(["']?\s*[:=]\s*["']?)(Bearer\s+)?[^\s"',&}]+"""
)

# LogRecord attributes that are not "extra" fields.
_RESERVED = set(vars(logging.LogRecord("", 0, "", 0, "", (), None))) | {"message", "asctime"}
_SKIP_EXTRA = {"request", "server_time", "status_code"}


def scrub(text):
    text = _JWT.sub("[redacted-jwt]", text)
    return _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}[redacted]", text)


class RequestIdFilter(logging.Filter):
    def filter(self, record):
        # django.request logs 4xx/5xx after the middleware has returned, but
        # passes the request along.
        request = getattr(record, "request", None)
        record.request_id = getattr(request, "request_id", None) or request_id_var.get()
        return True


class JsonFormatter(logging.Formatter):
    def format(self, record):
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": scrub(record.getMessage()),
            "request_id": getattr(record, "request_id", request_id_var.get()),
        }
        status = getattr(record, "status_code", None)
        if status is not None:
            entry["status"] = status
        for key, value in record.__dict__.items():
            if key in _RESERVED or key in _SKIP_EXTRA or key in entry or key.startswith("_"):
                continue
            entry[key] = (
                value if isinstance(value, (int, float, bool, type(None))) else scrub(str(value))
            )
        if record.exc_info:
            entry["exc"] = scrub(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False, default=str)


class CacheErrorFilter(logging.Filter):
    """django-redis logs each swallowed error as ERROR with a traceback.

    With Redis down that is every request; one WARNING line naming the error
    says the same thing without flooding the logs.
    """

    def filter(self, record):
        if record.exc_info:
            exc = record.exc_info[1]
            record.msg = "cache unavailable, treated as a miss: %s"
            record.args = (f"{exc.__class__.__name__}: {exc}",)
            record.exc_info = None
            record.exc_text = None
        record.levelno = logging.WARNING
        record.levelname = "WARNING"
        return True


class SkipCircuitOpen(logging.Filter):
    """Drop django-redis's "Exception ignored" record for a call the breaker skipped.

    The breaker (``common.cache``) logs once when it opens and once when it
    closes; a line for every call it skips would say the same thing hundreds
    of times a second. It lives here, not with the breaker, so that setting up
    logging does not import redis-py (0.1-0.2 s of every process's start-up,
    ``manage.py`` commands included) where the cache is not Redis.
    """

    def filter(self, record):
        exc = record.exc_info[1] if record.exc_info else None
        if exc is None:
            return True
        from common.cache import CircuitOpen  # loaded by now: the cache is Redis

        # django-redis wraps it: ConnectionInterrupted from CircuitOpen.
        cause = getattr(exc, "__cause__", None)
        return not (isinstance(exc, CircuitOpen) or isinstance(cause, CircuitOpen))
