"""The import engine: rows in, leads (or a plan of them) out, chunk by chunk.

One pass over the file in chunks of ``IMPORT_CHUNK_ROWS`` rows keeps memory
flat however long the file is. The reader thread (:mod:`imports.readahead`)
parses each chunk, has its phone numbers normalized in worker processes (one
chunk ahead) and validates it, dropping repeats of a phone seen earlier in
the file; with routing rules it also finds each new row's rule. Meanwhile
:func:`run`, in the calling thread that owns the database connection and the
caller's transaction, takes the previous chunk and, with
the SQL of :mod:`imports.writers`, deduplicates it against the database, has
``assignments.planning.plan_new_leads`` choose the new leads' agents, inserts
them already assigned, and has the service record their assignments
set-based. No timeline row is written per new lead: its "created" entry is
derived from the batch when the timeline is read (:mod:`imports.selectors`).
Stage timings are kept for the summary and the benchmark.
"""

import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field

from django.conf import settings
from django.utils import timezone

from assignments.planning import plan_new_leads
from assignments.results import NoEligibleAgent
from assignments.routed import Snapshot, merge_reports
from assignments.writers import record_import_assignments
from routing.matching import Router
from routing.selectors import current_snapshot

from . import writers
from .columns import map_columns
from .normalize import RowCleaner
from .readahead import ReadAhead
from .readers import InvalidFile, give_back_memory
from .timing import Clock


@dataclass
class Options:
    """How to import: the options of the upload form, the API and the command."""

    dedupe: str = "skip"
    strict: bool = False
    distribute: bool = True
    strategy: str | None = None
    region: str | None = None
    # The routing snapshot (``routing.selectors.current_snapshot``) the import
    # routes with; None: the current rules, read when the import starts (and
    # left here for the caller to store with the batch).
    routing: dict | None = None
    source: str = ""  # the file name, the ``source`` of rows without a source column


@dataclass
class Outcome:
    """Counts, reports and stage timings of one pass over a file.

    ``rows = created + duplicates + invalid``; ``updated`` counts the
    duplicates of existing leads that ``dedupe=update`` changed;
    ``unassigned_count`` the new leads that no agent could take (written, or
    for a preview planned, without one; ``ImportBatch.unassigned``).
    """

    rows: int = 0
    created: int = 0
    updated: int = 0
    duplicates: int = 0
    invalid: int = 0
    assigned: int = 0
    unassigned_count: int = 0
    per_agent: Counter = field(default_factory=Counter)
    errors: list = field(default_factory=list)
    duplicate_rows: list = field(default_factory=list)
    timings: dict = field(default_factory=lambda: defaultdict(float))
    message: str = ""
    errors_truncated: bool = False
    routing: list = field(default_factory=list)  # per rule (``assignments.routed``)
    matched: list = field(default_factory=list)  # a preview's rule per new lead (Matched)

    def merge(self, part, limit):
        """Add a validated chunk's counts and reports (the lists stay within ``limit``)."""
        self.rows += part.rows
        self.invalid += part.invalid
        self.duplicates += part.duplicates
        room = limit - len(self.errors)
        if part.errors_dropped or room < len(part.errors):
            self.errors_truncated = True
        self.errors.extend(part.errors[: max(room, 0)])
        room = limit - len(self.duplicate_rows)
        self.duplicate_rows.extend(part.duplicate_rows[: max(room, 0)])

    def timing_report(self):
        return {stage: round(seconds, 3) for stage, seconds in self.timings.items()}


