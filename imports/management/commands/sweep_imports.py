"""``manage.py sweep_imports``: requeue or fail import batches whose worker died."""

from common.commands import ServiceCommand
from imports.services import sweep


class Command(ServiceCommand):
    help = (
        "Find import work the workers lost: a batch 'processing' whose worker died is "
        "queued again (or failed after IMPORT_MAX_ATTEMPTS), a batch 'queued' longer than "
        "IMPORT_REQUEUE_AFTER_SECONDS has its message sent again. The workers' beat runs "
        "the same sweep every IMPORT_SWEEP_SECONDS; this is for cron or by hand."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be done; change nothing."
        )

    def handle(self, *args, **options):
        result = sweep(dry_run=options["dry_run"])
        prefix = "Dry run, would have " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}requeued: {result.requeued} failed: {result.failed} resent: {result.resent}"
        )
