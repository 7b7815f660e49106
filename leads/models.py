from django.conf import settings
from django.db import models


class LeadStatus(models.TextChoices):
    NEW = "new", "New"
    CONTACTED = "contacted", "Contacted"
    QUALIFIED = "qualified", "Qualified"
    CONVERTED = "converted", "Converted"
    LOST = "lost", "Lost"


OPEN_STATUSES = (LeadStatus.NEW, LeadStatus.CONTACTED, LeadStatus.QUALIFIED)


class _Everyone:
    def __repr__(self):
        return "EVERYONE"


# What ``visible_owner`` answers for managers and admins: every agent's rows.
EVERYONE = _Everyone()


def visible_owner(user):
    """Whose rows ``user`` may see: the one place the rule is written.

    Managers and admins see every agent's rows (``EVERYONE``); an agent sees
    only its own (its ``Agent``); anyone else, an agent login without a profile
    included, sees none (``None``). ``AgentOwnedQuerySet.visible_to`` applies it
    to rows; the lead list's compiled page and the dashboard's cache scope,
    which take no queryset, ask it directly.
    """
    if not getattr(user, "is_authenticated", False):
        return None
    if user.is_manager_or_admin:
        return EVERYONE
    return getattr(user, "agent_profile", None)


class AgentOwnedQuerySet(models.QuerySet):
    """Rows that belong to an agent through their ``agent`` foreign key (leads,
    assignments)."""

    def owned_by(self, owner):
        """The rows of ``owner`` as ``visible_owner`` names it: all of them for
        ``EVERYONE``, one agent's, none for ``None``."""
        if owner is EVERYONE:
            return self
        if owner is None:
            return self.none()
        return self.filter(agent=owner)

    def visible_to(self, user):
        """The rows ``user`` may see.

        Scoping the queryset (not only checking objects) is what turns another
        agent's row into a 404 rather than a 403.
        """
        return self.owned_by(visible_owner(user))


class LeadQuerySet(AgentOwnedQuerySet):
    def open(self):
        return self.filter(status__in=OPEN_STATUSES)


