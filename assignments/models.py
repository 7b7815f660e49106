from django.conf import settings
from django.db import models
from django.utils import timezone

from leads.models import AgentOwnedQuerySet


class Strategy(models.TextChoices):
    ROUND_ROBIN = "round_robin", "Round robin"
    BALANCED = "balanced", "Balanced (least loaded)"
    WEIGHTED = "weighted", "Weighted round robin"
    MANUAL = "manual", "Manual"


class Reason(models.TextChoices):
    IMPORT = "import", "Import"
    DISTRIBUTE = "distribute", "Distribute"
    MANUAL = "manual", "Manual reassignment"
    REDISTRIBUTE = "redistribute", "Redistribute"
    SLA = "sla", "SLA expired"


class Assignment(models.Model):
    """Append-only history of who owned a lead when.

    Invariant: a lead has at most one open row (``ended_at`` is null) and its
    agent is ``Lead.agent``. MariaDB has no partial unique index, so
    ``assignments.services`` holds it under row locks.
    """

    lead = models.ForeignKey("leads.Lead", on_delete=models.CASCADE, related_name="assignments")
    agent = models.ForeignKey("agents.Agent", on_delete=models.PROTECT, related_name="assignments")
    assigned_at = models.DateTimeField(default=timezone.now, db_index=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    batch = models.ForeignKey("leads.ImportBatch", null=True, blank=True, on_delete=models.SET_NULL)
    strategy = models.CharField(max_length=32, choices=Strategy.choices)
    reason = models.CharField(max_length=16, choices=Reason.choices)
    ended_at = models.DateTimeField(null=True, blank=True)
    end_reason = models.CharField(max_length=16, blank=True)
    # Why (issue #15): the routing rule and team that decided, kept as null when
    # they are deleted, and ``route``, the decision in words as it was made
    # ("Rule 3 'Gulf numbers' → team Arabic → round robin"). Empty ``route``:
    # no rules were defined (the default pool) or a manual reassignment;
    # ``explanation`` words those.
    rule = models.ForeignKey(
        "routing.RoutingRule",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="assignments",
    )
    team = models.ForeignKey(
        "routing.Team", null=True, blank=True, on_delete=models.SET_NULL, related_name="assignments"
    )
    route = models.CharField(max_length=255, blank=True)

    # ``visible_to(user)``: every row for managers and admins, an agent's own
    # rows (ended ones too) for an agent; the rule is ``leads.models.visible_owner``.
    objects = AgentOwnedQuerySet.as_manager()

    class Meta:
        ordering = ["-assigned_at", "-id"]
        indexes = [models.Index(fields=["lead", "ended_at"], name="assignment_lead_open_idx")]

    def __str__(self):
        return f"lead {self.lead_id} → agent {self.agent_id} ({self.reason})"

    @property
    def explanation(self):
        """Why this lead went to this agent, in words."""
        if self.route:
            return self.route
        if self.strategy == Strategy.MANUAL or self.reason == Reason.MANUAL:
            return "Manual reassignment (rules bypassed)"
        label = dict(Strategy.choices).get(self.strategy, self.strategy).lower()
        return f"Default pool → {label}"


class RotationState(models.Model):
    """Where round robin and weighted rotation stopped, per pool.

    Locked with ``select_for_update`` for the whole of a distribution, which also
    serializes concurrent distributions across processes.
    """

    pool = models.CharField(max_length=32, unique=True, default="default")
    last_agent_id = models.BigIntegerField(null=True, blank=True)
    weights = models.JSONField(default=dict, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    def __str__(self):
        return f"{self.pool}: after agent {self.last_agent_id}"
