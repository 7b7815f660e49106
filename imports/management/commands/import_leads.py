"""``manage.py import_leads PATH``: the import pipeline for files of any size."""

import gc
import resource
import time

from django.core.management.base import CommandError

from accounts.models import User
from assignments.distribution import STRATEGIES
from common.commands import ServiceCommand
from imports import queueing
from imports.errors import DuplicateFile
from imports.services import import_path, queue_file
from leads.models import ImportBatch

MILESTONE = 100_000

# The import process's collector. The ~110k objects of Django's start-up live
# as long as the process: they are frozen (``gc.freeze``) out of its reach, so
# it no longer walks them at each full collection nor once more at exit. The
# rows in flight (~40k tracked objects a chunk: records, rows, their dicts) are
# freed by reference counting; with Python's thresholds (700, 10, 10) they are
# walked over and over as they age. On the 100k-row bench file (load ~19):
# 913 collections taking 3.5 s of wall time, 214 taking 0.9 s with these, the
# same peak RSS (114 MiB).
GC_THRESHOLDS = (50_000, 20, 10)


def peak_rss_mb():
    """Peak resident memory of this process in MiB.

    Linux's ``VmHWM`` first: ``ru_maxrss`` of a process started by a big
    parent reports the parent's size (the forked image counts until exec).
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def _unreadable(path, exc):
    """The refusal of a path that exists but is no file to read (a folder, no permission)."""
    return f"Cannot read {path}: {exc.strerror or exc}."


def _command_words(message):
    """A service's message with the API's option as this command spells it."""
    return message.replace("force=true", "--force")


class Progress:
    """A one-line bar on a terminal; with ``--verbosity 2`` a memory line every 100k rows."""

    def __init__(self, out, *, bar, milestones):
        self.out = out
        self.bar = bar
        self.milestones = milestones
        self.started = time.perf_counter()
        self.next_milestone = MILESTONE

    def __call__(self, share, outcome):
        rows = outcome.rows
        if self.bar:
            filled = int(share * 30)
            rate = rows / max(time.perf_counter() - self.started, 1e-9)
            self.out.write(
                f"\r[{'#' * filled}{'.' * (30 - filled)}] {share:4.0%} "
                f"{rows:,} rows {rate:,.0f} rows/s",
                ending="",
            )
            self.out.flush()
        while self.milestones and rows >= self.next_milestone:
            self.out.write(f"rows={self.next_milestone} peak_rss_mb={peak_rss_mb():.0f}")
            self.next_milestone *= 10

    def done(self):
        if self.bar:
            self.out.write("")


class Command(ServiceCommand):
    help = (
        "Import leads from a CSV, XLSX or XLS file: validated, deduplicated and distributed "
        "like an upload, streamed in chunks with no size limit."
    )
    # The system checks import the URLconf, hence every API view and DRF (0.3-0.5 s
    # of start-up); they check the serving configuration, which the servers
    # check when they start (config/startup.py) and CI with ``manage.py check``.
    requires_system_checks = []

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("--strategy", choices=STRATEGIES)
        parser.add_argument("--dedupe", choices=["skip", "update"], default="skip")
        parser.add_argument("--dry-run", action="store_true", help="Show the plan, write nothing.")
        parser.add_argument("--no-distribute", action="store_true")
        parser.add_argument("--strict", action="store_true", help="Reject the file on a bad row.")
        parser.add_argument("--force", action="store_true", help="Import a file seen before.")
        parser.add_argument("--actor", help="Email of the user recorded as the importer.")
        parser.add_argument(
            "--queue",
            action="store_true",
            help="Hand the file to the workers (stored like an upload) and print the batch id.",
        )
        parser.add_argument(
            "--wait", action="store_true", help="With --queue: follow the batch until it ends."
        )

    def run_from_argv(self, argv):
        """As the process's own command (``manage.py``, not ``call_command``), the
        cyclic garbage collector is set for an import; see :data:`GC_THRESHOLDS`."""
        gc.freeze()
        gc.set_threshold(*GC_THRESHOLDS)
        super().run_from_argv(argv)

    def handle(self, *args, **options):
        actor = None
        if options["actor"]:
            actor = User.objects.filter(email__iexact=options["actor"]).first()
            if actor is None:
                raise CommandError(f"No user with email {options['actor']}.")
        if options["queue"]:
            return self._queue(actor, options)
        progress = Progress(
            self.stdout,
            bar=self.stdout.isatty() and options["verbosity"] > 0,
            milestones=options["verbosity"] > 1,
        )
        try:
            result = import_path(
                path=options["path"],
                actor=actor,
                strategy=options["strategy"],
                dedupe=options["dedupe"],
                dry_run=options["dry_run"],
                distribute=not options["no_distribute"],
                strict=options["strict"],
                force=options["force"],
                progress=progress,
            )
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {options['path']}") from exc
        except (IsADirectoryError, PermissionError) as exc:
            raise CommandError(_unreadable(options["path"], exc)) from exc
        except DuplicateFile as exc:
            raise CommandError(_command_words(exc.message)) from exc
        finally:
            progress.done()
        self._summary(result, options)

    def _queue(self, actor, options):
        if options["dry_run"]:
            raise CommandError("--dry-run runs in the foreground; drop --queue.")
        try:
            with open(options["path"], "rb") as file:
                batch = queue_file(
                    file=file,
                    actor=actor,
                    strategy=options["strategy"],
                    dedupe=options["dedupe"],
                    distribute=not options["no_distribute"],
                    strict=options["strict"],
                    force=options["force"],
                    source="command",
                    size_limit=False,
                )
        except FileNotFoundError as exc:
            raise CommandError(f"No such file: {options['path']}") from exc
        except (IsADirectoryError, PermissionError) as exc:
            raise CommandError(_unreadable(options["path"], exc)) from exc
        except DuplicateFile as exc:
            raise CommandError(_command_words(exc.message)) from exc
        self.stdout.write(self.style.SUCCESS(f"Batch #{batch.pk} queued."))
        if options["wait"]:
            self._wait(batch.pk)

    def _wait(self, batch_id, poll=1.0):
        """Follow the batch's progress until it leaves the queue."""
        bar = self.stdout.isatty()
        while True:
            batch = ImportBatch.objects.get(pk=batch_id)
            progress = queueing.progress_of(batch)
            if bar:
                self.stdout.write(
                    f"\r{progress['stage']:<10} {progress['percent']:3d}% "
                    f"{progress['rows_done']:,} rows",
                    ending="",
                )
                self.stdout.flush()
            if batch.state not in (ImportBatch.State.QUEUED, ImportBatch.State.PROCESSING):
                break
            time.sleep(poll)
        if bar:
            self.stdout.write("")
        style = self.style.SUCCESS if batch.state == "committed" else self.style.WARNING
        self.stdout.write(style(f"Batch #{batch.pk} {batch.state}. {batch.message}".strip()))
        self.stdout.write(
            f"rows={batch.rows} created={batch.created} updated={batch.updated} "
            f"duplicates={batch.duplicates} invalid={batch.invalid} "
            f"assigned={batch.assigned} unassigned={batch.unassigned}"
        )
        if batch.state != "committed":
            raise CommandError(f"Batch #{batch.pk} ended {batch.state}.")

    def _summary(self, result, options):
        outcome, batch = result.outcome, result.batch
        if batch is None:
            self.stdout.write(self.style.WARNING("Dry run: nothing was written."))
        else:
            self.stdout.write(self.style.SUCCESS(f"Batch #{batch.pk} {batch.state}."))
        self.stdout.write(
            f"rows={outcome.rows} created={outcome.created} updated={outcome.updated} "
            f"duplicates={outcome.duplicates} invalid={outcome.invalid} "
            f"assigned={outcome.assigned} unassigned={outcome.unassigned_count}"
        )
        if outcome.per_agent:
            shares = ", ".join(f"{a}: {n}" for a, n in sorted(outcome.per_agent.items()))
            self.stdout.write(f"per agent: {shares}")
        if outcome.message:
            self.stdout.write(self.style.WARNING(outcome.message))
        for entry in outcome.errors[:10]:
            self.stdout.write(
                f"  line {entry['line']} {entry['column']}: {entry['message']} ({entry['value']!r})"
            )
        if outcome.invalid > 10:
            self.stdout.write(f"  … {outcome.invalid - 10} more invalid rows")
        timings = " ".join(f"{stage}={sec:.2f}s" for stage, sec in result.timings.items())
        self.stdout.write(f"timings: {timings}")
        self.stdout.write(f"peak_rss_mb={peak_rss_mb():.0f}")
