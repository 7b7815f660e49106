"""API benchmark: an agent's lead list under gunicorn against a bare Django view.

    make bench-api   # or: DATABASE_URL=mysql://root@127.0.0.1:3306/leadline_bench_api \\
                     #     REDIS_URL=redis://127.0.0.1:6379/9 python bench/api_bench.py
        [--connections 16] [--duration 10] [--rounds 5] [--workers N --threads N] [--sweep]

Seeds 10,000 leads across 10 agents, starts gunicorn with config/gunicorn.conf.py
on loopback (production settings: DEBUG off, JWT auth, throttles, middleware),
then drives it with wrk from the same box: the API's lead list
(``GET /api/v1/leads/`` as an agent, JWT, page of 50) and, in the same run and
server, a bare Django view returning the same 50 rows with one raw query, in
alternating slices so that noise on the shared box falls on both alike.
Login is not in the mix (a password hash costs ~0.5 s by design).
``--sweep`` tries several worker/thread shapes and reports each.
The last line is ``api_rps=… bare_rps=… ratio=… p99_ms=…``.
"""

import argparse
import os
import re
import secrets
import shutil
import subprocess
import sys
import tempfile
import urllib.request
from pathlib import Path
from urllib.parse import urlparse

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/leadline_bench_api")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
os.environ.setdefault("CACHE_KEY_PREFIX", "bench_api")

from bench import serving  # noqa: E402
from bench.serving import free_port, stop  # noqa: E402

AGENTS = 10
LEADS = 10_000
SECRET = secrets.token_urlsafe(50)
JWT_KEY = secrets.token_urlsafe(50)


def ensure_wrk():
    if shutil.which("wrk"):
        return shutil.which("wrk")
    print("installing wrk (apt-get install -y wrk)", flush=True)
    subprocess.run(["apt-get", "install", "-y", "wrk"], check=False, capture_output=True)
    if not shutil.which("wrk"):
        subprocess.run(["apt-get", "update"], check=False, capture_output=True)
        subprocess.run(["apt-get", "install", "-y", "wrk"], check=True, capture_output=True)
    return shutil.which("wrk")


def ensure_database():
    url = urlparse(os.environ["DATABASE_URL"])
    name = url.path.lstrip("/")
    if "bench" not in name:
        raise SystemExit(f"refusing to drop {name!r}: the benchmark's database name has 'bench'")
    subprocess.run(
        [
            "mariadb",
            "--protocol=tcp",
            f"-h{url.hostname or '127.0.0.1'}",
            f"-P{url.port or 3306}",
            f"-u{url.username or 'root'}",
            *([f"-p{url.password}"] if url.password else []),
            "-e",
            f"DROP DATABASE IF EXISTS `{name}`; CREATE DATABASE `{name}` "
            "CHARACTER SET utf8mb4 COLLATE utf8mb4_unicode_ci",
        ],
        check=True,
    )


def seed():
    """Migrate and create 10 agents with 1,000 leads each; return one agent's token."""
    os.environ["DJANGO_DEBUG"] = "true"  # seeding only; the server runs production settings
    os.environ.setdefault("DJANGO_SECRET_KEY", SECRET)
    os.environ.setdefault("JWT_SIGNING_KEY", JWT_KEY)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    from django.core.cache import caches

    # The benchmark's own Redis db: totals cached by an earlier run describe rows
    # that were just dropped.
    caches["default"].clear()
    caches["ratelimit"].clear()
    from agents.services import agent_create
    from leads.models import Lead

    agents = [
        agent_create(
            name=f"Bench Agent {n}",
            email=f"bench{n}@example.com",
            mobile=f"+9198000{n:05d}",
            password=secrets.token_urlsafe(12),
        )
        for n in range(AGENTS)
    ]
    Lead.objects.bulk_create(
        [
            Lead(
                first_name=f"Lead{n}",
                last_name="Benchmark",
                phone=f"+9197{n:08d}",
                email=f"lead{n}@example.com",
                notes="Call after 6pm" if n % 3 == 0 else "",
                agent=agents[n % AGENTS],
                extra={"city": "Pune", "source": "bench"},
            )
            for n in range(LEADS)
        ],
        batch_size=2000,
    )
    from accounts.tokens import issue_tokens

    agent = agents[3]
    # Long enough for every run of the sweep: the access token lasts 15 minutes.
    _refresh, access = issue_tokens(agent.user)
    return agent.pk, access


def start_gunicorn(port, workers, threads, metrics_dir):
    # None = whatever config/gunicorn.conf.py picks (what production runs).
    return serving.start_gunicorn(
        port,
        metrics_dir,
        DJANGO_SECRET_KEY=SECRET,
        JWT_SIGNING_KEY=JWT_KEY,
        DJANGO_SETTINGS_MODULE="bench.settings",
        WEB_CONCURRENCY=workers,
        GUNICORN_THREADS=threads,
    )


