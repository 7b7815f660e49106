from django.conf import settings
from django.core.validators import MinValueValidator
from django.db import models
from django.utils import timezone

from common.emails import CanonicalEmailField


class AgentQuerySet(models.QuerySet):
    def eligible(self, now=None):
        """Agents distribution may hand leads to right now."""
        now = now or timezone.now()
        return self.filter(is_active=True, accepts_leads=True, user__is_active=True).filter(
            models.Q(away_until__isnull=True) | models.Q(away_until__lte=now)
        )


class Agent(models.Model):
    """A sales agent: the profile of a user whose role is ``agent``."""

    user = models.OneToOneField(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="agent_profile"
    )
    name = models.CharField(max_length=150)
    # The login's address (``agents.services`` keeps the two equal), in its canonical form.
    email = CanonicalEmailField(unique=True)
    mobile = models.CharField(max_length=16, help_text="E.164, e.g. +919876543210")
    is_active = models.BooleanField(default=True)
    accepts_leads = models.BooleanField(default=True)
    away_until = models.DateTimeField(null=True, blank=True)
    weight = models.PositiveIntegerField(default=1, validators=[MinValueValidator(1)])
    capacity = models.PositiveIntegerField(
        null=True, blank=True, help_text="Most open leads at once; empty means no limit."
    )
    notify_assignments = models.BooleanField(
        "email on new leads",
        default=True,
        help_text="One email per import or distribution that gives the agent leads.",
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = AgentQuerySet.as_manager()

    class Meta:
        ordering = ["id"]
        constraints = [
            models.CheckConstraint(condition=models.Q(weight__gte=1), name="agent_weight_positive"),
        ]

    def __str__(self):
        return f"{self.name} <{self.email}>"
