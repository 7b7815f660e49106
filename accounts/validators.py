"""Refuse passwords known from breaches (HaveIBeenPwned, k-anonymity).

Only the first five hex characters of the password's SHA-1 leave the server;
the range API answers every suffix with that prefix and the match is made
here. Enabled by ``PASSWORD_BREACH_CHECK=true``. If the service cannot be
reached the password is accepted and a warning logged: an outage elsewhere
must not stop people from changing a password.
"""

import hashlib
import logging
import urllib.error
import urllib.request

from django.conf import settings
from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _

logger = logging.getLogger(__name__)


class BreachedPasswordValidator:
    def __init__(self, min_count=1):
        self.min_count = int(min_count)

    def _count(self, password):
        digest = hashlib.sha1(password.encode("utf-8")).hexdigest().upper()  # noqa: S324
        prefix, suffix = digest[:5], digest[5:]
        request = urllib.request.Request(  # noqa: S310 - URL from settings
            settings.PASSWORD_BREACH_API_URL.rstrip("/") + "/" + prefix,
            headers={"Add-Padding": "true", "User-Agent": "leadline-password-check"},
        )
        with urllib.request.urlopen(  # noqa: S310
            request, timeout=settings.PASSWORD_BREACH_TIMEOUT
        ) as response:
            body = response.read().decode("utf-8", "replace")
        for line in body.splitlines():
            candidate, _sep, count = line.strip().partition(":")
            if candidate.upper() == suffix:
                try:
                    return int(count)
                except ValueError:
                    return 1
        return 0

    def validate(self, password, user=None):
        try:
            count = self._count(password)
        except (OSError, urllib.error.URLError, ValueError) as exc:
            logger.warning("breached-password check unavailable: %s", exc.__class__.__name__)
            return
        if count >= self.min_count:
            raise ValidationError(
                _("This password has appeared in a data breach; choose another."),
                code="password_breached",
            )

    def get_help_text(self):
        return _("Your password must not appear in a known data breach.")
