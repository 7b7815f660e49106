"""Request id, compression that spares secrets, the API's error envelope, request
charsets, a 503 for a lost database and a 409 for a lock that could not be had
in time."""

import logging
import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import HttpResponse, JsonResponse
from django.http.response import HttpResponseRedirectBase
from django.middleware.common import CommonMiddleware as DjangoCommonMiddleware
from django.middleware.gzip import GZipMiddleware
from django.utils.http import escape_leading_slashes

from common import api
from common.db import DatabaseLocked, is_lock_wait
from common.logging import request_id_var
from common.parsers import SAFE_CHARSETS, charset_name

from . import health

logger = logging.getLogger(__name__)

# Short and boring: an id the client sends goes into every log line, so it must
# not be able to carry markup, quotes or line breaks.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


class ContentLengthMiddleware:
    """A ``Content-Length`` that is not a number of bytes is a 400, before anything reads it.

    gunicorn refuses such a request itself; behind another server the
    metrics middleware's ``int()`` of it was a 500 on every path.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        length = request.META.get("CONTENT_LENGTH")
        if length and not _LENGTH.fullmatch(length.strip()):
            message = "The Content-Length header is not a number."
            if api.is_api(request):
                return api.envelope_response(400, "bad_request", message)
            return HttpResponse(message, status=400, content_type="text/plain; charset=utf-8")
        return self.get_response(request)


_LENGTH = re.compile(r"[0-9]{1,18}")


class ProbeMiddleware:
    """Answer ``/healthz`` and ``/readyz`` before anything reads the Host header.

    Kubernetes and Docker probe a pod by its IP (``Host: 10.1.2.3:8000``), which
    is rightly not in ``ALLOWED_HOSTS``; CommonMiddleware would answer 400 and
    the pod would never become ready. The probes reveal nothing secret, so
    they are served whatever the Host.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.method in ("GET", "HEAD"):
            view = {"/healthz": health.healthz, "/readyz": health.readyz}.get(request.path_info)
            if view is not None:
                return view(request)
        return self.get_response(request)


class RequestIdMiddleware:
    """Accept a safe ``X-Request-ID`` (or make one), log with it, return it."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        incoming = request.META.get("HTTP_X_REQUEST_ID", "")
        request_id = incoming if _SAFE_ID.match(incoming) else uuid.uuid4().hex
        request.request_id = request_id
        token = request_id_var.set(request_id)
        try:
            response = self.get_response(request)
        finally:
            request_id_var.reset(token)
        response["X-Request-ID"] = request_id
        return response


class SecretSafeGZipMiddleware(GZipMiddleware):
    """Django's gzip, except for responses that carry tokens.

    Compressing a secret next to attacker-influenced text leaks it through the
    compressed length (BREACH); the token views mark their responses with
    ``response.gzip_exempt = True``.
    """

    def process_response(self, request, response):
        if getattr(response, "gzip_exempt", False):
            return response
        return super().process_response(request, response)


class ApiErrorEnvelopeMiddleware:
    """Under ``/api/``, an error response that is not JSON becomes the envelope.

    DRF views and the handlers in ``common.api`` (400, 403, 404, 500, CSRF)
    already answer with the envelope; this is the net for the rest: a plain
    view's bare 405 (``require_POST``), an ``HttpResponseBadRequest``, Django's
    debug pages. The status and the headers (``Allow``, ``Retry-After``, CORS)
    are kept; only the body and its type change. Outside ``/api/`` nothing is
    touched, so the admin keeps Django's pages.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if response.status_code < 400 or not api.is_api(request) or _is_json(response):
            return response
        message = None
        if response.status_code == 405:
            message = f'Method "{request.method}" not allowed.'
        replacement = api.envelope_response(response.status_code, message=message)
        for header, value in response.items():
            if header.lower() not in _BODY_HEADERS:
                replacement[header] = value
        replacement.cookies = response.cookies
        response.close()  # a streaming body is never sent: release it
        return replacement


_BODY_HEADERS = {"content-type", "content-length", "content-encoding", "content-disposition"}


def _is_json(response):
    content_type = response.get("Content-Type", "").split(";")[0].strip().lower()
    return content_type == "application/json" or content_type.endswith("+json")


class RequestCharsetMiddleware:
    """Refuse a request body declared in a charset outside ``SAFE_CHARSETS``.

    Django decodes form fields, and DRF JSON bodies, in whatever charset the
    ``Content-Type`` names, as long as Python knows it. Some of those decoders
    are quadratic: ``charset=punycode`` turns a 320 KB body into ~25 s of CPU
    (a 2.5 MB one, into hours), before any authentication — the admin
    login form reads its fields to check the CSRF token. So a body in any
    charset but the UTF family, ASCII, Latin-1 and cp1252 is a 415 here,
    before anything reads it: the envelope under ``/api/``, plain text elsewhere.
    An unknown charset name is left alone: Django ignores it and uses UTF-8.
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        charset = request.content_params.get("charset") if request.content_params else None
        if charset and _has_body(request):
            name = charset_name(charset)
            if name is not None and name not in SAFE_CHARSETS:
                return _unsupported_charset(request)
        return self.get_response(request)


def _has_body(request):
    length = request.META.get("CONTENT_LENGTH") or "0"
    return length.strip() not in ("", "0")


def _unsupported_charset(request):
    message = "Unsupported charset: send UTF-8."
    if api.is_api(request):
        return api.envelope_response(415, "unsupported_media_type", message)
    return HttpResponse(message, status=415, content_type="text/plain; charset=utf-8")


class PermanentRedirectKeepingMethod(HttpResponseRedirectBase):
    status_code = 308


class CommonMiddleware(DjangoCommonMiddleware):
    """Django's, with the missing trailing slash answered by a 308, not a 301.

    A client that follows a 301 after a POST sends a GET: ``POST
    /api/v1/leads`` would have listed the leads and answered 200, creating
    nothing. A 308 is followed with the same method and body (HTTP clients
    and browsers alike), so the request reaches the view it was meant for.
    """

    response_redirect_class = PermanentRedirectKeepingMethod

    def get_full_path_with_slash(self, request):
        # Django refuses a POST here under DEBUG because its 301 would lose the body.
        return escape_leading_slashes(request.get_full_path(force_append_slash=True))


class DatabaseUnavailableMiddleware:
    """A lost database is a 503 with ``Retry-After``, not a 500 and a hung worker.

    The API's exception handler does the same for DRF views; this covers the
    rest (admin pages, health, plain views), including the lock wait that ran
    out (409 ``locked`` with ``Retry-After``, as in the API).
    """

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        return self.get_response(request)

    def process_exception(self, request, exception):
        if not isinstance(exception, (OperationalError, InterfaceError)):
            return None
        if is_lock_wait(exception):
            logger.warning("lock wait timed out: %s", exception)
            locked = DatabaseLocked()
            response = JsonResponse(api.envelope(locked.code, locked.message), status=locked.status)
            response["Retry-After"] = locked.headers["Retry-After"]
            return response
        logger.warning("database unavailable: %s", exception.__class__.__name__)
        response = JsonResponse(
            {
                "error": {
                    "code": "database_unavailable",
                    "message": "The database is unavailable. Try again shortly.",
                    "fields": {},
                }
            },
            status=503,
        )
        response["Retry-After"] = str(settings.DB_UNAVAILABLE_RETRY_AFTER)
        return response
