"""Startup checks for token settings that would silently weaken security.

Registered in ``AccountsConfig.ready``.
"""

from django.apps import apps
from django.conf import settings
from django.core import checks
from django.utils.module_loading import import_string


def check_token_blacklist(app_configs, **kwargs):
    """Rotation without the blacklist app would leave every rotated token usable."""
    jwt = getattr(settings, "SIMPLE_JWT", {})
    rotating = jwt.get("ROTATE_REFRESH_TOKENS") or jwt.get("BLACKLIST_AFTER_ROTATION")
    if rotating and not apps.is_installed("rest_framework_simplejwt.token_blacklist"):
        return [
            checks.Error(
                "ROTATE_REFRESH_TOKENS is on but rest_framework_simplejwt.token_blacklist "
                "is not installed: rotated refresh tokens could be reused.",
                hint="Add 'rest_framework_simplejwt.token_blacklist' to INSTALLED_APPS.",
                id="accounts.E001",
            )
        ]
    return []


def check_secrets(app_configs, **kwargs):
    """Missing or weak signing keys (see ``SECRET_PROBLEMS`` in config/settings.py)."""
    return [
        checks.Error(problem, hint="Set it in the environment.", id="accounts.E002")
        for problem in getattr(settings, "SECRET_PROBLEMS", [])
    ]


def check_jwt_key_fallbacks(app_configs, **kwargs):
    """Fallback JWT keys that nothing would verify with are a silent sign-out.

    ``JWT_SIGNING_KEY_FALLBACKS`` works through ``accounts.tokens``' token
    classes; with simplejwt's own classes (or an asymmetric algorithm, where a
    fallback would need a public key) every old token would be refused.
    """
    if not getattr(settings, "JWT_SIGNING_KEY_FALLBACKS", None):
        return []
    from .tokens import AccessToken

    jwt = getattr(settings, "SIMPLE_JWT", {})
    classes = [import_string(path) for path in jwt.get("AUTH_TOKEN_CLASSES", ())]
    problems = []
    if not classes or not all(issubclass(cls, AccessToken) for cls in classes):
        problems.append(
            checks.Error(
                "JWT_SIGNING_KEY_FALLBACKS is set but SIMPLE_JWT['AUTH_TOKEN_CLASSES'] does not "
                "verify with it: tokens signed with an old key would be refused.",
                hint="Use 'accounts.tokens.AccessToken'.",
                id="accounts.E003",
            )
        )
    if not str(jwt.get("ALGORITHM", "HS256")).startswith("HS"):
        problems.append(
            checks.Error(
                "JWT_SIGNING_KEY_FALLBACKS holds HMAC keys; it cannot be used with "
                f"{jwt.get('ALGORITHM')}.",
                id="accounts.E003",
            )
        )
    return problems


def check_refresh_cookie_secure(app_configs, **kwargs):
    """In production the web app's refresh cookie must never travel over plain HTTP."""
    if getattr(settings, "JWT_REFRESH_COOKIE_SECURE", True):
        return []
    return [
        checks.Warning(
            "JWT_REFRESH_COOKIE_SECURE is off: the web app's refresh token cookie would "
            "also be sent over plain HTTP.",
            hint="Unset JWT_REFRESH_COOKIE_SECURE (it defaults to on unless DJANGO_DEBUG).",
            id="accounts.W001",
        )
    ]