def run(table, *, options, batch=None, actor=None, write=False, now=None, progress=None):
    """Read ``table`` and return its :class:`Outcome`; with ``write``, create the leads.

    ``write`` needs ``batch`` (the leads point at it) and an enclosing
    transaction: the leads, their activity and their assignments of every
    chunk are rolled back together if anything later fails. In ``strict``
    mode writing stops at the first bad row and the caller rejects the file.
    """
    outcome = Outcome()
    started = time.perf_counter()
    clock = Clock(outcome.timings)
    now = now or timezone.now()
    chunk_rows = settings.IMPORT_CHUNK_ROWS
    report_limit = settings.IMPORT_MAX_REPORTED_ROWS
    rows = iter(table)
    header = next(rows, None)
    if header is None:
        raise InvalidFile("The file has no header row.", code="empty_file")
    columns = map_columns(header[1])
    cleaner = RowCleaner(columns)
    clock.lap("read")

    distributing = write and options.distribute
    plan = None  # the distribution plan so far, carried from chunk to chunk
    router = None
    if options.distribute:
        if options.routing is None:
            options.routing = current_snapshot()
        if options.routing.get("rules"):
            router = Router(Snapshot.from_data(options.routing).rules)
    writing = write
    with ReadAhead(rows, cleaner, options, chunk_rows, report_limit, router=router) as reader:
        for part in reader:
            clock.lap("writer_idle")  # waiting for the reader thread
            outcome.merge(part, report_limit)
            existing = writers.existing_leads(part.phones, update=options.dedupe == "update")
            fresh, updates = writers.split_existing(
                part.fresh, existing, outcome, report_limit, options
            )
            clock.lap("dedupe")
            if options.strict and outcome.invalid:
                writing = False
            outcome.created += len(fresh)
            if router is not None and not write:
                outcome.matched.extend([row.matched for row in fresh])
            if writing:
                agents = None
                if distributing and fresh:
                    leads = None
                    if router is not None:  # each row's rule, found by the reader thread
                        leads = [row.matched for row in fresh]
                    plan = _distribute(
                        len(fresh), previous=plan, options=options, now=now, leads=leads
                    )
                    if plan is None:
                        distributing = False
                        outcome.message = "No eligible agent: the new leads were left unassigned."
                    else:
                        agents = plan.agents
                        _count_plan(plan, outcome)
                    clock.lap("distribute")
                floor = writers.insert_leads(fresh, agents, batch=batch, now=now)
                clock.lap("insert")
                if agents is not None:
                    routes = None
                    if plan.routes is not None:
                        routes = {
                            row.phone: route
                            for row, route in zip(fresh, plan.routes, strict=True)
                            if route is not None
                        }
                    _record(plan, batch=batch, actor=actor, now=now, after_id=floor, routes=routes)
                    clock.lap("assignments")
                outcome.updated += writers.update_leads(updates, batch=batch, actor=actor, now=now)
                clock.lap("update")
            else:
                outcome.updated += len(updates)
            if progress:
                progress(table.progress(), outcome)
            del part, fresh, updates, existing
            give_back_memory()  # the chunk's heap pages, before the next chunk stacks on them
    for stage, seconds in reader.timings.items():
        outcome.timings[stage] += seconds
    outcome.timings["total"] = time.perf_counter() - started
    return outcome


def _distribute(count, *, previous, options, now, leads=None):
    """Agents for the chunk's ``count`` new leads (None: nobody is eligible)."""
    try:
        return plan_new_leads(
            count=count,
            strategy=options.strategy,
            now=now,
            previous=previous,
            leads=leads,
            snapshot=options.routing,
        )
    except NoEligibleAgent:
        if previous is not None:
            raise
        return None


def _count_plan(plan, outcome):
    outcome.assigned += plan.assigned
    outcome.unassigned_count += len(
        plan.unplaced_positions
    )  # the chunk's positions nobody could take
    for agent_id, count in plan.per_agent.items():
        outcome.per_agent[agent_id] += count
    if plan.report:
        merge_reports(outcome.routing, plan.report)


def _record(plan, *, batch, actor, now, after_id, routes=None):
    record_import_assignments(
        batch=batch,
        strategy=plan.strategy,
        actor=actor,
        now=now,
        after_id=after_id,
        routes=routes,
        per_agent=plan.per_agent,  # what the chunk's leads were written with
    )
