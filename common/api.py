"""API plumbing shared by every app: the error envelope and pagination."""

import logging

from django.conf import settings
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import InterfaceError, OperationalError
from django.http import Http404, JsonResponse
from django.views import defaults
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


def json_404(request, exception=None):
    """JSON for API paths, Django's page for everything else (the admin)."""
    if request.path.startswith("/api/"):
        return JsonResponse(envelope("not_found", "Not found."), status=404)
    return defaults.page_not_found(request, exception)


def json_500(request):
    if request.path.startswith("/api/"):
        return JsonResponse(envelope("server_error", "Internal server error."), status=500)
    return defaults.server_error(request)
