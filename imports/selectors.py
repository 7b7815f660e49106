"""A lead's timeline, with the "created" entry of an imported lead derived from its batch.

An import writes no timeline row per lead (a 100k-row import spent ~1.3 s,
a million rows ~12 s, on one ``INSERT … SELECT`` per chunk for them). What that
row said is already stored elsewhere: the lead's ``batch`` and ``created_at``,
the batch's ``created_by`` and the agent of the lead's import ``Assignment``
(reason ``import``, that batch), which later reassignments end but never
change. :class:`LeadTimeline` puts the entry back where the row stood, so
the API and the admin show the timeline exactly as before. Leads imported
before this, which have a stored "created" row, are shown with that row alone.
"""

from django.db.models import Count, OuterRef, Q, Subquery

from assignments.models import Assignment, Reason
from leads.models import ImportBatch, LeadActivity

# The id of the derived entry, which is no stored row: below every real id, so
# it also sorts last among entries of the same time (the timeline's order is
# ``-created_at, -id``), where the stored row, written first, stood.
DERIVED_ID = 0


def import_label(batch_id, agent_email=""):
    """How the timeline names an import: "import #N", or "import #N, assigned to <email>"."""
    label = f"import #{batch_id}"
    return f"{label}, assigned to {agent_email}" if agent_email else label


class LeadTimeline:
    """A lead's activity, newest first, as a sequence Django's ``Paginator`` pages.

    The stored rows (``lead.activities``, actors loaded) and, for a lead of an
    import without a stored "created" row, that entry derived from the batch
    (:meth:`derived_created`), in its place in the time order: after every
    row from its ``created_at`` on (in practice the last entry). Reading it
    costs one ``COUNT`` query on construction, then per slice one query for
    the stored rows in it and one for the derived entry if it is in it,
    however long the timeline is.
    """

    ordered = True  # for Paginator: the order is the timeline's, not the database's whim

    def __init__(self, lead):
        self.lead = lead
        counts = LeadActivity.objects.filter(lead=lead).aggregate(
            total=Count("id"),
            created=Count("id", filter=Q(kind=LeadActivity.Kind.CREATED)),
            newer=Count("id", filter=Q(created_at__gte=lead.created_at)),
        )
        self._stored = counts["total"]
        # Where the derived entry stands in the newest-first list, or None.
        self._position = None
        if lead.batch_id is not None and not counts["created"]:
            self._position = counts["newer"]

    def count(self):
        return self._stored + (self._position is not None)

    def __len__(self):
        return self.count()

    def __getitem__(self, key):
        if not isinstance(key, slice):
            raise TypeError("LeadTimeline is read by slices")
        start, stop, step = key.indices(self.count())
        if step != 1:
            raise ValueError("LeadTimeline is read by contiguous slices")
        position = self._position
        if position is None or not start <= position < stop:
            # Past the derived entry the stored rows are one place earlier.
            shift = int(position is not None and start > position)
            return self._rows(start - shift, stop - shift)
        entries = self._rows(start, position)
        entries.append(self.derived_created())
        entries.extend(self._rows(position, stop - 1))
        return entries

    def _rows(self, start, stop):
        if stop <= start:
            return []
        entries = (
            LeadActivity.objects.filter(lead=self.lead)
            .select_related("actor")
            .order_by("-created_at", "-id")
        )
        return list(entries[start:stop])

    def derived_created(self):
        """The "created" entry the import would have stored, as an unsaved ``LeadActivity``.

        One query: the batch's ``created_by`` (the actor) and the email of the
        agent the import gave the lead (none when it left the lead unassigned).
        """
        lead = self.lead
        import_agent = Assignment.objects.filter(
            lead_id=lead.pk, batch_id=OuterRef("pk"), reason=Reason.IMPORT
        ).order_by("id")
        batch = (
            ImportBatch.objects.select_related("created_by")
            .only("id", "created_by")
            .annotate(agent_email=Subquery(import_agent.values("agent__email")[:1]))
            .get(pk=lead.batch_id)
        )
        return LeadActivity(
            id=DERIVED_ID,
            lead=lead,
            actor=batch.created_by,
            kind=LeadActivity.Kind.CREATED,
            old_value="",
            new_value=import_label(batch.pk, batch.agent_email),
            created_at=lead.created_at,
        )
