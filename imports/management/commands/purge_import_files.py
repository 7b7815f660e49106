"""``manage.py purge_import_files``: delete the stored files of old failed import batches."""

from common.commands import ServiceCommand
from imports.services import purge_failed_files


class Command(ServiceCommand):
    help = (
        "Delete the stored files of failed import batches uploaded more than "
        "IMPORT_FAILED_FILE_RETENTION_DAYS days ago (refused uploads, zip bombs, imports "
        "that died); the batch rows stay as the import history. Batches whose process "
        "died mid-import are marked failed first. Run it daily (cron)."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--days",
            type=int,
            help="Keep the files of the last N days (default: IMPORT_FAILED_FILE_RETENTION_DAYS).",
        )
        parser.add_argument(
            "--dry-run", action="store_true", help="Print what would be removed; change nothing."
        )

    def handle(self, *args, **options):
        dry_run = options["dry_run"]
        result = purge_failed_files(days=options["days"], dry_run=dry_run)
        would = "Would mark" if dry_run else "Marked"
        for batch_id in result.reaped:
            self.stdout.write(f"{would} batch #{batch_id} failed: its import process died.")
        verb = "Would remove" if dry_run else "Removed"
        for batch_id, name, size in result.removed:
            shown = "already missing" if size is None else f"{size:,} bytes"
            self.stdout.write(f"{verb} {name} (batch #{batch_id}, {shown})")
        summary = (
            f"{verb} {len(result.removed)} file(s), {result.bytes:,} bytes, of failed batches "
            f"uploaded before {result.cutoff:%Y-%m-%d %H:%M} UTC; the batch rows stay."
        )
        self.stdout.write(self.style.WARNING(summary) if dry_run else self.style.SUCCESS(summary))
        if dry_run:
            self.stdout.write("Dry run: nothing was deleted or changed.")
