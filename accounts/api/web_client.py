"""The web app's token flow: the refresh token in an HttpOnly cookie.

A client that sends ``X-Leadline-Client: web`` gets its refresh token as the
``leadline_refresh`` cookie (``HttpOnly``, ``SameSite=Strict``, scoped to
``/api/v1/auth/``, ``Secure`` unless ``JWT_REFRESH_COOKIE_SECURE`` is off) and
only the access token in the body, so no script on the page can read the
refresh token. Clients without the header keep the JSON flow.

A browser sends the cookie with every request to the auth paths, including
ones another site makes it send, so the cookie is only ever *used* when the
custom header is there: a cross-site form cannot set a header, and a
cross-origin ``fetch`` that sets it needs a CORS preflight, which the API
refuses for this header (it is not in ``CORS_ALLOW_HEADERS``). A request whose
``Origin`` is present and is neither this site nor one of
``CSRF_TRUSTED_ORIGINS`` is refused as well, whatever its headers.
"""

from django.conf import settings
from rest_framework import exceptions
from rest_framework_simplejwt import settings as simplejwt_settings

from common.errors import DomainError

REFRESH_COOKIE = "leadline_refresh"
REFRESH_COOKIE_PATH = "/api/v1/auth/"
CLIENT_HEADER = "X-Leadline-Client"
WEB = "web"

_HEADER_META = "HTTP_" + CLIENT_HEADER.upper().replace("-", "_")


class CrossSiteRefused(DomainError):
    status = 403
    code = "csrf_failed"


def is_web_client(request):
    """True when the request says ``X-Leadline-Client: web``; 400 for any other value."""
    value = request.META.get(_HEADER_META)
    if value is None:
        return False
    if value != WEB:
        raise exceptions.ValidationError({CLIENT_HEADER: [f'The only accepted value is "{WEB}".']})
    return True


def check_origin(request):
    """Refuse a cookie request that a page of another origin made."""
    origin = request.META.get("HTTP_ORIGIN")
    if origin is None:
        return  # not sent by a browser's cross-origin request
    scheme = "https" if request.is_secure() else "http"
    allowed = {f"{scheme}://{request.get_host()}", *settings.CSRF_TRUSTED_ORIGINS}
    if origin not in allowed:
        raise CrossSiteRefused("Cross-origin request refused.")


def cookie_refresh(request):
    """The refresh token of the cookie, for a request that may use it (else ``None``)."""
    return request.COOKIES.get(REFRESH_COOKIE) or None


def refuse_cookie_without_header(request):
    """Without the header, the mere presence of the cookie must not authorise anything."""
    if cookie_refresh(request) is not None:
        raise CrossSiteRefused(
            f"The refresh cookie is only accepted with the header {CLIENT_HEADER}: {WEB}."
        )


def set_refresh_cookie(response, refresh):
    lifetime = simplejwt_settings.api_settings.REFRESH_TOKEN_LIFETIME
    _set(response, refresh, max_age=int(lifetime.total_seconds()))


def clear_refresh_cookie(response):
    # The same attributes as when set, so every browser matches and drops it.
    _set(response, "", max_age=0, expires="Thu, 01 Jan 1970 00:00:00 GMT")


def _set(response, value, **kwargs):
    response.set_cookie(
        REFRESH_COOKIE,
        value,
        path=REFRESH_COOKIE_PATH,
        secure=settings.JWT_REFRESH_COOKIE_SECURE,
        httponly=True,
        samesite="Strict",
        **kwargs,
    )
