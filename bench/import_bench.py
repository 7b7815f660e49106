"""Import benchmark: Leadline's full import against MariaDB's raw ``LOAD DATA``.

    DATABASE_URL=mysql://root@127.0.0.1:3306/leadline_bench python bench/import_bench.py
        [--rows 100000] [--no-xlsx] [--upload] [--million] [--xls]
        [--routing-only] [--routing-runs 3]

Generates a lead list (realistic names, phones in mixed national and
international formats, ~5% duplicates, ~1% invalid), loads it with
``LOAD DATA LOCAL INFILE`` into a scratch table (the floor), then runs the
whole import (parse, validate, E.164, dedupe, insert, distribute to 10
agents) on the same rows. ``--upload`` also times a ~10 MiB XLSX through the
upload endpoint; ``--million`` runs ``manage.py import_leads`` on 1,000,000
rows in a child process and prints its peak RSS at 100k and 1M rows;
``--xls`` runs it on the largest XLS a sheet holds (65,535 leads, written
by xlwt) and prints ``xls_rows_per_s=… peak_rss_mb=…``, the streamed reading
against calamine's (``IMPORT_XLS_STREAM`` off) in the same run.

With ``REDIS_URL`` set, the same CSV also goes through the queue: a real
``celery -A config worker`` child takes it (``queued_import_rows_per_s=…``,
from the hand-off to the batch read ``committed``), and ``--upload`` then
times the queued upload too (202, p50 of 5) and the time until the batch is
``preview`` and, after a queued commit, ``committed``. ``--progress`` times
the inline import with its progress reporting against none (its cost).
``manage.py import_leads`` of the same CSV as a whole child process (start-up
included) prints ``process_rows_per_s=… floor_rows_per_s=… process_ratio=…``.
The same file also goes through 50 active routing rules and
``routed_import_rows_per_s=… ratio_to_plain=…`` compares it with the plain
imports of the same run just before and after it (``--routing-runs N``: N
interleaved pairs, the median ratio; ``--routing-only``: just those imports,
no floor, XLSX or queue). The last line is the plain in-process import's,
``import_rows_per_s=… floor_rows_per_s=… ratio=…``; ``--million`` ends with
``million_rows_per_s=… peak_rss_mb=…``.
"""

