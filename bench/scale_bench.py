"""Scale benchmark: every read the desk makes, at 10,000 and at 1,000,000 leads.

    make bench-scale   # or: DATABASE_URL=mysql://root@127.0.0.1:3306/leadline_bench_scale \\
                       #     REDIS_URL=redis://127.0.0.1:6379/10 python bench/scale_bench.py
        [--small 10000] [--large 1000000] [--agents 200] [--samples 40] [--reuse]

Seeds ``--small`` leads over ``--agents`` agents through Leadline's own import
(``manage.py import_leads`` on a generated CSV, round robin), then shapes them
as a working desk would (statuses spread, follow-ups overdue, due today,
later or unset: one UPDATE, standing in for agents' edits), serves the app
and copies that small desk to a database of its own (``<name>_small``). Then
it imports the rest up to ``--large`` leads, serves each desk with its own
gunicorn under production settings (``config/gunicorn.conf.py``, DEBUG off,
JWT, throttles, middleware) and times each endpoint sequentially (``--samples``
requests after a warm-up, keep-alive), alternating between the two desks
request by request, so both sizes are measured on the machine as it is in the
same minutes. ``--reuse`` skips the seeding when the databases are already
seeded (developing).

Per endpoint it prints the median and p95 at both sizes and the growth of the
median. Agent endpoints: the list, each filter, each ordering, search by
phone and name, detail, update (PATCH). Manager endpoints: list by
agent/status/batch, phone, name and email search, a deep page by number and by
cursor, and the dashboard cold after a write. The last line is
``worst_agent_growth=… worst_p95_ms=…`` (over the agent endpoints at the
large size, the targets being a growth of at most 1.5 and 50 ms), after a line
of each phase's seconds.

MariaDB's buffer pool: a server left at its default 128 MiB cannot hold a
million leads' indexes (~750 MB), and every phase then waits on the disk, which
measures the server's configuration rather than Leadline (a 1M-lead desk in
production runs with a buffer pool that holds its indexes). So the benchmark
raises ``innodb_buffer_pool_size`` to ``--buffer-pool-mb`` (default 1024; 0
leaves it) with ``SET GLOBAL`` (dynamic, until the server restarts; never
lowered) and prints the size it ran with.
"""

import argparse
import contextlib
import csv
import http.client
import json
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlencode, urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/leadline_bench_scale")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/10")
os.environ.setdefault("CACHE_KEY_PREFIX", "bench_scale")
os.environ["DJANGO_SETTINGS_MODULE"] = "config.settings"
SECRET = os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(50))
JWT_KEY = os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(50))
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "127.0.0.1,localhost,testserver")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("LOG_LEVEL", "WARNING")
# Seeding and the importer run in production mode too (no SQL kept in memory).
os.environ.setdefault("DJANGO_DEBUG", "false")

from bench.import_bench import CITIES, FIRST, LAST, NOTES, phone_formats  # noqa: E402
from bench.serving import free_port, start_gunicorn, stop  # noqa: E402

MANAGER_EMAIL = "bench-scale-manager@example.com"


def database_name():
    return urlparse(os.environ["DATABASE_URL"]).path.lstrip("/")


def small_database_name():
    """The copy of the small desk, timed side by side with the large one."""
    return database_name() + "_small"


def _connection_args(tool="mariadb"):
    url = urlparse(os.environ["DATABASE_URL"])
    return [
        tool,
        "--protocol=tcp",
        f"-h{url.hostname or '127.0.0.1'}",
        f"-P{url.port or 3306}",
        f"-u{url.username or 'root'}",
        *([f"-p{url.password}"] if url.password else []),
    ]


def mariadb(sql, *, capture=False):
    result = subprocess.run(
        [*_connection_args(), "-N", "-B", "-e", sql],
        check=True,
        capture_output=capture,
        text=True,
    )
    return result.stdout if capture else None


