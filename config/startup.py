from django.conf import settings
from django.core.exceptions import ImproperlyConfigured


def refuse_without_secrets():
    """Serving entry points stop here when a signing key is missing or weak."""
    if settings.SECRET_PROBLEMS:
        raise ImproperlyConfigured(" ".join(settings.SECRET_PROBLEMS))
