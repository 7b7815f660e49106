from django.core.management.base import BaseCommand, CommandError
from django.db import DEFAULT_DB_ALIAS, DatabaseError, connections

from accounts.roles import MANAGER_GROUP, MANAGER_PERMISSIONS, setup_roles


class Command(BaseCommand):
    help = (
        'Create or update the "Managers" group with exactly the admin permissions a '
        "manager needs (agents, leads, imports; read-only history; nothing on users or "
        "roles) and put every user whose role is manager in it, and no one else. "
        "Idempotent; also runs after every migrate."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--database", default=DEFAULT_DB_ALIAS, help="database alias (default: default)"
        )

    def handle(self, *args, database, **options):
        if database not in connections:
            raise CommandError(f"Unknown database alias {database!r}.")
        try:
            group = setup_roles(using=database)
        except (DatabaseError, RuntimeError) as exc:
            raise CommandError(f"Could not set up roles: {exc} (has migrate run?)") from exc
        members = group.user_set.count()
        self.stdout.write(
            self.style.SUCCESS(
                f'Group "{MANAGER_GROUP}": {group.permissions.count()} permissions on '
                f"{len(MANAGER_PERMISSIONS)} models, {members} manager(s)."
            )
        )