class ImportBatch(models.Model):
    """One upload or command import of a lead list.

    A batch is ``processing`` while one process reads it into a preview or
    commits it; only that process (the holder of ``processing_token``) moves it
    on, to ``preview``, ``committed`` or ``failed``. A ``processing`` batch
    whose process died is recognised and marked ``failed`` by the next one to
    look (``imports.committing``); ``processing_since`` is when the current
    processing started. Work handed to the Celery workers waits as ``queued``
    (``action`` says which); a worker's claim makes it ``processing``, and a
    batch whose worker died is queued again or failed (``imports.queueing``).
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        PREVIEW = "preview", "Preview"
        COMMITTED = "committed", "Committed"
        FAILED = "failed", "Failed"
        UNDONE = "undone", "Undone"
        CANCELLED = "cancelled", "Cancelled"

    class Action(models.TextChoices):
        """The work a ``queued`` or ``processing`` batch waits for or gets."""

        IMPORT = "import", "Import and commit"
        PREVIEW = "preview", "Read into a preview"
        COMMIT = "commit", "Commit the preview"
        UNDO = "undo", "Undo the import"

    class Dedupe(models.TextChoices):
        SKIP = "skip", "Skip duplicates"
        UPDATE = "update", "Update existing leads"

    file_name = models.CharField(max_length=255)
    sha256 = models.CharField(max_length=64, db_index=True)
    file = models.FileField(upload_to="imports/%Y/%m/", blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    committed_at = models.DateTimeField(null=True, blank=True)
    undone_at = models.DateTimeField(null=True, blank=True)
    source = models.CharField(max_length=16, default="api")
    strategy = models.CharField(max_length=32, blank=True)
    dedupe = models.CharField(max_length=16, choices=Dedupe.choices, default=Dedupe.SKIP)
    distribute = models.BooleanField(default=True)
    strict = models.BooleanField(default=False)
    state = models.CharField(max_length=16, choices=State.choices, default=State.PREVIEW)
    processing_token = models.CharField(max_length=32, blank=True, editable=False)
    processing_since = models.DateTimeField(null=True, blank=True, editable=False)
    # The queue (imports.queueing): what the batch's work is, when it was last
    # handed to the workers (null: never, it was processed inline), how many
    # times a worker claimed it, and who asked (the request id, for the logs).
    action = models.CharField(max_length=16, choices=Action.choices, blank=True)
    queued_at = models.DateTimeField(null=True, blank=True, editable=False)
    attempts = models.PositiveSmallIntegerField(default=0, editable=False)
    request_id = models.CharField(max_length=64, blank=True, editable=False)
    # The last progress written with the batch row (stage, rows_done, rows_total,
    # percent); while the work runs, the live value is in the cache.
    progress = models.JSONField(default=dict, blank=True, editable=False)
    rows = models.PositiveIntegerField(default=0)
    created = models.PositiveIntegerField(default=0)
    updated = models.PositiveIntegerField(default=0)
    duplicates = models.PositiveIntegerField(default=0)
    invalid = models.PositiveIntegerField(default=0)
    assigned = models.PositiveIntegerField(default=0)
    unassigned = models.PositiveIntegerField(default=0)
    per_agent = models.JSONField(default=dict, blank=True)
    errors = models.JSONField(default=list, blank=True)
    duplicate_rows = models.JSONField(default=list, blank=True)
    message = models.TextField(blank=True)

    class Meta:
        ordering = ["-id"]
        verbose_name_plural = "import batches"

    def __str__(self):
        return f"#{self.pk} {self.file_name} ({self.state})"


class Lead(models.Model):
    first_name = models.CharField(max_length=150)
    last_name = models.CharField(max_length=150, blank=True)
    phone = models.CharField(max_length=16, unique=True, help_text="E.164")
    email = models.EmailField(blank=True)
    notes = models.TextField(blank=True)
    status = models.CharField(
        max_length=16, choices=LeadStatus.choices, default=LeadStatus.NEW, db_index=True
    )
    next_follow_up = models.DateTimeField(null=True, blank=True, db_index=True)
    agent = models.ForeignKey(
        "agents.Agent", null=True, blank=True, on_delete=models.PROTECT, related_name="leads"
    )
    batch = models.ForeignKey(
        ImportBatch, null=True, blank=True, on_delete=models.SET_NULL, related_name="leads"
    )
    extra = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    objects = LeadQuerySet.as_manager()

    class Meta:
        ordering = ["-id"]
        # Every index answers a query of the lead list (README, "Indexes"). InnoDB
        # appends the primary key to each, so (agent, X) also orders by X then id:
        # an agent's page in any of the list's orderings is an index range of its
        # own rows, never a sort of them (leads/tests/test_query_plans.py).
        indexes = [
            # The agent's default list (newest first) and managers' ?agent=.
            models.Index(fields=["agent"], name="lead_agent_idx"),
            # ?status= within an agent's leads, ?ordering=status, open counts.
            models.Index(fields=["agent", "status"], name="lead_agent_status_idx"),
            # The follow-up views' totals: open statuses and a follow-up range,
            # counted from the index alone (the page reads lead_agent_follow_up_idx).
            models.Index(
                fields=["agent", "status", "next_follow_up"], name="lead_agent_status_fu_idx"
            ),
            # ?view=due_today / ?view=overdue and ?ordering=next_follow_up.
            models.Index(fields=["agent", "next_follow_up"], name="lead_agent_follow_up_idx"),
            models.Index(fields=["agent", "created_at"], name="lead_agent_created_idx"),
            models.Index(fields=["agent", "updated_at"], name="lead_agent_updated_idx"),
            models.Index(fields=["agent", "first_name"], name="lead_agent_first_name_idx"),
            # An agent's name and email search: each prefix a range of its own rows.
            models.Index(fields=["agent", "last_name"], name="lead_agent_last_name_idx"),
            models.Index(fields=["agent", "email"], name="lead_agent_email_idx"),
            # Managers' name and email search: prefix matches are index ranges.
            models.Index(fields=["first_name"], name="lead_first_name_idx"),
            models.Index(fields=["last_name"], name="lead_last_name_idx"),
            models.Index(fields=["email"], name="lead_email_idx"),
        ]

    def __str__(self):
        return f"{self.first_name} {self.last_name}".strip() + f" {self.phone}"

    @property
    def is_open(self):
        return self.status in OPEN_STATUSES


class LeadActivity(models.Model):
    """Append-only timeline of a lead."""

    class Kind(models.TextChoices):
        CREATED = "created", "Created"
        STATUS = "status", "Status changed"
        NOTE = "note", "Notes changed"
        FOLLOW_UP = "follow_up", "Follow-up set"
        ASSIGNED = "assigned", "Assigned"
        UPDATED = "updated", "Updated"

    lead = models.ForeignKey(Lead, on_delete=models.CASCADE, related_name="activities")
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL
    )
    kind = models.CharField(max_length=16, choices=Kind.choices)
    old_value = models.TextField(blank=True)
    new_value = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        verbose_name_plural = "lead activities"
        indexes = [models.Index(fields=["lead", "created_at"], name="activity_lead_time_idx")]

    def __str__(self):
        return f"{self.lead_id} {self.kind} {self.created_at:%Y-%m-%d %H:%M}"


# Who a counter row is about: an agent's id, or this for the leads nobody owns.
# Not NULL: a unique key treats NULLs as distinct, and the counters are kept
# with "insert, or add to the row with this key" upserts.
NO_AGENT = 0


class LeadCount(models.Model):
    """How many leads an agent (``agent_key``, ``NO_AGENT`` for none) has in a status.

    Kept by ``leads.counters`` in the same transaction as every write that
    creates, deletes, moves or re-statuses leads, so the dashboard reads these
    few rows instead of counting the leads. ``manage.py rebuild_counters``
    recounts them from the leads.
    """

    agent_key = models.BigIntegerField()
    status = models.CharField(max_length=16, choices=LeadStatus.choices)
    count = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["agent_key", "status"], name="leadcount_key_uniq")
        ]

    def __str__(self):
        return f"agent {self.agent_key or '-'} {self.status}: {self.count}"


class DayCount(models.Model):
    """Per day (in ``TIME_ZONE``) and agent: leads created that day that the
    agent owns now (``created``), and assignments made to it that day
    (``assigned``). The dashboard's 30-day series; kept like ``LeadCount``."""

    day = models.DateField()
    agent_key = models.BigIntegerField()
    created = models.BigIntegerField(default=0)
    assigned = models.BigIntegerField(default=0)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["day", "agent_key"], name="daycount_key_uniq")
        ]

    def __str__(self):
        return f"{self.day} agent {self.agent_key or '-'}: +{self.created} / {self.assigned}"


class ExportJob(models.Model):
    """A big lead export, written to storage by a worker (``leads.tasks``).

    Only ``created_by`` may see it or download its file; ``query`` is the
    export's query string (its filters and search), ``rows`` the rows written.
    """

    class State(models.TextChoices):
        QUEUED = "queued", "Queued"
        PROCESSING = "processing", "Processing"
        DONE = "done", "Done"
        FAILED = "failed", "Failed"

    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="export_jobs"
    )
    state = models.CharField(max_length=16, choices=State.choices, default=State.QUEUED)
    query = models.JSONField(default=dict, blank=True)
    rows = models.PositiveIntegerField(default=0)
    rows_total = models.PositiveIntegerField(default=0)
    file = models.FileField(upload_to="exports/%Y/%m/", blank=True)
    message = models.TextField(blank=True)
    request_id = models.CharField(max_length=64, blank=True, editable=False)
    created_at = models.DateTimeField(auto_now_add=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-id"]

    def __str__(self):
        return f"export #{self.pk} ({self.state})"