import argparse
import contextlib
import csv
import os
import random
import re
import secrets
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Production mode: with DEBUG on, Django keeps every SQL statement in memory.
os.environ.setdefault("DJANGO_DEBUG", "false")
os.environ.setdefault("DJANGO_SECRET_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("JWT_SIGNING_KEY", secrets.token_urlsafe(64))
os.environ.setdefault("DJANGO_ALLOWED_HOSTS", "testserver,localhost,127.0.0.1")
os.environ.setdefault("SECURE_SSL_REDIRECT", "false")
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/leadline_bench")

FIRST = [
    "Aarav",
    "Vivaan",
    "Aditya",
    "Vihaan",
    "Arjun",
    "Sai",
    "Reyansh",
    "Krishna",
    "Ishaan",
    "Shaurya",
    "Ananya",
    "Diya",
    "Saanvi",
    "Aadhya",
    "Myra",
    "Pari",
    "Anika",
    "Navya",
    "Kiara",
    "Riya",
    "Priya",
    "Rahul",
    "Amit",
    "Sunita",
    "Pooja",
    "Neha",
    "Vikram",
    "Rohan",
    "Meera",
    "Kavya",
    "Arnav",
    "Tanvi",
    "Farhan",
    "Zoya",
    "Imran",
    "Ayesha",
    "Joseph",
    "Maria",
    "Thomas",
    "Grace",
    "José",
    "Zoë",
]
LAST = [
    "Sharma",
    "Verma",
    "Gupta",
    "Patel",
    "Reddy",
    "Iyer",
    "Nair",
    "Menon",
    "Singh",
    "Kaur",
    "Khan",
    "Das",
    "Bose",
    "Mehta",
    "Shah",
    "Joshi",
    "Rao",
    "Pillai",
    "Mukherjee",
    "Banerjee",
    "Chatterjee",
    "D'Souza",
    "Fernandes",
    "Gomes",
    "Kulkarni",
    "Desai",
    "Jain",
]
CITIES = [
    "Mumbai",
    "Pune",
    "Delhi",
    "Bengaluru",
    "Chennai",
    "Kolkata",
    "Hyderabad",
    "Jaipur",
    "Kochi",
    "Indore",
]
BENCH_PASSWORD = "bench-" + "password-123"  # throwaway users of the bench database
NOTES = ["", "", "", "Interested in premium plan", "Call after 6pm", "Asked for brochure"]


def phone_formats(digits):
    """The same Indian mobile as people and spreadsheets write it."""
    return (
        digits,
        f"{digits[:5]} {digits[5:]}",
        f"+91 {digits[:5]} {digits[5:]}",
        f"+91{digits}",
        f"0{digits}",
        f"0{digits[:5]}-{digits[5:]}",
        f"+91-{digits[:5]}-{digits[5:]}",
        f"{digits}.0",
    )


def generate(count, seed=7):
    rng = random.Random(seed)
    used = set()
    valid = []
    rows = []
    for n in range(count):
        roll = rng.random()
        if valid and roll < 0.05:
            digits = rng.choice(valid)  # a duplicate, usually written differently
            raw = rng.choice(phone_formats(digits))
        elif roll < 0.06:
            digits = ""
            raw = rng.choice(["12345", "98765 4321", "phone", "+1 555", "0000000000"])
        else:
            while True:
                digits = f"{rng.choice('6789')}{rng.randrange(10**9):09d}"
                if digits not in used:
                    used.add(digits)
                    valid.append(digits)
                    break
            raw = rng.choice(phone_formats(digits))
        first, last = rng.choice(FIRST), rng.choice(LAST)
        email = f"{first.lower()}.{last.lower()}{n}@example.com" if rng.random() < 0.6 else ""
        rows.append(
            (
                first,
                last,
                raw,
                re.sub(r"[^a-z0-9.@]", "", email),
                rng.choice(NOTES),
                rng.choice(CITIES),
                digits,
            )
        )
    return [row[:-1] for row in rows]


HEADER = ("FirstName", "LastName", "Phone", "Email", "Notes", "City")


def write_csv(path, rows):
    with open(path, "w", newline="", encoding="utf-8") as out:
        writer = csv.writer(out)
        writer.writerow(HEADER)
        writer.writerows(rows)


def write_xlsx(path, rows):
    import openpyxl

    workbook = openpyxl.Workbook(write_only=True)
    sheet = workbook.create_sheet()
    sheet.append(HEADER)
    for row in rows:
        sheet.append(row)
    workbook.save(path)


def mysql_params():
    url = urlparse(os.environ["DATABASE_URL"])
    return {
        "host": url.hostname or "127.0.0.1",
        "port": url.port or 3306,
        "user": url.username or "root",
        "password": url.password or "",
        "database": url.path.lstrip("/"),
    }


def ensure_database():
    import MySQLdb

    params = mysql_params()
    name = params.pop("database")
    conn = MySQLdb.connect(**params)
    conn.cursor().execute(f"CREATE DATABASE IF NOT EXISTS `{name}` CHARACTER SET utf8mb4")
    conn.close()


def timed_load(conn, path, table, columns, assignments=""):
    """Seconds to ``LOAD DATA LOCAL`` the bench CSV (header skipped) into ``table``, committed."""
    started = time.perf_counter()
    conn.cursor().execute(
        f"LOAD DATA LOCAL INFILE '{path}' INTO TABLE {table} CHARACTER SET utf8mb4 "
        "FIELDS TERMINATED BY ',' OPTIONALLY ENCLOSED BY '\"' LINES TERMINATED BY '\\r\\n' "
        f"IGNORE 1 LINES ({columns}) {assignments}"
    )
    conn.commit()
    return time.perf_counter() - started


def floor(path, count):
    """Raw ``LOAD DATA LOCAL INFILE`` of the same CSV into a scratch table."""
    import MySQLdb

    conn = MySQLdb.connect(**mysql_params(), local_infile=1, charset="utf8mb4")
    cur = conn.cursor()
    # Usually on already; if it is not ours to change, LOAD DATA says so below.
    with contextlib.suppress(MySQLdb.Error):
        cur.execute("SET GLOBAL local_infile = 1")
    cur.execute("DROP TABLE IF EXISTS bench_floor")
    cur.execute(
        "CREATE TABLE bench_floor (id BIGINT AUTO_INCREMENT PRIMARY KEY, "
        "first_name VARCHAR(150), last_name VARCHAR(150), phone VARCHAR(64), "
        "email VARCHAR(254), notes LONGTEXT, city VARCHAR(100)) CHARACTER SET utf8mb4"
    )
    elapsed = timed_load(
        conn, path, "bench_floor", "first_name, last_name, phone, email, notes, city"
    )
    cur.execute("SELECT COUNT(*) FROM bench_floor")
    loaded = cur.fetchone()[0]
    cur.execute("DROP TABLE bench_floor")
    conn.close()
    assert loaded == count, (loaded, count)
    return elapsed


def indexed_floor(path, count):
    """The same ``LOAD DATA`` into a copy of ``leads_lead`` with all its indexes.

    What the table's indexes alone cost, whatever writes the rows: the bound of
    any importer that keeps them. The copy (``CREATE TABLE … LIKE``: the indexes,
    not the foreign keys) holds one row first, as the import's table does after
    its first chunk (InnoDB writes into an empty table by a cheaper path).
    Rows the unique phone index or a column's size refuses are skipped, as an
    import would refuse them: the count is printed.
    """
    import MySQLdb

    conn = MySQLdb.connect(**mysql_params(), local_infile=1, charset="utf8mb4")
    cur = conn.cursor()
    cur.execute("DROP TABLE IF EXISTS bench_indexed")
    cur.execute("CREATE TABLE bench_indexed LIKE leads_lead")
    cur.execute(
        "SELECT COUNT(*) FROM information_schema.statistics WHERE table_schema = DATABASE() "
        "AND table_name = 'bench_indexed' AND index_name <> 'PRIMARY' AND seq_in_index = 1"
    )
    indexes = cur.fetchone()[0]
    stamp = "'2026-01-01 00:00:00'"
    cur.execute(
        "INSERT INTO bench_indexed (first_name, last_name, phone, email, notes, status, extra, "
        f"created_at, updated_at) VALUES ('x', '', 'seed', '', '', 'new', '{{}}', {stamp}, {stamp})"
    )
    conn.commit()
    cur.execute("SET @n = 0")
    elapsed = timed_load(
        conn,
        path,
        "bench_indexed",
        "first_name, last_name, phone, email, notes, @city",
        "SET status = 'new', extra = JSON_OBJECT('City', @city), "
        f"created_at = {stamp}, updated_at = {stamp}, agent_id = (@n := @n + 1) % 10 + 1",
    )
    cur.execute("SELECT COUNT(*) - 1 FROM bench_indexed")
    loaded = cur.fetchone()[0]
    cur.execute("DROP TABLE bench_indexed")
    conn.close()
    print(
        f"[indexed floor] LOAD DATA into a copy of leads_lead ({indexes} secondary indexes): "
        f"{loaded:,} of {count:,} rows in {elapsed:.2f}s"
    )
    return elapsed


def reset():
    """Empty the tables an import writes, and make 10 eligible agents."""
    from django.db import connection

    from agents.models import Agent
    from agents.services import agent_create

    with connection.cursor() as cur:
        cur.execute("SET FOREIGN_KEY_CHECKS = 0")
        for table in (
            "leads_leadactivity",
            "assignments_assignment",
            "assignments_rotationstate",
            "leads_lead",
            "leads_importbatch",
            "routing_batchrouting",
        ):
            cur.execute(f"TRUNCATE TABLE {table}")
        cur.execute("SET FOREIGN_KEY_CHECKS = 1")
    for n in range(Agent.objects.count(), 10):
        agent_create(
            name=f"Bench Agent {n}",
            email=f"bench-agent{n}@example.com",
            mobile=f"+9190000000{n:02d}",
            password=BENCH_PASSWORD,
        )


def full_import(path, label):
    from imports.services import import_path

    reset()
    started, cpu = time.perf_counter(), time.process_time()
    result = import_path(path=str(path), force=True)
    elapsed, cpu = time.perf_counter() - started, time.process_time() - cpu
    outcome = result.outcome
    stages = " ".join(f"{k}={v:.2f}s" for k, v in result.timings.items())
    print(
        f"[{label}] rows={outcome.rows} created={outcome.created} duplicates={outcome.duplicates} "
        f"invalid={outcome.invalid} assigned={outcome.assigned} "
        f"agents={len([n for n in outcome.per_agent.values() if n])}"
    )
    print(f"[{label}] stages: {stages}")
    print(
        f"[{label}] {elapsed:.2f}s = {outcome.rows / elapsed:,.0f} rows/s "
        f"(cpu {cpu:.2f}s in this process, both threads)"
    )
    return elapsed, outcome


ROUTING_RULES = 50


def add_routing_rules():
    """50 active rules over 5 teams of 2 of the 10 bench agents: on the phone's
    country (none of the file's: they are all IN), the City column and the source
    (the file name); about half of the rows match one, the rest fall back."""
    from agents.models import Agent
    from routing import services as routing

    agents = list(Agent.objects.order_by("id").values_list("id", flat=True))[:10]
    teams = [
        routing.team_create(name=f"Bench team {t}", members=agents[2 * t : 2 * t + 2])
        for t in range(5)
    ]
    countries = ["AE", "SA", "QA", "KW", "OM", "BH", "GB", "US", "SG", "MY"]
    made = 0
    for n in range(16):  # country rules: never match (every bench phone is Indian)
        routing.rule_create(
            name=f"country {n}",
            conditions=[
                {"field": "phone_country", "op": "in", "value": countries[n % 10 :] or ["AE"]},
                {"field": "extra.City", "op": "eq", "value": CITIES[n % len(CITIES)]},
            ],
            team=teams[n % 5],
        )
        made += 1
    for n in range(16):  # source rules: never match (the file is leads.csv)
        routing.rule_create(
            name=f"source {n}",
            conditions=[{"field": "source", "op": "startswith", "value": f"expo-{n}"}],
            team=teams[n % 5],
        )
        made += 1
    for n in range(ROUTING_RULES - made):  # city (+ country IN) rules: these match
        city = CITIES[n % len(CITIES)]
        routing.rule_create(
            name=f"city {n}",
            conditions=[
                {"field": "phone_country", "op": "eq", "value": "IN"},
                {"field": "extra.City", "op": "in", "value": [city, f"{city} East"]},
                {"field": "source", "op": "contains", "value": "leads"},
            ]
            if n < len(CITIES) // 2
            else [{"field": "extra.City", "op": "eq", "value": f"Nowhere {n}"}],
            team=teams[n % 5],
        )


def drop_routing_rules():
    from routing.models import RoutingRule, Team

    RoutingRule.objects.all().delete()
    Team.objects.all().delete()


def upload_10mib(workdir, rows):
    """Time a ~10 MiB XLSX through the real upload endpoint (multipart, JWT, view, service)."""
    from django.conf import settings
    from django.test import Client

    from accounts.models import Role, User
    from accounts.tokens import issue_tokens

    limit = settings.MAX_UPLOAD_SIZE
    path = workdir / "upload.xlsx"
    count = 300_000
    extra = generate(count, seed=11)
    write_xlsx(path, extra)
    while path.stat().st_size > limit:
        count = int(count * limit / path.stat().st_size * 0.98)
        write_xlsx(path, extra[:count])
    reset()
    user = User.objects.filter(email="bench-manager@example.com").first() or (
        User.objects.create_user(
            email="bench-manager@example.com", password=BENCH_PASSWORD, role=Role.MANAGER
        )
    )
    _refresh, access = issue_tokens(user)
    client = Client(HTTP_AUTHORIZATION=f"Bearer {access}")
    size = path.stat().st_size
    from django.test import override_settings

    # Inline, as before the queue: the whole import inside the request.
    with open(path, "rb") as upload, override_settings(IMPORT_INLINE_MAX_BYTES=size + 1):
        started = time.perf_counter()
        response = client.post("/api/v1/imports/", {"file": upload, "force": "true"})
        elapsed = time.perf_counter() - started
    body = response.json()
    assert response.status_code == 201, body
    print(
        f"[upload] {size / 1024 / 1024:.2f} MiB XLSX, {body['rows']:,} rows: {elapsed:.1f}s "
        f"(created={body['created']} assigned={body['assigned']}) stages: {body['timings']}"
    )
    if settings.REDIS_URL:
        reset()
        with Worker():
            upload_queued(client, path, rows)


class Worker:
    """A ``celery -A config worker`` child on the bench's database and Redis."""

    def __enter__(self):
        self.log = tempfile.TemporaryFile("w+")
        self.process = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "celery",
                "-A",
                "config",
                "worker",
                "--pool",
                "threads",
                "--concurrency",
                "1",
                "--loglevel",
                "WARNING",
            ],
            cwd=ROOT,
            env={**os.environ, "CELERY_TASK_ALWAYS_EAGER": "false"},
            stdout=self.log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        from celery import current_app

        # Ready when it answers a ping: the timings below start with a warm worker.
        deadline = time.monotonic() + 120
        while not current_app.control.ping(timeout=1.0):
            if time.monotonic() > deadline or self.process.poll() is not None:
                self.log.seek(0)
                raise SystemExit("the worker did not start:\n" + self.log.read()[-3000:])
        return self

    def __exit__(self, *exc):
        import signal

        os.killpg(self.process.pid, signal.SIGTERM)
        self.process.wait(timeout=120)
        self.log.close()


