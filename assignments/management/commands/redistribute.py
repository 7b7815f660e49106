from django.core.management.base import CommandError

from agents.models import Agent
from assignments import services
from assignments.distribution import STRATEGIES
from common.commands import ServiceCommand
from common.emails import normalize_email

from .distribute import write_summary


class Command(ServiceCommand):
    help = (
        "Move the open leads of one agent (--agent EMAIL) to the other eligible agents. "
        "Leads that fit nowhere (the others at capacity) are left unassigned and reported; "
        "with no other eligible agent nothing changes unless --leave-unassigned."
    )

    def add_arguments(self, parser):
        parser.add_argument("--agent", metavar="EMAIL", required=True, help="whose leads to move")
        parser.add_argument(
            "--strategy",
            choices=STRATEGIES,
            help="how to spread them (default: the DISTRIBUTION_STRATEGY setting)",
        )
        parser.add_argument(
            "--leave-unassigned",
            action="store_true",
            help="if no other agent is eligible, take the leads away anyway and leave them "
            "unassigned",
        )

    def handle(self, *args, agent, strategy, leave_unassigned, **options):
        found = Agent.objects.filter(email=normalize_email(agent)).first()
        if found is None:
            raise CommandError(f"No agent with email {agent!r}.")
        result = services.redistribute_agent(
            agent=found, strategy=strategy, allow_none=leave_unassigned
        )
        if not result.assigned and not result.unplaced_ids:
            self.stdout.write(f"{found.email} has no open leads; nothing to move.")
            return
        write_summary(self, result)
