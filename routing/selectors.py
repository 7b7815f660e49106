"""Reads of the routing configuration that carry their queries."""

from .models import Fallback, RoutingRule, RoutingSettings, Team


def routing_settings():
    """The desk's settings row (pk 1); an unsaved default when none was written yet."""
    return RoutingSettings.objects.filter(pk=1).first() or RoutingSettings(
        pk=1, fallback=Fallback.POOL
    )


def teams_with_members():
    """Teams with their member ids prefetched (one query each)."""
    return Team.objects.prefetch_related("members").order_by("name", "id")


def rules_in_order():
    return RoutingRule.objects.select_related("team", "agent").order_by("position", "id")


def current_snapshot():
    """The active rules, their teams (members, strategy) and the fallback, as JSON data.

    What a distribution routes with; an import stores it with its batch
    (``BatchRouting``) when it starts, so the commit routes exactly as the
    preview did. Three queries, whatever the number of rules.
    """
    rules = list(
        RoutingRule.objects.filter(active=True).select_related("agent").order_by("position", "id")
    )
    team_ids = {rule.team_id for rule in rules if rule.team_id is not None}
    teams = {}
    if team_ids:
        for team in Team.objects.filter(pk__in=team_ids).prefetch_related("members"):
            teams[str(team.pk)] = {
                "name": team.name,
                "strategy": team.strategy,
                "active": team.active,
                "members": sorted(member.pk for member in team.members.all()),
            }
    return {
        "fallback": routing_settings().fallback,
        "rules": [
            {
                "id": rule.pk,
                "name": rule.name,
                "position": rule.position,
                "conditions": rule.conditions,
                "team": rule.team_id,
                "agent": rule.agent_id,
            }
            for rule in rules
        ],
        "teams": teams,
        "agents": {str(rule.agent_id): rule.agent.name for rule in rules if rule.agent_id},
    }
