from django.apps import AppConfig
from django.core import checks as django_checks
from django.core.signals import request_finished
from django.db.models.signals import post_migrate, post_save, pre_save


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        """Connect every hook of the app here, where they can be read in one place."""
        # Not accounts.schema (the OpenAPI description, with the JWT scheme): it is
        # the API's DEFAULT_SCHEMA_CLASS, so drf-spectacular imports it before it
        # describes any view. Importing it here loaded DRF's serializers (requests,
        # pygments, ...) into every process, ``manage.py import_leads`` included.
        from . import checks, mail, signals
        from .models import User
        from .roles import setup_roles_after_migrate

        post_migrate.connect(
            setup_roles_after_migrate, sender=self, dispatch_uid="accounts.setup_roles"
        )
        pre_save.connect(
            signals.detect_security_changes,
            sender=User,
            dispatch_uid="accounts.detect_security_changes",
        )
        post_save.connect(
            signals.revoke_on_security_changes,
            sender=User,
            dispatch_uid="accounts.revoke_on_security_changes",
        )
        post_save.connect(
            signals.keep_role_group, sender=User, dispatch_uid="accounts.keep_role_group"
        )
        request_finished.connect(
            mail.send_pending_after_request, dispatch_uid="accounts.send_pending_emails"
        )
        django_checks.register(checks.check_token_blacklist, django_checks.Tags.security)
        django_checks.register(checks.check_secrets, django_checks.Tags.security, deploy=True)
        django_checks.register(checks.check_jwt_key_fallbacks, django_checks.Tags.security)
        django_checks.register(
            checks.check_refresh_cookie_secure, django_checks.Tags.security, deploy=True
        )
