from django.core.management.base import BaseCommand

from accounts.mail import send_pending


class Command(BaseCommand):
    help = (
        "Send again the emails the SMTP server did not take while tasks ran in-process "
        "(no worker): those whose next attempt is due. For cron; with workers, they retry."
    )

    def handle(self, *args, **options):
        result = send_pending()
        self.stdout.write(
            f"sent {result.sent}, failed again {result.retried}, given up {result.given_up}, "
            f"waiting {result.waiting}"
        )
