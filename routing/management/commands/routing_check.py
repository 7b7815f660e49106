import json
import os

from django.core.management.base import CommandError

from agents.models import Agent
from assignments.management.commands.distribute import rule_line
from common.commands import ServiceCommand
from imports.services import import_path
from routing.selectors import routing_settings, rules_in_order


class Command(ServiceCommand):
    help = (
        "Print the routing rules in order and, given a lead file, how its leads would "
        "route (per rule: matched, split among the team's agents, fallback). Writes nothing."
    )

    def add_arguments(self, parser):
        parser.add_argument("file", nargs="?", help="a CSV/XLSX/XLS lead file to route (dry run)")

    def handle(self, *args, file=None, **options):
        rules = list(rules_in_order())
        self.stdout.write(f"Fallback: {routing_settings().get_fallback_display()}")
        if not rules:
            self.stdout.write("No routing rules: every lead goes to the default pool.")
        for rule in rules:
            target = f"team {rule.team.name}" if rule.team_id else f"agent {rule.agent.name}"
            state = "" if rule.active else " (inactive)"
            conditions = (
                json.dumps(rule.conditions, ensure_ascii=False) if rule.conditions else "every lead"
            )
            self.stdout.write(f"{rule.position}. {rule.name}{state} → {target}: {conditions}")
        if not file:
            return
        if not os.path.isfile(file):
            raise CommandError(f"No such file: {file}")
        outcome = import_path(path=file, dry_run=True, force=True).outcome
        self.stdout.write(
            self.style.SUCCESS(
                f"{file}: {outcome.created} new leads, {outcome.assigned} would be assigned, "
                f"{outcome.unassigned_count} left unassigned."
            )
        )
        for entry in outcome.routing:
            self.stdout.write("  " + rule_line(entry))
        matched = sum(entry["matched"] for entry in outcome.routing)
        self.stdout.write(f"  no rule matched: {outcome.created - matched}")
        names = dict(Agent.objects.filter(pk__in=outcome.per_agent).values_list("id", "email"))
        for agent_id, count in sorted(outcome.per_agent.items()):
            if count:
                self.stdout.write(f"  {names.get(agent_id, agent_id)}: {count}")
        if outcome.message:
            self.stdout.write(self.style.WARNING(outcome.message))