def keep_small_copy():
    """Copy the seeded small desk to its own database before the large import.

    Both sizes are then timed in the same minutes, request by request in
    turn: on a shared machine whose speed drifts between the seeding phases
    (1.6x seen within an hour), timing each size when it was seeded compared
    two machines, not two desks.
    """
    small = small_database_name()
    mariadb(
        f"DROP DATABASE IF EXISTS `{small}`; CREATE DATABASE `{small}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )
    dump = subprocess.Popen(
        [*_connection_args("mariadb-dump"), "--single-transaction", database_name()],
        stdout=subprocess.PIPE,
    )
    subprocess.run([*_connection_args(), small], stdin=dump.stdout, check=True)
    dump.stdout.close()
    if dump.wait():
        raise SystemExit("mariadb-dump of the small desk failed")
    mariadb(f"ANALYZE TABLE `{small}`.leads_lead, `{small}`.assignments_assignment")


def has_small_copy():
    out = mariadb(
        "SELECT COUNT(*) FROM information_schema.tables "
        f"WHERE table_schema = '{small_database_name()}' AND table_name = 'leads_lead'",
        capture=True,
    )
    return int(out.strip()) == 1


@contextlib.contextmanager
def django_on(name):
    """Django's default connection pointed at database ``name`` for the block."""
    from django.db import connections

    connection = connections["default"]
    previous = connection.settings_dict["NAME"]
    connection.close()
    connection.settings_dict["NAME"] = name
    try:
        yield
    finally:
        connection.close()
        connection.settings_dict["NAME"] = previous


def ensure_buffer_pool(megabytes):
    """Raise the server's InnoDB buffer pool to ``megabytes`` (never lower it);
    the size in MiB it has now."""
    current = int(mariadb("SELECT @@innodb_buffer_pool_size", capture=True).strip())
    wanted = megabytes * 1024 * 1024
    if wanted > current:
        mariadb(f"SET GLOBAL innodb_buffer_pool_size = {wanted}")
        # The resize runs in the background, chunk by chunk.
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            status = mariadb("SHOW STATUS LIKE 'Innodb_buffer_pool_resize_status'", capture=True)
            if "Completed" in status or not status.split("\t", 1)[-1].strip():
                break
            time.sleep(0.5)
        current = int(mariadb("SELECT @@innodb_buffer_pool_size", capture=True).strip())
    return current // (1024 * 1024)


def recreate_database():
    name = database_name()
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the benchmark's database name has 'bench'")
    mariadb(
        f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` "
        "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci"
    )


def setup_django():
    import django

    django.setup()


def prepare(agents):
    """Migrate, create the agents and a manager (no passwords: tokens are issued directly)."""
    from django.core.management import call_command

    from common import dataversion

    call_command("migrate", verbosity=0)
    # Totals cached by an earlier run describe rows that were just dropped; a new
    # data version retires them without flushing a Redis database others may share.
    dataversion.bump()
    from accounts.models import Role, User
    from agents.services import agent_create

    for n in range(agents):
        agent_create(
            name=f"Scale Agent {n:03d}",
            email=f"scale{n:03d}@example.com",
            mobile=f"+9190000{n:05d}",
        )
    manager = User.objects.create_user(email=MANAGER_EMAIL, password=None, role=Role.MANAGER)
    manager.is_staff = True
    manager.set_unusable_password()
    manager.save()


def write_csv(path, start, count):
    """``count`` distinct leads numbered from ``start``: phones in mixed formats,
    names from the import benchmark's lists, ~60% with an email."""
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(("FirstName", "LastName", "Phone", "Email", "Notes", "City"))
        for n in range(start, start + count):
            # A bijection of n onto 9 digits spreads the numbers; the leading 7 or 8
            # keeps them valid Indian mobiles and distinct from the agents' 90000.
            digits = f"{7 + n // 10**9}{(n * 387_420_489) % 10**9:09d}"
            # Strides prime to the list lengths: every name, evenly, uncorrelated.
            first, last = FIRST[n * 5 % len(FIRST)], LAST[n * 11 % len(LAST)]
            email = f"{first.lower()}.{last.lower()}{n}@example.com" if n % 5 < 3 else ""
            writer.writerow(
                (
                    first,
                    last,
                    phone_formats(digits)[n % 8],
                    "".join(c for c in email if c.isascii() and (c.isalnum() or c in ".@")),
                    NOTES[n % len(NOTES)],
                    CITIES[n % len(CITIES)],
                )
            )


def import_csv(path):
    """``manage.py import_leads`` as its own process, as an operator runs it."""
    started = time.monotonic()
    result = subprocess.run(
        [sys.executable, "manage.py", "import_leads", str(path)],
        cwd=ROOT,
        env={**os.environ, "LOG_LEVEL": "WARNING"},
        capture_output=True,
        text=True,
    )
    if result.returncode:
        raise SystemExit(f"import_leads failed:\n{result.stdout[-2000:]}{result.stderr[-2000:]}")
    elapsed = time.monotonic() - started
    lines = result.stdout.splitlines()
    timings = [line for line in lines if line.startswith("timings:")]
    peaks = [float(line.split("=")[1]) for line in lines if line.startswith("peak_rss_mb=")]
    print(f"import_leads {path.name}: {' '.join(timings)}", flush=True)
    rows = sum(1 for _ in path.open()) - 1
    print(
        f"import_leads {path.name}: {rows} rows in {elapsed:.1f}s (whole process) "
        f"import_rows_per_s={rows / elapsed:.0f} peak_rss_mb={max(peaks, default=0):.0f}",
        flush=True,
    )
    return elapsed


def shape(after_id):
    """Spread statuses and follow-ups over the leads above ``after_id`` (one UPDATE).

    An id decides each: 40% new, 20% contacted, 20% qualified, 10% converted,
    10% lost; a sixth with no follow-up, the rest overdue (up to 30 days),
    due later today, or in the next 60 days.
    """
    now = datetime.now(UTC).replace(microsecond=0, tzinfo=None)
    end_of_day = now.replace(hour=23, minute=59, second=0)
    later_today = max(0, int((end_of_day - now).total_seconds() // 60))
    mariadb(
        f"USE `{database_name()}`; UPDATE leads_lead SET "
        "status = ELT(1 + id % 10, 'new','new','new','new','contacted','contacted',"
        "'qualified','qualified','converted','lost'), "
        "next_follow_up = CASE id % 6 "
        "WHEN 0 THEN NULL "
        f"WHEN 1 THEN TIMESTAMP '{now}' - INTERVAL (1 + id % 43200) MINUTE "
        f"WHEN 2 THEN TIMESTAMP '{now}' - INTERVAL (1 + id % 43200) MINUTE "
        f"WHEN 3 THEN TIMESTAMP '{now}' + INTERVAL (1 + id % {later_today or 1}) MINUTE "
        f"ELSE TIMESTAMP '{now}' + INTERVAL (1 + id % 86400) MINUTE END "
        f"WHERE id > {int(after_id)}; ANALYZE TABLE leads_lead, assignments_assignment;"
    )
    # The UPDATE went around the services: the dashboard's counters are recounted
    # as after any bulk write made outside them (``manage.py rebuild_counters``).
    from leads import counters

    counters.rebuild()


def lead_count(name=None):
    out = mariadb(f"SELECT COUNT(*) FROM `{name or database_name()}`.leads_lead", capture=True)
    return int(out.strip())


class Client:
    """Keep-alive HTTP with a bearer token; each call returns ``(ms, status, body)``."""

    def __init__(self, port, token):
        self.connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        self.headers = {"Authorization": f"Bearer {token}", "Accept": "application/json"}

    def call(self, method, path, body=None):
        headers = dict(self.headers)
        data = None
        if body is not None:
            data = json.dumps(body)
            headers["Content-Type"] = "application/json"
        started = time.perf_counter()
        self.connection.request(method, path, body=data, headers=headers)
        response = self.connection.getresponse()
        payload = response.read()
        elapsed = (time.perf_counter() - started) * 1000
        return elapsed, response.status, payload


def subject_ids():
    """The agent whose desk is timed (the median agent by lead count), one of its
    leads, a manager's batch, and the ids needed by the deep pages."""
    from django.db.models import Count

    from agents.models import Agent
    from leads.models import ImportBatch, Lead

    agents = list(
        Agent.objects.annotate(n=Count("leads")).order_by("n", "id").values_list("id", "n")
    )
    agent_id, owned = agents[len(agents) // 2]
    lead = Lead.objects.filter(agent_id=agent_id).order_by("id")[owned // 3]
    batch = ImportBatch.objects.order_by("-id").first()
    return agent_id, lead, batch.pk


def tokens(agent_id):
    from accounts.models import User
    from accounts.tokens import issue_tokens
    from agents.models import Agent

    agent_user = Agent.objects.get(pk=agent_id).user
    manager = User.objects.get(email=MANAGER_EMAIL)
    return issue_tokens(agent_user)[1], issue_tokens(manager)[1]


def endpoints(port, total):
    """``{name: call}`` for every endpoint of the desk Django is connected to, served on
    ``port``; ``call(n)`` returns ``(ms, status, body)``. The last entry is the dashboard
    cold after a write (a PATCH that bumps the data version, then the timed GET)."""
    from django.db import connections

    agent_id, lead, batch_id = subject_ids()
    agent_token, manager_token = tokens(agent_id)
    agent = Client(port, agent_token)
    manager = Client(port, manager_token)
    national = lead.phone[3:8] + " " + lead.phone[8:]  # +91XXXXXXXXXX as "XXXXX XXXXX"
    pages = max(1, total // 50)
    # The cursor of a deep position: the list from the id at 95% depth down.
    deep_position = int(total * 0.95)
    from leads.models import Lead

    deep_id = Lead.objects.order_by("-id").values_list("id", flat=True)[deep_position]
    from common.filtering import encode_cursor

    deep_cursor = encode_cursor(deep_id)
    connections.close_all()

    def get(client, params=None, path="/api/v1/leads/"):
        query = ("?" + urlencode(params)) if params else ""
        return lambda n: client.call("GET", path + query)

    def dashboard_after_a_write(n):
        agent.call("PATCH", f"/api/v1/leads/{lead.pk}/", {"notes": f"bench dashboard {n}"})
        return manager.call("GET", "/api/v1/dashboard/")

    statuses = ["contacted", "qualified", "new"]
    calls = {
        "agent list": get(agent),
        "agent ?status=new": get(agent, {"status": "new"}),
        "agent ?view=due_today": get(agent, {"view": "due_today"}),
        "agent ?view=overdue": get(agent, {"view": "overdue"}),
        "agent ?search=<phone>": get(agent, {"search": national}),
        "agent ?search=<name>": get(agent, {"search": lead.first_name}),
        "agent detail": get(agent, path=f"/api/v1/leads/{lead.pk}/"),
        "agent update (PATCH)": lambda n: agent.call(
            "PATCH", f"/api/v1/leads/{lead.pk}/", {"notes": f"bench note {n}"}
        ),
    }
    for ordering in (
        "next_follow_up",
        "-next_follow_up",
        "created_at",
        "-updated_at",
        "first_name",
        "status",
        "id",
    ):
        calls[f"agent ?ordering={ordering}"] = get(agent, {"ordering": ordering})
    calls.update(
        {
            "manager ?agent=": get(manager, {"agent": agent_id}),
            "manager ?status=": lambda n: manager.call(
                "GET", "/api/v1/leads/?status=" + statuses[n % 3]
            ),
            "manager ?batch=": get(manager, {"batch": batch_id}),
            "manager ?search=<phone>": get(manager, {"search": national}),
            "manager ?search=<first name>": get(manager, {"search": "Kiara"}),
            "manager ?search=<last name>": get(manager, {"search": "Pillai"}),
            "manager ?search=<email>": get(manager, {"search": f"{lead.email or 'kiara.pillai'}"}),
            "manager ?page=<95% deep>": get(manager, {"page": max(1, int(pages * 0.95))}),
            "manager ?cursor=<95% deep>": get(manager, {"cursor": deep_cursor}),
            "manager unfiltered list": get(manager),
            DASHBOARD: dashboard_after_a_write,
        }
    )
    return calls


DASHBOARD = "manager dashboard (cold after a write)"


def time_endpoints(desks, samples):
    """``{size: ({name: [ms, ...]}, {name: rows})}``, the sizes timed in turn.

    ``desks`` maps each size to its endpoints (:func:`endpoints`). Every
    endpoint is warmed up on each desk, then its samples alternate between the
    desks request by request, so a change in the machine's speed falls on both.
    """
    results = {size: {} for size in desks}
    rows = {size: {} for size in desks}
    for name in next(iter(desks.values())):
        count = max(5, samples // 4) if name == DASHBOARD else samples
        for size, calls in desks.items():
            for n in range(3):
                _ms, status, body = calls[name](n)
                if status >= 400:
                    raise SystemExit(f"{name} ({size}): HTTP {status} {body[:300]!r}")
            rows[size][name] = _rows(body)
            results[size][name] = []
        for n in range(count):
            for size, calls in desks.items():
                results[size][name].append(calls[name](n)[0])
    return {size: (results[size], rows[size]) for size in desks}


def _rows(body):
    """Leads in a list response (a page), 1 for anything else: what the response carries."""
    data = json.loads(body)
    return len(data["results"]) if isinstance(data, dict) and "results" in data else 1


def measure(samples, databases):
    """Serve each of ``databases`` (``{size: database name}``) with its own gunicorn
    and cache prefix, and time them side by side (:func:`time_endpoints`)."""
    url = urlparse(os.environ["DATABASE_URL"])
    with contextlib.ExitStack() as stack:
        desks = {}
        for size, name in databases.items():
            metrics_dir = stack.enter_context(tempfile.TemporaryDirectory())
            port = int(os.environ.get(f"BENCH_PORT_{size.upper()}") or free_port())
            proc = start_gunicorn(
                port,
                metrics_dir,
                DATABASE_URL=url._replace(path=f"/{name}").geturl(),
                CACHE_KEY_PREFIX=f"bench_scale_{size}",
            )
            stack.callback(stop, proc)
            with django_on(name):
                desks[size] = endpoints(port, lead_count(name))
        return time_endpoints(desks, samples)


def _size(n):
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def p95(values):
    return statistics.quantiles(values, n=20, method="inclusive")[-1]


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--large", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--samples", type=int, default=40)
    parser.add_argument("--reuse", action="store_true", help="time an already seeded database")
    parser.add_argument("--seed-only", action="store_true", help="seed, time nothing")
    parser.add_argument(
        "--buffer-pool-mb",
        type=int,
        default=1024,
        help="raise MariaDB's innodb_buffer_pool_size to this (0: leave it)",
    )
    options = parser.parse_args()
    began = time.monotonic()
    phases = {}

    def phase(name, started):
        phases[name] = time.monotonic() - started

    if options.buffer_pool_mb:
        pool = ensure_buffer_pool(options.buffer_pool_mb)
    else:
        pool = int(mariadb("SELECT @@innodb_buffer_pool_size", capture=True)) // 2**20
    print(f"innodb_buffer_pool_size={pool}MiB cores={os.cpu_count()}", flush=True)
    sizes = {}
    with tempfile.TemporaryDirectory() as tmp:
        if not options.reuse:
            started = time.monotonic()
            recreate_database()
            setup_django()
            prepare(options.agents)
            phase("prepare", started)
            started = time.monotonic()
            small = Path(tmp) / "small.csv"
            write_csv(small, 0, options.small)
            seconds = import_csv(small)
            shape(0)
            phase("seed_small", started)
            print(f"seeded {lead_count()} leads in {seconds:.1f}s", flush=True)
            started = time.monotonic()
            keep_small_copy()
            phase("copy_small", started)
            started = time.monotonic()
            rest = Path(tmp) / "rest.csv"
            write_csv(rest, options.small, options.large - options.small)
            phase("write_csv", started)
            from leads.models import Lead

            last_id = Lead.objects.order_by("-id").values_list("id", flat=True).first()
            started = time.monotonic()
            seconds = import_csv(rest)
            phase("import_large", started)
            started = time.monotonic()
            shape(last_id)
            phase("shape_large", started)
            print(f"seeded {lead_count()} leads in {seconds:.1f}s more", flush=True)
        else:
            setup_django()
        if options.seed_only:
            return
        started = time.monotonic()
        databases = {"large": database_name()}
        if has_small_copy():
            databases = {"small": small_database_name(), **databases}
        sizes = measure(options.samples, databases)
        phase("time_both", started)

    small, small_rows = sizes.get("small") or (None, {})
    large, large_rows = sizes["large"]
    a, b = _size(options.small), _size(options.large)
    # rows: the leads each response carries at each size. A filtered view of one agent's
    # 50 leads at 10k returns a few of them, a full page of 50 at 1M: that difference,
    # not the rows the database reads (leads/tests/test_query_plans.py), is most of its growth.
    columns = [f"{a} p50", f"{a} p95", f"{b} p50", f"{b} p95", "growth", "rows"]
    print(f"{'endpoint':42} " + " ".join(f"{c:>8}" for c in columns))
    worst_growth, worst_p95 = 0.0, 0.0
    for name, values in large.items():
        big_median, big_p95 = statistics.median(values), p95(values)
        if small:
            small_median, small_p95 = statistics.median(small[name]), p95(small[name])
            growth = big_median / small_median
        else:
            small_median = small_p95 = growth = float("nan")
        carried = f"{small_rows.get(name, '-')}/{large_rows[name]}"
        print(
            f"{name:42} {small_median:8.1f} {small_p95:8.1f} {big_median:8.1f} {big_p95:8.1f} "
            f"{growth:6.2f}x {carried:>8}",
            flush=True,
        )
        if name.startswith("agent"):
            worst_growth = max(worst_growth, growth) if small else worst_growth
            worst_p95 = max(worst_p95, big_p95)
    print(" ".join(f"{name}_s={seconds:.0f}" for name, seconds in phases.items()))
    print(f"elapsed_s={time.monotonic() - began:.0f} load_avg={os.getloadavg()[0]:.1f}")
    print(f"worst_agent_growth={worst_growth:.2f} worst_p95_ms={worst_p95:.1f}")


if __name__ == "__main__":
    main()
