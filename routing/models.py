"""Teams, ordered routing rules and the desk's fallback (issue #15).

The rules sit in front of the distribution strategies: ``assignments.routed``
partitions leads by the first matching active rule and plans each part over
the target team's eligible members (with the team's strategy and its own
``RotationState`` row, pool ``team:<id>``) or the target agent; the rest go
to the fallback. Conditions are data (``routing.matching``).
"""

from django.db import models


class TeamStrategy(models.TextChoices):
    # The strategies of ``assignments.distribution`` (that module sits above this one).
    ROUND_ROBIN = "round_robin", "round robin"
    BALANCED = "balanced", "balanced"
    WEIGHTED = "weighted", "weighted"


class Team(models.Model):
    name = models.CharField(max_length=100, unique=True)
    active = models.BooleanField(default=True)
    strategy = models.CharField(
        max_length=16, choices=TeamStrategy.choices, default=TeamStrategy.ROUND_ROBIN
    )
    members = models.ManyToManyField("agents.Agent", related_name="teams", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return self.name

    @property
    def pool(self):
        """The team's ``RotationState.pool`` key."""
        return f"team:{self.pk}"


class RoutingRule(models.Model):
    name = models.CharField(max_length=100)
    position = models.PositiveIntegerField(default=0, db_index=True)
    active = models.BooleanField(default=True)
    # [{"field", "op", "value"}], validated by routing.matching.validate_conditions.
    conditions = models.JSONField(default=list, blank=True)
    # Exactly one target. PROTECT: a team or agent a rule routes to cannot vanish
    # under it (deleting such a team is refused with 409 ``team_in_use``).
    team = models.ForeignKey(
        Team, null=True, blank=True, on_delete=models.PROTECT, related_name="rules"
    )
    agent = models.ForeignKey(
        "agents.Agent",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="routing_rules",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["position", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(
                    models.Q(team__isnull=False, agent__isnull=True)
                    | models.Q(team__isnull=True, agent__isnull=False)
                ),
                name="routing_rule_one_target",
            )
        ]

    def __str__(self):
        return f"Rule {self.position} '{self.name}'"


class Fallback(models.TextChoices):
    POOL = "pool", "default pool (all eligible agents)"
    UNASSIGNED = "unassigned", "leave unassigned for a manager"


class RoutingSettings(models.Model):
    """The desk's routing settings: one row (pk 1), created on first read."""

    fallback = models.CharField(max_length=16, choices=Fallback.choices, default=Fallback.POOL)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "routing settings"
        verbose_name_plural = "routing settings"

    def __str__(self):
        return f"Fallback: {self.get_fallback_display()}"


class BatchRouting(models.Model):
    """The rules an import batch routes with, frozen when it started (its preview).

    The commit of a previewed batch routes with this snapshot, so changing
    rules while an import runs (or between preview and commit) does not change
    where its leads go. ``report`` is the per-rule summary of the last plan.
    """

    batch = models.OneToOneField(
        "leads.ImportBatch", on_delete=models.CASCADE, primary_key=True, related_name="routing"
    )
    snapshot = models.JSONField(default=dict)
    report = models.JSONField(default=list, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"routing of batch {self.batch_id}"
