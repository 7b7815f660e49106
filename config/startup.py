"""What a serving process checks before it takes a request.

``manage.py`` runs Django's system checks before most commands, but gunicorn
and ASGI servers only import ``config.wsgi`` / ``config.asgi``: without this, a
server whose configuration fails a check (``accounts.E001``, a CSRF origin
without a scheme, …) would start and serve anyway. Both entry points call
:func:`refuse_bad_configuration`, so such a server stops at start-up with the
checks' messages, as it does for missing secrets.
"""

import logging

from django.conf import settings
from django.core import checks
from django.core.exceptions import ImproperlyConfigured

logger = logging.getLogger(__name__)

# The checks whose outcome depends on the settings (and so on the environment).
# Left out: "models" and "database". Model checks only see code, which CI
# checks; the database may not be up yet when a pod starts (/readyz waits for
# it). Untagged checks are left out too: drf-spectacular's would generate the
# whole OpenAPI schema in every worker (CI checks the schema).
DEPLOY_TAGS = (
    checks.Tags.security,
    checks.Tags.caches,
    checks.Tags.compatibility,
    checks.Tags.files,
    checks.Tags.staticfiles,
    checks.Tags.templates,
    checks.Tags.translation,
    checks.Tags.admin,
    checks.Tags.urls,
)


def refuse_without_secrets():
    """Serving entry points stop here when a signing key is missing or weak."""
    if settings.SECRET_PROBLEMS:
        raise ImproperlyConfigured(" ".join(settings.SECRET_PROBLEMS))


def refuse_bad_configuration():
    """Run the deploy-relevant system checks; any error stops the server.

    The deployment checks (``check --deploy``) run unless ``DEBUG`` is on,
    where their warnings are expected. Errors raise ``ImproperlyConfigured``
    with every message (the server does not start); warnings are logged.
    ``SILENCED_SYSTEM_CHECKS`` is honoured.
    """
    refuse_without_secrets()
    found = checks.run_checks(tags=DEPLOY_TAGS, include_deployment_checks=not settings.DEBUG)
    found = [message for message in found if not message.is_silenced()]
    errors = [message for message in found if message.is_serious()]
    for message in found:
        if not message.is_serious():
            logger.warning("system check: %s", message)
    if errors:
        raise ImproperlyConfigured(
            "System checks failed, refusing to serve:\n"
            + "\n".join(str(message) for message in errors)
        )
