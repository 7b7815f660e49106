from django.apps import AppConfig
from django.core import checks as django_checks


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from django.db.models.signals import post_migrate

        from . import checks, schema, signals  # noqa: F401 - schema registers the OpenAPI scheme
        from .roles import setup_roles_after_migrate

        post_migrate.connect(setup_roles_after_migrate, sender=self)
        django_checks.register(checks.check_token_blacklist, django_checks.Tags.security)
        django_checks.register(checks.check_secrets, django_checks.Tags.security, deploy=True)
