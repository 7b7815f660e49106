"""Request id, compression that spares secrets, a 503 for a lost database and a
409 for a lock that could not be had in time."""

import logging
import re
import uuid

from django.conf import settings
from django.db import InterfaceError, OperationalError
from django.http import JsonResponse
from django.middleware.gzip import GZipMiddleware

from common.api import envelope
from common.db import DatabaseLocked, is_lock_wait
from common.logging import request_id_var

from . import health

logger = logging.getLogger(__name__)

# Short and boring: an id the client sends goes into every log line, so it must
# not be able to carry markup, quotes or line breaks.
_SAFE_ID = re.compile(r"^[A-Za-z0-9._:-]{1,64}$")


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
            response = JsonResponse(envelope(locked.code, locked.message), status=locked.status)
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
