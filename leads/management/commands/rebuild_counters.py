from common.commands import ServiceCommand
from leads import counters

SHOWN = 50


class Command(ServiceCommand):
    help = (
        "Recount the dashboard's counters (leads per agent and status, created and assigned "
        "per day) from the leads and assignments, and fix those that differ. Runs on a "
        "consistent snapshot without locking the desk; writes made meanwhile are kept."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--dry-run", action="store_true", help="only report the differences, fix nothing"
        )

    def handle(self, *args, dry_run, **options):
        found = counters.rebuild(dry_run=dry_run)
        if not found:
            self.stdout.write(self.style.SUCCESS("Counters match a full recount; nothing to fix."))
            return
        for diff in found[:SHOWN]:
            self.stdout.write(f"  {diff}")
        if len(found) > SHOWN:
            self.stdout.write(f"  … and {len(found) - SHOWN} more")
        if dry_run:
            self.stdout.write(f"{len(found)} counters differ from a full recount (dry run).")
        else:
            self.stdout.write(self.style.SUCCESS(f"Fixed {len(found)} counters."))