def wait_state(batch_id, states, timeout=1800):
    from leads.models import ImportBatch

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        batch = ImportBatch.objects.get(pk=batch_id)
        if batch.state in states:
            return batch
        if batch.state not in ("queued", "processing"):
            raise SystemExit(f"batch #{batch_id} ended {batch.state}: {batch.message}")
        time.sleep(0.05)
    raise SystemExit(f"batch #{batch_id} still {batch.state} after {timeout}s")


def queued_import(path, label):
    """The same import handed to the worker: from the hand-off to ``committed``."""
    from imports.services import queue_file

    reset()
    started = time.perf_counter()
    with open(path, "rb") as upload:
        batch = queue_file(file=upload, actor=None, source="command", force=True, size_limit=False)
    handed = time.perf_counter() - started
    batch = wait_state(batch.pk, ("committed",))
    elapsed = time.perf_counter() - started
    print(
        f"[{label}] rows={batch.rows} created={batch.created} assigned={batch.assigned} "
        f"hand-off={handed:.2f}s total={elapsed:.2f}s = {batch.rows / elapsed:,.0f} rows/s"
    )
    return elapsed


def progress_cost(path, runs=3):
    """The inline import with its progress reporting (every chunk) against none."""
    from django.test import override_settings

    from imports import queueing

    real = queueing.Reporter.rows
    timings = {"with": [], "without": []}
    for _ in range(runs):
        for mode in ("with", "without"):  # interleaved: a busy moment hits both
            queueing.Reporter.rows = real if mode == "with" else (lambda self, *a, **k: None)
            with override_settings(IMPORT_PROGRESS_INTERVAL=0):
                elapsed, _ = full_import(path, f"progress-{mode}")
            timings[mode].append(elapsed)
    queueing.Reporter.rows = real
    with_s, without_s = (sorted(timings[m])[runs // 2] for m in ("with", "without"))
    print(
        f"progress_cost: with={with_s:.2f}s without={without_s:.2f}s (median of {runs}) "
        f"overhead={(with_s / without_s - 1) * 100:+.1f}%"
    )


def upload_queued(client, path, rows):
    """The queued upload: response time (p50 of 5), then time to preview and to committed."""
    from statistics import median

    from leads.models import ImportBatch

    answers = []
    first_id = None
    for n in range(5):
        with open(path, "rb") as upload:
            started = time.perf_counter()
            response = client.post(
                "/api/v1/imports/",
                {"file": upload, "force": "true", "preview": "true"},
                HTTP_PREFER="respond-async",
            )
            answers.append(time.perf_counter() - started)
        assert response.status_code == 202, response.json()
        batch_id = response.json()["id"]
        if n == 0:
            first_id, queued_at = batch_id, started
            preview = wait_state(batch_id, ("preview",))
            to_preview = time.perf_counter() - queued_at
            started = time.perf_counter()
            commit = client.post(f"/api/v1/imports/{first_id}/commit/", HTTP_PREFER="respond-async")
            assert commit.status_code == 202, commit.json()
            wait_state(first_id, ("committed",))
            to_committed = time.perf_counter() - started
        else:
            client.post(f"/api/v1/imports/{batch_id}/cancel/")
    assert ImportBatch.objects.get(pk=first_id).state == "committed"
    each = ", ".join(f"{a * 1000:.0f}" for a in answers)
    mib = path.stat().st_size / 1024 / 1024
    print(
        f"[upload-queued] {mib:.2f} MiB XLSX, {preview.rows:,} rows: "
        f"202 in p50={median(answers) * 1000:.0f}ms (of {each} ms); "
        f"preview after {to_preview:.1f}s; queued commit to committed {to_committed:.1f}s"
    )


def write_xls(path, rows):
    import xlwt

    workbook = xlwt.Workbook()
    sheet = workbook.add_sheet("Leads")
    for column, name in enumerate(HEADER):
        sheet.write(0, column, name)
    for number, row in enumerate(rows, start=1):
        for column, value in enumerate(row):
            sheet.write(number, column, value)
    workbook.save(path)


def run_import_leads(path, *options, env=None, what="the import_leads process"):
    """A reset desk, then ``manage.py import_leads PATH --force`` as a child process.

    Returns the wall-clock seconds (start-up included) and its output lines;
    a failed child prints its error and ends the benchmark.
    """
    reset()
    started = time.perf_counter()
    child = subprocess.run(
        [sys.executable, str(ROOT / "manage.py"), "import_leads", str(path), "--force", *options],
        capture_output=True,
        text=True,
        check=False,
        env={**os.environ, **(env or {})},
    )
    elapsed = time.perf_counter() - started
    if child.returncode:
        print(child.stderr[-2000:])
        raise SystemExit(f"{what} failed")
    return elapsed, child.stdout.splitlines()


def _peak(lines):
    return max((float(line.split("=")[-1]) for line in lines if "peak_rss_mb=" in line), default=0)


def xls_import(workdir):
    """``import_leads`` of a full XLS sheet, streamed and through calamine: time and peak RSS.

    In the order streamed, calamine, calamine, streamed (the first import after a
    reset pays for warming the tables): each reader's mean.
    """
    path = workdir / "leads.xls"
    write_xls(path, generate(65_535, seed=17))
    mib = path.stat().st_size / 1024 / 1024
    results = {"streamed": [], "calamine": []}
    for label in ("streamed", "calamine", "calamine", "streamed"):
        elapsed, lines = run_import_leads(
            path,
            env={"IMPORT_XLS_STREAM": "1" if label == "streamed" else "0"},
            what="the XLS import",
        )
        peak = _peak(lines)
        results[label].append((elapsed, peak))
        print(f"[xls {label}] {mib:.2f} MiB, 65,535 rows: {elapsed:.2f}s, peak RSS {peak:.0f} MB")
    (streamed_s, streamed_mb), (calamine_s, calamine_mb) = (
        [sum(values) / len(values) for values in zip(*results[label], strict=True)]
        for label in ("streamed", "calamine")
    )
    print(
        f"xls_rows_per_s={65_535 / streamed_s:.0f} peak_rss_mb={streamed_mb:.0f} "
        f"calamine_rows_per_s={65_535 / calamine_s:.0f} calamine_peak_rss_mb={calamine_mb:.0f}"
    )


def million(workdir):
    path = workdir / "million.csv"
    write_csv(path, generate(1_000_000, seed=13))
    elapsed, lines = run_import_leads(path, "--verbosity", "2", what="the 1M import")
    lines = [line for line in lines if line.startswith(("rows=", "timings", "peak_rss", "Batch"))]
    print("\n".join(f"[1M] {line}" for line in lines))
    print(f"[1M] {elapsed:.1f}s = {1_000_000 / elapsed:,.0f} rows/s")
    print(f"million_rows_per_s={1_000_000 / elapsed:.0f} peak_rss_mb={_peak(lines):.0f}")


def process_import(path, label, count):
    """``manage.py import_leads`` as a whole process, start-up included (wall clock)."""
    elapsed, lines = run_import_leads(path)
    summary = [line for line in lines if line.startswith("timings")]
    print(f"[{label}] {' '.join(summary)}")
    print(f"[{label}] {elapsed:.2f}s (whole process) = {count / elapsed:,.0f} rows/s")
    return elapsed


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--rows", type=int, default=100_000)
    parser.add_argument("--no-xlsx", action="store_true")
    parser.add_argument("--upload", action="store_true", help="time a ~10 MiB XLSX upload")
    parser.add_argument("--million", action="store_true", help="1M-row import_leads, peak RSS")
    parser.add_argument("--xls", action="store_true", help="a 65,535-row XLS: time, peak RSS")
    parser.add_argument("--no-routing", action="store_true", help="skip the 50-rule import")
    parser.add_argument(
        "--routing-only",
        action="store_true",
        help="only the plain and the 50-rule imports (no floor, XLSX or queue)",
    )
    parser.add_argument(
        "--routing-runs",
        type=int,
        default=1,
        help="routed/plain pairs after the first plain import, interleaved (median ratio)",
    )
    parser.add_argument("--progress", action="store_true", help="the cost of progress reporting")
    args = parser.parse_args()

    ensure_database()
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        rows = generate(args.rows)
        csv_path = workdir / "leads.csv"
        write_csv(csv_path, rows)
        drop_routing_rules()
        if args.routing_only:
            csv_s, _ = full_import(csv_path, "csv")
            routing_ratio(csv_path, len(rows), csv_s, args.routing_runs)
            return
        if args.million:
            million(workdir)
        if args.upload:
            upload_10mib(workdir, rows)
        if args.xls:
            xls_import(workdir)
        # The floor is one short statement, so a busy moment skews it: median of 3.
        runs = sorted(floor(csv_path, len(rows)) for _ in range(3))
        floor_s = runs[1]
        print(
            f"[floor] LOAD DATA LOCAL INFILE {len(rows):,} rows: {floor_s:.2f}s "
            f"(median of {', '.join(f'{r:.2f}' for r in runs)})"
        )
        indexed_s = indexed_floor(csv_path, len(rows))
        print(
            f"indexed_floor_rows_per_s={len(rows) / indexed_s:.0f} "
            f"indexed_floor_ratio={floor_s / indexed_s:.3f} (the best ratio any importer "
            "keeping the lead table's indexes could reach)"
        )
        if not args.no_xlsx:
            xlsx_path = workdir / "leads.xlsx"
            write_xlsx(xlsx_path, rows)
            xlsx_s, _ = full_import(xlsx_path, "xlsx")
            print(f"xlsx_import_rows_per_s={len(rows) / xlsx_s:.0f} ratio={floor_s / xlsx_s:.3f}")
        if args.progress:
            progress_cost(csv_path)
        csv_s, _ = full_import(csv_path, "csv")
        from django.conf import settings

        if settings.REDIS_URL:
            with Worker():
                queued_s = queued_import(csv_path, "queued")
            print(
                f"queued_import_rows_per_s={len(rows) / queued_s:.0f} "
                f"floor_rows_per_s={len(rows) / floor_s:.0f} ratio={floor_s / queued_s:.3f}"
            )
        else:
            print("[queued] skipped: set REDIS_URL for the worker path")
        process_s = process_import(csv_path, "process", len(rows))
        reset()
        print(
            f"process_rows_per_s={len(rows) / process_s:.0f} "
            f"floor_rows_per_s={len(rows) / floor_s:.0f} process_ratio={floor_s / process_s:.3f}"
        )
        if not args.no_routing:
            routing_ratio(csv_path, len(rows), csv_s, args.routing_runs)
        print(
            f"import_rows_per_s={len(rows) / csv_s:.0f} floor_rows_per_s={len(rows) / floor_s:.0f} "
            f"ratio={floor_s / csv_s:.3f}"
        )


def routing_ratio(csv_path, count, plain_s, runs):
    """The same file through 50 active routing rules against the plain import of this run.

    After the plain import already timed: ``runs`` pairs of a routed and a plain
    import, interleaved, so that each routed import is compared with the plain
    ones just before and after it (their mean: the machine's load drifts); the
    ratio printed is the median of those comparisons.
    """
    from statistics import median

    plain, routed, matched = [plain_s], [], 0
    for _ in range(max(runs, 1)):
        reset()
        add_routing_rules()
        routed_s, outcome = full_import(csv_path, "csv+routing")
        routed.append(routed_s)
        matched = sum(entry["matched"] for entry in outcome.routing)
        drop_routing_rules()
        plain.append(full_import(csv_path, "csv")[0])
    reset()
    ratios = [(plain[i] + plain[i + 1]) / 2 / seconds for i, seconds in enumerate(routed)]
    print(
        f"[routing] plain {', '.join(f'{s:.2f}' for s in plain)}s; "
        f"routed {', '.join(f'{s:.2f}' for s in routed)}s; "
        f"each against its neighbours: {', '.join(f'{r:.3f}' for r in ratios)}"
    )
    print(
        f"routed_import_rows_per_s={count / median(routed):.0f} rules={ROUTING_RULES} "
        f"routed_by_rules={matched} ratio_to_plain={median(ratios):.3f}"
    )


if __name__ == "__main__":
    main()
