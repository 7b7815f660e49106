"""Startup checks for token settings that would silently weaken security.

Registered in ``AccountsConfig.ready``.
"""

from django.apps import apps
from django.conf import settings
from django.core import checks


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
