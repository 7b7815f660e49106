from django.contrib.auth.backends import ModelBackend

from common.emails import normalize_email


class EmailBackend(ModelBackend):
    """Log in by email, whatever its case; same timing for unknown users."""

    def authenticate(self, request, username=None, password=None, email=None, **kwargs):
        return super().authenticate(
            request, username=normalize_email(email or username), password=password, **kwargs
        )
