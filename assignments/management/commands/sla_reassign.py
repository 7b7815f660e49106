from django.conf import settings
from django.core.management.base import CommandError

from agents.models import Agent
from assignments import services
from assignments.distribution import STRATEGIES
from assignments.models import Reason
from common.commands import ServiceCommand
from leads.selectors import overdue_open_leads


class Command(ServiceCommand):
    help = (
        "Redistribute open leads nobody has touched (no update, no activity) for --hours "
        "(default LEAD_SLA_HOURS, 48) to other eligible agents, never back to the same one; "
        "history reason 'sla'. Leads no other agent can take stay where they are. Meant for "
        "cron, e.g. hourly: `manage.py sla_reassign`. --dry-run shows the plan only."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--hours",
            type=int,
            default=None,
            help="untouched for this many hours (default: the LEAD_SLA_HOURS setting)",
        )
        parser.add_argument("--dry-run", action="store_true", help="plan and report, write nothing")
        parser.add_argument(
            "--strategy",
            choices=STRATEGIES,
            help="how to spread them (default: the DISTRIBUTION_STRATEGY setting)",
        )

    def handle(self, *args, hours, dry_run, strategy, **options):
        hours = settings.LEAD_SLA_HOURS if hours is None else hours
        if hours < 1:
            raise CommandError("--hours must be at least 1.")
        overdue = list(overdue_open_leads(hours=hours).values_list("id", flat=True))
        if not overdue:
            self.stdout.write(f"No open lead has been untouched for {hours} hours.")
            return
        result = services.move_leads_from_owners(
            lead_ids=overdue, reason=Reason.SLA, strategy=strategy, dry_run=dry_run
        )
        prefix = "[dry run] would move" if dry_run else "Moved"
        self.stdout.write(
            self.style.SUCCESS(
                f"{prefix} {result.assigned} of {len(overdue)} lead(s) untouched for {hours}h "
                f"({len(result.skipped)} stay: no other agent could take them)."
            )
        )
        names = dict(Agent.objects.filter(pk__in=result.per_agent).values_list("id", "email"))
        for agent_id, count in result.per_agent.items():
            if count:
                self.stdout.write(f"  {names.get(agent_id, agent_id)}: +{count}")
