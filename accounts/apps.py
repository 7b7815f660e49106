from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "accounts"

    def ready(self):
        from django.db.models.signals import post_migrate

        from .roles import setup_roles_after_migrate

        post_migrate.connect(setup_roles_after_migrate, sender=self)

        from . import checks, schema, signals  # noqa: F401 - registers the check, hooks, schema
