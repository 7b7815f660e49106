from django.core.management.base import BaseCommand, CommandError

from .errors import DomainError


class ServiceCommand(BaseCommand):
    """A command that calls services: their ``DomainError`` is its ``CommandError``.

    The message goes to stderr and the exit status is 1, as for any refusal of
    the command's own.
    """

    def execute(self, *args, **options):
        try:
            return super().execute(*args, **options)
        except DomainError as exc:
            raise CommandError(exc.message) from exc
