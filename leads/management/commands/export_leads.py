from pathlib import Path

from django.core.management.base import BaseCommand, CommandError

from agents.models import Agent
from common.emails import normalize_email
from leads.exporting import write_csv, write_xlsx
from leads.models import ImportBatch, Lead, LeadStatus


class Command(BaseCommand):
    help = (
        "Export leads as CSV (default, to stdout or --output) or XLSX (--output required). "
        "Streams in chunks with flat memory. Cells that a spreadsheet would run as a formula "
        "(starting with =, +, -, @, tab or CR) get a leading ' ; plain numbers and E.164 "
        "phones are exported intact. Filters combine: --status (repeatable), --agent EMAIL, "
        "--batch ID."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--status",
            action="append",
            choices=LeadStatus.values,
            help="only leads with this status (repeat for several)",
        )
        parser.add_argument("--agent", metavar="EMAIL", help="only leads owned by this agent")
        parser.add_argument("--batch", metavar="ID", type=int, help="only leads of this import")
        parser.add_argument("--format", choices=["csv", "xlsx"], default="csv")
        parser.add_argument(
            "-o", "--output", metavar="PATH", help="file to write (default: stdout, CSV only)"
        )

    def handle(self, *args, status, agent, batch, format, output, **options):
        leads = Lead.objects.all()
        if status:
            leads = leads.filter(status__in=status)
        if agent:
            found = Agent.objects.filter(email=normalize_email(agent)).first()
            if found is None:
                raise CommandError(f"No agent with email {agent!r}.")
            leads = leads.filter(agent=found)
        if batch is not None:
            if not ImportBatch.objects.filter(pk=batch).exists():
                raise CommandError(f"No import batch with id {batch}.")
            leads = leads.filter(batch_id=batch)
        if format == "xlsx" and not output:
            raise CommandError("--format xlsx needs --output PATH (a workbook is not text).")
        if output and not Path(output).parent.resolve().is_dir():
            raise CommandError(f"Directory of {output!r} does not exist.")

        try:
            if format == "xlsx":
                count = write_xlsx(leads, output)
            elif output:
                with open(output, "w", encoding="utf-8", newline="") as fileobj:
                    count = write_csv(leads, fileobj)
            else:
                count = write_csv(leads, self.stdout)
        except OSError as exc:
            raise CommandError(f"Could not write {output}: {exc}") from exc
        where = output or "stdout"
        # The summary goes to stderr so a CSV on stdout stays clean.
        self.stderr.write(self.style.SUCCESS(f"Exported {count} leads to {where}."))
