from common.commands import ServiceCommand
from ops.backups import restore_backup


class Command(ServiceCommand):
    help = (
        "Restore the database and the uploaded files from a backup archive (a path, "
        "s3://BUCKET/KEY, or an archive name in the configured backups storage). The "
        "archive's checksums and manifest are verified before anything is touched; a "
        "database that holds users, agents or leads is refused without --force. The "
        "restored row counts and leads checksum are checked against the manifest, and "
        "every login token issued before the restore stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("source", metavar="PATH|s3://BUCKET/KEY")
        parser.add_argument(
            "--force",
            action="store_true",
            help="replace a database that already holds data (everything in it is lost)",
        )

    def handle(self, *args, source, force, **options):
        result = restore_backup(source=source, force=force, progress=self.stdout.write)
        width = max(map(len, result.tables), default=0)
        for table, rows in sorted(result.tables.items()):
            self.stdout.write(f"  {table:<{width}}  {rows:>10}")
        self.stdout.write(
            self.style.SUCCESS(
                f"Restored the backup of {result.manifest['created_at']}: "
                f"{sum(result.tables.values())} rows in {len(result.tables)} tables match "
                f"the manifest, leads checksum verified, {result.media_files} uploaded files, "
                f"in {result.seconds:.1f}s. Every session was ended: users sign in again."
            )
        )
