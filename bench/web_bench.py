"""Web app benchmark: what an agent downloads and waits for to see the first list.

    make bench-web   # or: python bench/web_bench.py [--runs 5] [--leads 1000]

Builds nothing itself (``make bench-web`` runs ``make web`` first). Seeds the demo
desk (``seed_demo``) plus ``--leads`` leads for the demo agent, collects static
files (the built SPA among them) into a temporary STATIC_ROOT, starts gunicorn
with production settings (DEBUG off, whitenoise, the CSP) on loopback and drives
Debian's Chromium (``/usr/bin/chromium``; no browser download) with Playwright:

- bytes: a fresh browser signs in as the agent and opens ``/leads``; every
  JavaScript and CSS response up to the first lead row is summed, as gzip
  (``gzip -9`` of each body, what whitenoise precompresses) and as sent on the
  wire (the encoding Chromium negotiated);
- time: for each of ``--runs`` fresh browser contexts (empty HTTP cache, the
  refresh cookie set by a sign-in through the API), milliseconds from navigation
  start to the first lead row in the table (``performance.now()``); the median.

The last line is ``agent_first_screen_gzip_kb=… first_row_ms=… budget_kb=150``.
"""

import argparse
import gzip
import os
import secrets
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
os.environ.setdefault("DATABASE_URL", "mysql://root@127.0.0.1:3306/leadline_bench_web")
os.environ.setdefault("REDIS_URL", "redis://127.0.0.1:6379/9")
# A key prefix of its own per run: nothing cached by an earlier run is read.
os.environ["CACHE_KEY_PREFIX"] = f"bench_web_{secrets.token_hex(4)}"

# The shared database, gunicorn and stop helpers.
import api_bench

ROOT = Path(__file__).resolve().parent.parent
DIST = ROOT / "frontend" / "dist" / "index.html"
AGENT_EMAIL = "asha@leadline.local"
AGENT_PASSWORD = "leadline-demo"  # noqa: S105 - seed_demo's printed demo login
BUDGET_KB = 150
CHROMIUM = "/usr/bin/chromium"
FIRST_ROW = "table.leads tbody tr"


def seed(leads):
    os.environ["DJANGO_DEBUG"] = "true"  # seeding only; the server runs production settings
    os.environ.setdefault("DJANGO_SECRET_KEY", api_bench.SECRET)
    os.environ.setdefault("JWT_SIGNING_KEY", api_bench.JWT_KEY)
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("seed_demo", verbosity=0)
    from agents.models import Agent
    from leads.models import Lead

    agent = Agent.objects.get(email=AGENT_EMAIL)
    Lead.objects.bulk_create(
        [
            Lead(
                first_name=f"Bench{n}",
                last_name="Lead",
                phone=f"+9196{n:08d}",
                notes="Call after 6pm" if n % 3 == 0 else "",
                agent=agent,
            )
            for n in range(leads)
        ],
        batch_size=2000,
    )


def collect_static():
    """collectstatic under production settings (hashed names, .gz/.br beside them)."""
    env = {
        **os.environ,
        "DJANGO_SECRET_KEY": api_bench.SECRET,
        "JWT_SIGNING_KEY": api_bench.JWT_KEY,
    }
    env.pop("DJANGO_DEBUG", None)
    subprocess.run(
        [sys.executable, "manage.py", "collectstatic", "--noinput", "--verbosity=0"],
        cwd=ROOT,
        env=env,
        check=True,
    )


def start_server():
    # Plain http on loopback: the refresh cookie cannot be Secure here.
    os.environ["JWT_REFRESH_COOKIE_SECURE"] = "false"
    port = api_bench.free_port()
    with tempfile.TemporaryDirectory() as metrics_dir:
        proc = api_bench.start_gunicorn(port, None, None, metrics_dir)
    return proc, port


def first_screen(browser, base):
    """Sign in through the form, open /leads; JS+CSS bodies until the first row."""
    context = browser.new_context()
    page = context.new_page()
    assets = {}

    def keep(response):
        kind = response.request.resource_type
        if kind in ("script", "stylesheet") and response.ok:
            try:
                body = response.body()
            except Exception:  # a body the browser dropped (a redirect, a cancelled load)
                return
            wire = int(response.headers.get("content-length") or len(body))
            assets[response.url] = (len(gzip.compress(body, 9)), wire, len(body))

    page.on("response", keep)
    page.goto(base + "/")
    page.get_by_label("Email").fill(AGENT_EMAIL)
    page.get_by_label("Password").fill(AGENT_PASSWORD)
    page.get_by_role("button", name="Sign in").click()
    page.locator(FIRST_ROW).first.wait_for()
    context.close()
    return assets


def time_first_row(browser, base):
    context = browser.new_context()
    response = context.request.post(
        base + "/api/v1/auth/token/",
        data={"email": AGENT_EMAIL, "password": AGENT_PASSWORD},
        headers={"X-Leadline-Client": "web"},
    )
    if response.status != 200:
        raise SystemExit(f"sign-in refused: {response.status} {response.text()[:300]}")
    page = context.new_page()
    page.goto(base + "/leads", wait_until="commit")
    ms = page.wait_for_function(
        f"() => document.querySelector({FIRST_ROW!r}) ? performance.now() : null",
        polling="raf",
        timeout=30_000,
    ).json_value()
    waterfall = page.evaluate(
        """() => performance.getEntriesByType("resource").map(
            (e) => [e.name.replace(location.origin, ""), Math.round(e.startTime),
                    Math.round(e.responseEnd)])"""
    )
    context.close()
    return ms, waterfall


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--leads", type=int, default=1000)
    args = parser.parse_args()
    if not DIST.exists():
        raise SystemExit("frontend/dist is not built: run make web (make bench-web does)")
    from playwright.sync_api import sync_playwright

    api_bench.ensure_database()
    with tempfile.TemporaryDirectory() as static_root:
        # Collected (hashed, precompressed) as the image does, served by whitenoise.
        os.environ["STATIC_ROOT"] = static_root
        seed(args.leads)
        collect_static()
        proc, port = start_server()
        base = f"http://127.0.0.1:{port}"
        try:
            with sync_playwright() as pw:
                browser = pw.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
                assets = first_screen(browser, base)
                runs = [time_first_row(browser, base) for _ in range(args.runs)]
                times = [ms for ms, _waterfall in runs]
                browser.close()
        finally:
            api_bench.stop(proc)
    for url, (gz, wire, raw) in sorted(assets.items()):
        print(f"{url.rsplit('/', 1)[-1]:40} raw={raw:>8} gzip={gz:>7} wire={wire:>7}")
    gzip_kb = sum(gz for gz, _w, _r in assets.values()) / 1024
    wire_kb = sum(w for _g, w, _r in assets.values()) / 1024
    print("last run (path, start ms, end ms):")
    for name, start, end in runs[-1][1]:
        print(f"  {name[:60]:60} {start:>6} {end:>6}")
    print(f"first-row ms per run: {', '.join(f'{t:.0f}' for t in times)}")
    print(f"wire (negotiated encoding) JS+CSS: {wire_kb:.1f} KB")
    print(
        f"agent_first_screen_gzip_kb={gzip_kb:.1f} first_row_ms={statistics.median(times):.0f} "
        f"budget_kb={BUDGET_KB}"
    )
    if gzip_kb > BUDGET_KB:
        raise SystemExit(f"over budget: {gzip_kb:.1f} KB > {BUDGET_KB} KB")


if __name__ == "__main__":
    main()
