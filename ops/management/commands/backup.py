from django.conf import settings
from django.core.management.base import CommandError

from common.commands import ServiceCommand
from ops.backups import create_backup


class Command(ServiceCommand):
    help = (
        "Back up the database and the uploaded files into one .tar.gz with a manifest "
        "(time, engine, migrations, rows per table, sha256 of every member and of the "
        "leads table). MariaDB/MySQL via mariadb-dump --single-transaction; SQLite via the "
        "online backup API. Written to a temporary file and renamed, so a failure leaves "
        "no archive. Default destination: BACKUP_DIR, or the S3 bucket's backups/ prefix "
        "when AWS_S3_BUCKET is set."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--output",
            metavar="DIR|s3://BUCKET/PREFIX",
            help="where to write the archive (default: the configured backups storage)",
        )
        parser.add_argument(
            "--keep",
            metavar="N",
            type=int,
            default=settings.BACKUP_KEEP,
            help="afterwards delete all but the newest N archives there "
            "(default BACKUP_KEEP=%(default)s; 0 keeps all)",
        )

    def handle(self, *args, output, keep, **options):
        if keep < 0:
            raise CommandError("--keep must be 0 (keep all) or a positive number.")
        result = create_backup(output=output, keep=keep or None, progress=self.stdout.write)
        tables = result.manifest["tables"]
        self.stdout.write(
            self.style.SUCCESS(
                f"Backup {result.name} written to {result.location}: "
                f"{sum(tables.values())} rows in {len(tables)} tables, "
                f"{len(result.manifest['members']) - 1} uploaded files, "
                f"{result.size / 1e6:.1f} MB in {result.seconds:.1f}s"
                + (f"; pruned {len(result.pruned)} old archives" if result.pruned else "")
                + "."
            )
        )