def check_same_rows(port, agent_id, access):
    import json

    api = urllib.request.Request(
        f"http://127.0.0.1:{port}/api/v1/leads/", headers={"Authorization": f"Bearer {access}"}
    )
    with urllib.request.urlopen(api, timeout=10) as r:  # noqa: S310
        api_rows = json.loads(r.read())["results"]
    with urllib.request.urlopen(
        f"http://127.0.0.1:{port}/bench/bare-leads/{agent_id}/", timeout=10
    ) as r:
        bare_rows = json.loads(r.read())
    assert len(api_rows) == len(bare_rows) == 50, (len(api_rows), len(bare_rows))
    assert [row["id"] for row in api_rows] == [row["id"] for row in bare_rows]
    assert list(api_rows[0]) == list(bare_rows[0])  # same fields, same order


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url, connections, duration, headers=()):
    args = [ensure_wrk(), f"-t{min(connections, 2)}", f"-c{connections}", f"-d{duration}s"]
    args += ["--latency", "--timeout", "5s"]
    for header in headers:
        args += ["-H", header]
    out = subprocess.run([*args, url], check=True, capture_output=True, text=True).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out)[1])
    value, unit = re.search(r"\s99%\s+([\d.]+)(us|ms|s)\b", out).groups()
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise SystemExit(f"{non2xx[1]} non-2xx responses from {url}:\n{out}")
    return rps, float(value) * _UNITS[unit]


def measure(workers, threads, agent_id, access, connections, duration, rounds):
    """Requests per second and p99 of the API and the bare view, interleaved.

    The two run in alternating slices (API, bare, API, bare, …) so that a noisy
    neighbour or a CPU frequency change hits both alike instead of whichever
    happened to run during it. Rates are averaged over the slices (equal
    lengths); the p99 reported is the worst slice's, an upper bound on the
    whole run's.
    """
    port = free_port()
    api_rps, bare_rps, p99, bare_p99 = [], [], [], []
    slice_seconds = max(1, round(duration / rounds))
    with tempfile.TemporaryDirectory() as metrics_dir:
        proc = start_gunicorn(port, workers, threads, metrics_dir)
        try:
            check_same_rows(port, agent_id, access)
            api_url = f"http://127.0.0.1:{port}/api/v1/leads/"
            bare_url = f"http://127.0.0.1:{port}/bench/bare-leads/{agent_id}/"
            auth = [f"Authorization: Bearer {access}"]
            wrk(api_url, connections, 2, auth)  # warm up connections and caches
            wrk(bare_url, connections, 2)
            for _ in range(rounds):
                rps, latency = wrk(api_url, connections, slice_seconds, auth)
                api_rps.append(rps)
                p99.append(latency)
                rps, latency = wrk(bare_url, connections, slice_seconds)
                bare_rps.append(rps)
                bare_p99.append(latency)
        finally:
            stop(proc)
    return (
        sum(api_rps) / rounds,
        sum(bare_rps) / rounds,
        max(p99),
        max(bare_p99),
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--connections", type=int, default=16)
    parser.add_argument("--duration", type=int, default=10, help="seconds per endpoint")
    parser.add_argument("--rounds", type=int, default=5, help="alternating slices per endpoint")
    parser.add_argument("--workers", type=int, default=None)
    parser.add_argument("--threads", type=int, default=None)
    parser.add_argument("--sweep", action="store_true")
    options = parser.parse_args()

    ensure_wrk()
    ensure_database()
    agent_id, access = seed()
    print(f"seeded {LEADS} leads across {AGENTS} agents; cores={os.cpu_count()}", flush=True)

    if options.sweep:
        shapes = [(2, 1), (3, 1), (4, 1), (5, 1), (2, 2), (2, 4), (3, 2), (4, 2)]
    else:
        shapes = [(options.workers, options.threads)]
    best = None
    for workers, threads in shapes:
        api_rps, bare_rps, p99, bare_p99 = measure(
            workers,
            threads,
            agent_id,
            access,
            options.connections,
            options.duration,
            max(1, options.rounds),
        )
        ratio = api_rps / bare_rps
        print(
            f"workers={workers or 'conf'} threads={threads or 'conf'} "
            f"api_rps={api_rps:.0f} bare_rps={bare_rps:.0f} ratio={ratio:.2f} "
            f"p99_ms={p99:.1f} bare_p99_ms={bare_p99:.1f}",
            flush=True,
        )
        if best is None or api_rps > best[0]:
            best = (api_rps, bare_rps, ratio, p99, workers, threads)
    api_rps, bare_rps, ratio, p99, workers, threads = best
    if options.sweep:
        print(f"best: workers={workers} threads={threads}")
    print(f"api_rps={api_rps:.0f} bare_rps={bare_rps:.0f} ratio={ratio:.2f} p99_ms={p99:.1f}")


if __name__ == "__main__":
    main()
