"""API plumbing shared by every app: the error envelope and pagination.

Every error under ``/api/`` leaves as the envelope: DRF views through
``exception_handler``; what Django itself refuses before or around a view (a bad
``Host``, a body over ``DATA_UPLOAD_MAX_MEMORY_SIZE``, a CSRF failure, an unknown
path, a crash) through the ``json_*`` handlers and ``csrf_failure``; anything
else (a plain view's bare 405, say) through ``config.middleware``'s
``ApiErrorEnvelopeMiddleware``, which uses ``envelope_response``. Outside
``/api/`` (the admin) Django's own pages stay.
"""

import logging
from http import HTTPStatus

from django.conf import settings
from django.core.exceptions import (
    DisallowedHost,
    PermissionDenied,
    RequestDataTooBig,
    TooManyFieldsSent,
    TooManyFilesSent,
)
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse, UnreadablePostError
from django.views import csrf, defaults
from django_ratelimit.exceptions import Ratelimited
from rest_framework import exceptions, pagination
from rest_framework.response import Response
from rest_framework.views import exception_handler as drf_exception_handler

from .db import DatabaseLocked, is_lock_wait
from .errors import DomainError

logger = logging.getLogger(__name__)

_CODES = {
    400: "bad_request",
    401: "not_authenticated",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "file_too_large",
    415: "unsupported_media_type",
    429: "throttled",
}


def envelope(code, message, fields=None, **extra):
    body = {"error": {"code": code, "message": message, "fields": fields or {}}}
    body["error"].update(extra)
    return body


def _fields(detail):
    if isinstance(detail, dict):
        return {key: _fields(value) for key, value in detail.items()}
    if isinstance(detail, list):
        if all(not isinstance(item, (dict, list)) for item in detail):
            return [str(item) for item in detail]
        return [_fields(item) for item in detail]
    return [str(detail)]


def exception_handler(exc, context):
    """Every API error leaves as ``{"error": {"code", "message", "fields"}}``."""
    if is_lock_wait(exc):
        # A lock another request holds, not a database outage: 409 + Retry-After.
        logger.warning("lock wait timed out: %s", exc)
        exc = DatabaseLocked()
    if isinstance(exc, DomainError):
        return Response(
            envelope(exc.code, exc.message, exc.fields, **exc.extra),
            status=exc.status,
            headers=getattr(exc, "headers", None),
        )
    if isinstance(exc, (OperationalError, InterfaceError)):
        # An unreachable or failing database: tell the client to come back,
        # rather than a 500 (the connect/read timeouts bound how long this takes).
        logger.warning("database unavailable: %s", exc.__class__.__name__)
        return Response(
            envelope("database_unavailable", "The database is unavailable. Try again shortly."),
            status=503,
            headers={"Retry-After": str(settings.DB_UNAVAILABLE_RETRY_AFTER)},
        )
    if isinstance(exc, Ratelimited):
        # django-ratelimit's own decorator raises a PermissionDenied subclass.
        return Response(
            envelope("throttled", "Too many requests. Try again later."),
            status=429,
            headers={"Retry-After": "60"},
        )
    if isinstance(exc, UnreadablePostError):
        # The client went away (or lied about Content-Length) mid-body.
        return Response(envelope("bad_request", "The request body could not be read."), status=400)
    if isinstance(exc, DjangoValidationError):
        exc = exceptions.ValidationError(
            exc.message_dict if hasattr(exc, "error_dict") else {"non_field_errors": exc.messages}
        )
    elif isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()

    response = drf_exception_handler(exc, context)
    if response is None:
        return None
    status = response.status_code
    if isinstance(exc, exceptions.ValidationError):
        detail = exc.detail
        if not isinstance(detail, dict):
            detail = {"non_field_errors": detail}
        body = envelope("validation_error", "Invalid input.", _fields(detail))
    else:
        detail = getattr(exc, "detail", "")
        code = _CODES.get(status, "error")
        if isinstance(detail, dict):
            # simplejwt puts its reason in a dict ({"detail", "code", "messages"}).
            message = str(detail.get("detail", "")) or str(exc)
            code = str(detail.get("code", code))
        else:
            message = str(detail)
            code = getattr(detail, "code", None) or code
            if code in ("invalid", "error"):
                code = _CODES.get(status, "error")
        body = envelope(code, message)
    response.data = body
    return response


class PageNumberPagination(pagination.PageNumberPagination):
    page_size = 50
    page_size_query_param = "page_size"
    max_page_size = 200


def is_api(request):
    return request.path.startswith("/api/")


def envelope_response(status, code=None, message=None, **extra):
    """A ``JsonResponse`` carrying the envelope; code and message default from the status."""
    if code is None:
        code = _CODES.get(status, "server_error" if status >= 500 else "error")
    if message is None:
        try:
            message = HTTPStatus(status).phrase + "."
        except ValueError:
            message = "Error."
    return JsonResponse(envelope(code, message, **extra), status=status)


def json_400(request, exception=None):
    """What Django refuses before a view can answer, as the envelope under /api/.

    Django sends every ``SuspiciousOperation`` here (after logging it to
    ``django.security.*``). A body over ``DATA_UPLOAD_MAX_MEMORY_SIZE`` is told
    apart and answered 413 ``request_too_large``; a ``Host`` outside
    ``ALLOWED_HOSTS`` is 400 ``invalid_host``; the rest 400 ``bad_request``.
    """
    if not is_api(request):
        return defaults.bad_request(request, exception)
    if isinstance(exception, RequestDataTooBig):
        limit = settings.DATA_UPLOAD_MAX_MEMORY_SIZE
        return envelope_response(
            413, "request_too_large", f"The request body is larger than {limit} bytes."
        )
    if isinstance(exception, DisallowedHost):
        return envelope_response(400, "invalid_host", "Invalid Host header.")
    if isinstance(exception, (TooManyFieldsSent, TooManyFilesSent)):
        return envelope_response(400, "bad_request", "The request has too many fields or files.")
    return envelope_response(400, "bad_request", "Bad request.")


def json_403(request, exception=None):
    if is_api(request):
        return envelope_response(
            403, "permission_denied", "You do not have permission to perform this action."
        )
    return defaults.permission_denied(request, exception)


def json_404(request, exception=None):
    """JSON for API paths, Django's page for everything else (the admin)."""
    if is_api(request):
        return envelope_response(404, "not_found", "Not found.")
    return defaults.page_not_found(request, exception)


def json_500(request):
    if is_api(request):
        return envelope_response(500, "server_error", "Internal server error.")
    return defaults.server_error(request)


def csrf_failure(request, reason=""):
    """``CSRF_FAILURE_VIEW``: the envelope under /api/, Django's page elsewhere.

    The API's own views are CSRF-exempt (JWT, no cookies); this answers any
    view under /api/ that is not.
    """
    if is_api(request):
        return envelope_response(403, "csrf_failed", "CSRF verification failed.")
    return csrf.csrf_failure(request, reason=reason)
