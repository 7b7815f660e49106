"""The import engine: rows in, leads (or a plan of them) out, chunk by chunk.

One pass over the file in chunks of ``IMPORT_CHUNK_ROWS`` rows keeps memory
flat however long the file is. The reader thread (:mod:`imports.readahead`)
parses each chunk, has its phone numbers normalized in worker processes (one
chunk ahead) and validates it, dropping repeats of a phone seen earlier in
the file; with routing rules it also finds each new row's rule. Meanwhile
:func:`run`, in the calling thread that owns the database connection and the
caller's transaction, takes the previous chunk and, with
the SQL of :mod:`imports.writers`, deduplicates it against the database (on
MariaDB's bulk path the unique phone index does, until it meets a lead that
exists: :class:`_Writer`), has
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
from django.db import transaction
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

    router = None
    if options.distribute:
        if options.routing is None:
            options.routing = current_snapshot()
        if options.routing.get("rules"):
            router = Router(Snapshot.from_data(options.routing).rules)
    writer = _Writer(options, router, batch, now, clock) if write else None
    writing = write
    encode = writers.load_lines if writer is not None and writer.bulk else None
    with ReadAhead(
        rows, cleaner, options, chunk_rows, report_limit, router=router, encode=encode
    ) as reader:
        for part in reader:
            clock.lap("writer_idle")  # waiting for the reader thread
            outcome.merge(part, report_limit)
            if options.strict and outcome.invalid:
                writing = False
            if writing:
                fresh, updates = writer.write_new(part, outcome, report_limit)
            else:
                fresh, updates = _split(part, outcome, report_limit, options)
                clock.lap("dedupe")
                if router is not None and not write:  # a preview's rule per new lead
                    outcome.matched.extend([row.matched for row in fresh])
            outcome.created += len(fresh)
            if writing:
                writer.write_history(fresh, outcome, actor)
                outcome.updated += writers.update_leads(updates, batch=batch, actor=actor, now=now)
                clock.lap("update")
            else:
                outcome.updated += len(updates)
            if progress:
                progress(table.progress(), outcome)
            del part, fresh, updates
            give_back_memory()  # the chunk's heap pages, before the next chunk stacks on them
    for stage, seconds in reader.timings.items():
        outcome.timings[stage] += seconds
    outcome.timings["total"] = time.perf_counter() - started
    return outcome


def _split(part, outcome, report_limit, options):
    """The chunk's new rows, and the existing leads ``dedupe=update`` changed."""
    existing = writers.existing_leads(part.phones, update=options.dedupe == "update")
    return writers.split_existing(part.fresh, existing, outcome, report_limit, options)


class _Writer:
    """The writing side of one import: the distribution plan carried from chunk to chunk.

    Until a chunk meets a lead that already exists, chunks are written without
    a dedupe lookup (``guessing``): on MariaDB's bulk path the unique phone
    index is the lookup. ``writers.insert_leads`` says when it turned rows away;
    the chunk's writes are then rolled back to a savepoint, the routing
    cursors its plan moved are put back, and the chunk is looked up and
    written again, as every later chunk is (a file that repeats one existing
    lead likely repeats more). Locks the rolled-back rows took stay until the
    import's transaction ends.
    """

    def __init__(self, options, router, batch, now, clock):
        self.options, self.router, self.batch, self.now, self.clock = (
            options,
            router,
            batch,
            now,
            clock,
        )
        self.distributing = options.distribute
        self.plan = None  # the distribution plan so far
        self.agents = None  # the agents of the chunk just written (None: unassigned)
        self.floor = 0  # the leads of the chunk just written have ids above this
        self.bulk = writers.load_data_possible()
        self.guessing = self.bulk and options.dedupe != "update"

    def write_new(self, part, outcome, report_limit):
        """Insert the chunk's new rows; ``(new rows, leads to update)``."""
        if self.guessing:
            if self._attempt(part.fresh):
                return part.fresh, []
            self.guessing = False
        fresh, updates = _split(part, outcome, report_limit, self.options)
        self.clock.lap("dedupe")
        self._insert(fresh)
        return fresh, updates

    def _attempt(self, fresh):
        """Write the chunk without a lookup; False (and nothing written) if it met a lead."""
        kept = (self.plan, self.distributing)
        cursors, states = {}, []
        if self.plan is not None:
            routing = self.plan.routing
            if routing is not None:
                cursors = dict(routing.cursors)
                states = list(routing.states.values())
            if self.plan.state is not None:
                states.append(self.plan.state)
        saved = [(state, state.last_agent_id, state.weights, state.updated_at) for state in states]
        try:
            with transaction.atomic():
                self._insert(fresh, guess=True)
        except writers.ExistingPhones:
            # The database is back at the savepoint; so is what the plan keeps in memory.
            self.plan, self.distributing = kept
            if cursors:
                self.plan.routing.cursors.clear()
                self.plan.routing.cursors.update(cursors)
            for state, last_agent_id, weights, updated_at in saved:
                state.last_agent_id, state.weights, state.updated_at = (
                    last_agent_id,
                    weights,
                    updated_at,
                )
            self.clock.lap("insert")
            return False
        return True

    def _insert(self, fresh, guess=False):
        self.agents = None
        if self.distributing and fresh:
            leads = None
            if self.router is not None:  # each row's rule, found by the reader thread
                leads = [row.matched for row in fresh]
            plan = _distribute(
                len(fresh), previous=self.plan, options=self.options, now=self.now, leads=leads
            )
            if plan is None:
                self.distributing = False
            else:
                self.plan, self.agents = plan, plan.agents
            self.clock.lap("distribute")
        self.floor = writers.insert_leads(
            fresh, self.agents, batch=self.batch, now=self.now, load_data=self.bulk, guess=guess
        )
        self.clock.lap("insert")

    def write_history(self, fresh, outcome, actor):
        """The chunk's assignments and its plan's counts (the "created" entry is derived)."""
        if not fresh:
            return
        batch, now, floor = self.batch, self.now, self.floor
        if self.options.distribute and not self.distributing and not outcome.message:
            outcome.message = "No eligible agent: the new leads were left unassigned."
        if self.agents is None:
            if self.options.distribute:
                # Nobody was eligible: the chunk's new leads are left unassigned (as a
                # preview of the same file counts them).
                outcome.unassigned_count += len(fresh)
            return
        plan = self.plan
        _count_plan(plan, outcome)
        routes = None
        if plan.routes is not None:
            routes = {
                row.phone: route
                for row, route in zip(fresh, plan.routes, strict=True)
                if route is not None
            }
        _record(plan, batch=batch, actor=actor, now=now, after_id=floor, routes=routes)
        self.clock.lap("assignments")


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
