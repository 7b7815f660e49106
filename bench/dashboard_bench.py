"""Dashboard benchmark: the cold dashboard (no cache) at a million leads, from the counters.

    DATABASE_URL=mysql://root@127.0.0.1:3306/leadline_bench_dashboard \\
        python bench/dashboard_bench.py [--leads 1000000] [--agents 200] [--runs 30]

MariaDB only. Fills the database by SQL (MariaDB's sequence engine: leads
over ``--agents`` agents, every seventh unassigned, statuses mixed, created
over the last 60 days, one assignment per owned lead) unless it already holds
that many, then times ``manage.py rebuild_counters`` (the full recount), the
cold dashboard computed from the counters for the desk and for one agent,
and, for comparison, the full recount a dashboard without counters would do.
The last line is ``dashboard_desk_ms=… dashboard_agent_ms=… recount_ms=… leads=…``.
"""

import argparse
import os
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/leadline_bench_dashboard")
# Seeding a million rows by SQL takes minutes a statement.
os.environ.setdefault("DB_READ_TIMEOUT", "900")


def _ms(fn, runs):
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    times.sort()
    return statistics.median(times), times[max(0, int(len(times) * 0.95) - 1)]


def seed(leads, agents):
    from django.db import connection

    from agents.models import Agent
    from agents.services import agent_create
    from assignments.models import Assignment
    from leads.models import Lead

    have = Agent.objects.count()
    for n in range(have, agents):
        agent_create(
            name=f"Bench Agent {n}",
            email=f"bench{n}@example.com",
            mobile=f"+9199{n:08d}",
            password="bench-password-not-secret",  # noqa: S106 (bench logins)
        )
    if Lead.objects.count() >= leads:
        return False
    ids = list(Agent.objects.order_by("id").values_list("id", flat=True))
    lead, assignment = Lead._meta.db_table, Assignment._meta.db_table
    with connection.cursor() as cursor:
        step = 100_000
        for start in range(0, leads, step):
            cursor.execute(
                f"INSERT INTO {lead} (first_name, last_name, phone, email, notes, status, "
                "agent_id, extra, created_at, updated_at) "
                "SELECT CONCAT('Lead', seq), '', CONCAT('+9170', LPAD(seq, 8, '0')), '', '', "
                "ELT(1 + seq % 5, 'new', 'contacted', 'qualified', 'converted', 'lost'), "
                f"IF(seq % 7 = 0, NULL, ELT(1 + seq % {len(ids)}, {', '.join(map(str, ids))})), "
                "'{}', NOW() - INTERVAL (seq % 60) DAY, NOW() "
                f"FROM seq_{start + 1}_to_{min(start + step, leads)}"
            )
            print(f"  {min(start + step, leads):,} leads", flush=True)
        cursor.execute(
            f"INSERT INTO {assignment} (lead_id, agent_id, assigned_at, strategy, reason, "
            "end_reason) SELECT id, agent_id, created_at, 'round_robin', 'import', '' "
            f"FROM {lead} WHERE agent_id IS NOT NULL"
        )
    return True


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--leads", type=int, default=1_000_000)
    parser.add_argument("--agents", type=int, default=200)
    parser.add_argument("--runs", type=int, default=30)
    args = parser.parse_args()

    import django

    django.setup()
    from django.core.management import call_command
    from django.db import connection

    from agents.models import Agent
    from leads import counters
    from leads.models import Lead
    from reports.selectors import compute_dashboard

    if connection.vendor != "mysql":
        sys.exit("MariaDB/MySQL only (DATABASE_URL=mysql://...)")
    call_command("migrate", verbosity=0)
    print(f"seeding {args.leads:,} leads over {args.agents} agents…", flush=True)
    seed(args.leads, args.agents)
    total = Lead.objects.count()

    started = time.perf_counter()
    call_command("rebuild_counters", stdout=open(os.devnull, "w"))  # noqa: SIM115
    rebuild_s = time.perf_counter() - started
    print(f"rebuild_counters: {rebuild_s:.1f} s", flush=True)
    assert counters.rebuild(dry_run=True) == []

    agent = Agent.objects.order_by("id").first()
    desk_median, desk_p95 = _ms(compute_dashboard, args.runs)
    agent_median, agent_p95 = _ms(lambda: compute_dashboard(owner=agent), args.runs)
    recount_median, _ = _ms(counters.recount_tally, 3)
    print(f"cold dashboard, desk : median {desk_median:.1f} ms, p95 {desk_p95:.1f} ms")
    print(f"cold dashboard, agent: median {agent_median:.1f} ms, p95 {agent_p95:.1f} ms")
    print(f"full recount (what a dashboard without counters costs): {recount_median:.0f} ms")
    print(
        f"dashboard_desk_ms={desk_median:.1f} dashboard_agent_ms={agent_median:.1f} "
        f"recount_ms={recount_median:.0f} leads={total}"
    )


if __name__ == "__main__":
    main()
