"""The admin's sign-in page: the API login's limits and audit.

``config.admin.LeadlineAdminSite`` uses ``LoginForm`` and calls
``refuse_over_limit`` from its ``login``. Kept apart from ``accounts.admin``,
whose import registers models on the site this module's user builds.
"""

from django.conf import settings
from django.contrib.admin.forms import AdminAuthenticationForm
from django.core.exceptions import ValidationError
from django.template.response import TemplateResponse
from django.utils.cache import add_never_cache_headers

from common.emails import normalize_email
from common.ratelimit import (
    LOGIN_EMAIL_GROUP,
    LOGIN_IP_GROUP,
    LimiterUnavailable,
    RateLimited,
    enforce,
)

from . import audit


class LoginForm(AdminAuthenticationForm):
    """The admin's login form; every checked attempt is audited as the API's are.

    A wrong password, an unknown or inactive user and a user who is not staff
    (an agent) are all ``login_failed`` with the address tried (canonical
    form) and no actor; a sign-in is ``login_succeeded`` with the user. The
    entries carry ``{"via": "admin"}`` to tell them from the API's.
    """

    def clean(self):
        try:
            cleaned = super().clean()
        except ValidationError:
            audit.record(
                audit.Action.LOGIN_FAILED,
                target=normalize_email(self.cleaned_data.get("username")),
                request=self.request,
                via="admin",
            )
            raise
        if self.user_cache is not None:
            audit.record(
                audit.Action.LOGIN_SUCCEEDED,
                actor=self.user_cache,
                target=self.user_cache.email,
                request=self.request,
                via="admin",
            )
        return cleaned


def _refusal_page(site, request, exc):
    """The login page's answer to a refused attempt: 429 (or 503), ``Retry-After``, no form."""
    if isinstance(exc, RateLimited):
        message = f"Too many sign-in attempts. Try again in {exc.retry_after} seconds."
    else:
        message = "Sign-in is temporarily unavailable. Try again shortly."
    request.current_app = site.name
    context = {
        **site.each_context(request),
        "title": "Log in",
        "refusal": message,
        "app_path": request.get_full_path(),
    }
    response = TemplateResponse(
        request, "admin/login_refused.html", context, status=exc.status, headers=exc.headers
    )
    add_never_cache_headers(response)
    return response


def refuse_over_limit(site, request):
    """The refusal page for a login POST over the API login's limits, else None.

    Each POST counts in the same buckets as ``POST /api/v1/auth/token/`` (per
    client IP and per canonical email, ``RATELIMIT_LOGIN_IP`` /
    ``RATELIMIT_LOGIN_EMAIL``) before the password is looked at; over a limit
    the page answers 429, and 503 when the limiter's cache is down (fail
    closed). The admin site's ``login`` calls it (``config.admin``).
    """
    if request.method != "POST":
        return None
    try:
        enforce(request, group=LOGIN_IP_GROUP, rate=settings.RATELIMIT_LOGIN_IP, key="ip")
        enforce(
            request, group=LOGIN_EMAIL_GROUP, rate=settings.RATELIMIT_LOGIN_EMAIL, key="username"
        )
    except (RateLimited, LimiterUnavailable) as exc:
        return _refusal_page(site, request, exc)
    return None
