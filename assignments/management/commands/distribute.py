from django.core.management.base import CommandError

from agents.models import Agent
from assignments import services
from assignments.distribution import STRATEGIES
from common.commands import ServiceCommand
from leads.models import ImportBatch


def write_summary(command, result):
    """Print a distribution result: totals, then one line per agent."""
    verb = "Would assign" if result.dry_run else "Assigned"
    command.stdout.write(
        command.style.SUCCESS(f"{verb} {result.assigned} leads ({result.strategy}).")
    )
    emails = dict(Agent.objects.filter(pk__in=result.per_agent).values_list("id", "email"))
    for agent_id, n in result.per_agent.items():
        command.stdout.write(f"  {emails.get(agent_id, agent_id)}: {n}")
    for entry in result.routing:
        command.stdout.write("  " + rule_line(entry))
    if result.unplaced_ids:
        command.stdout.write(
            command.style.WARNING(
                f"{len(result.unplaced_ids)} leads fit nowhere (every agent at capacity) "
                "and stay unassigned."
            )
        )


def rule_line(entry):
    """One line of a per-rule routing report."""
    rule = entry["rule"]
    target = f"team {entry['team']['name']}" if entry["team"] else f"agent {entry['agent']['name']}"
    line = f"rule {rule['position']} '{rule['name']}' → {target}: {entry['matched']} matched"
    if entry["no_eligible"]:
        line += f", no eligible member: {entry['fallback']} to the fallback"
    elif entry["unplaced"]:
        line += f", {entry['unplaced']} fit nowhere"
    return line


class Command(ServiceCommand):
    help = (
        "Hand every unassigned open lead (or one import's, with --batch) to the eligible "
        "agents: active, accepting leads and not away, never above their capacity. "
        "--dry-run shows who would get how many without writing or moving the rotation."
    )

    def add_arguments(self, parser):
        parser.add_argument(
            "--strategy",
            choices=STRATEGIES,
            help="round_robin, balanced (least open leads) or weighted "
            "(default: the DISTRIBUTION_STRATEGY setting)",
        )
        parser.add_argument("--dry-run", action="store_true", help="show the plan, change nothing")
        parser.add_argument("--batch", metavar="ID", type=int, help="only leads of this import")

    def handle(self, *args, strategy, dry_run, batch, **options):
        if batch is not None and not ImportBatch.objects.filter(pk=batch).exists():
            raise CommandError(f"No import batch with id {batch}.")
        result = services.distribute(strategy=strategy, dry_run=dry_run, batch=batch)
        if not result.assigned and not result.unplaced_ids:
            self.stdout.write("Nothing to distribute: no unassigned open leads.")
            return
        write_summary(self, result)
