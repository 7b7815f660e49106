#!/usr/bin/env python3
"""Fuzz the API against its own OpenAPI schema with schemathesis (a ``.ci/run`` step).

Starts Leadline under gunicorn on a free loopback port with production
settings (JSON errors, no debug pages) on the embedded default: a throwaway
SQLite file, the in-process cache, ``seed_demo`` data plus one imported batch
with a bad row. It makes an access token for a demo agent and for the demo
manager and runs ``st run`` as each, agent first: every check but one (below), at most
``--examples`` test cases per operation and phase, a fixed seed. It passes
only with no server error and no schema violation (an undocumented status or
content type, a body that does not match its schema, invalid input accepted,
valid input refused; ``scripts/schemathesis.toml`` says which refusals JSON
Schema cannot express).

    .venv/bin/python scripts/schema_fuzz.py [--examples 25] [--seed 1] [--role agent]

Nothing is excluded, and nothing needs to be:

- ``POST /auth/logout/`` (and ``/auth/token/refresh/``) would end the run's
  tokens only if given a refresh token; the run holds access tokens only, and
  logging in needs the demo password, which it does not have. After each run
  the token must still authenticate, so a run that lost its token mid-way
  fails instead of passing on 401s.
- ``DELETE /agents/{id}/`` deactivates an agent and ends that agent's logins:
  the agent's run comes first, and a manager cannot deactivate a manager.
  Fewer eligible agents make distribution a 409, which is documented. The
  agent stays readable (``"is_active": false``), so schemathesis' check that a
  deleted resource is gone (``use_after_free``) is the one check left out.
"""

import argparse
import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PYTHON = sys.executable
ST = str(Path(PYTHON).with_name("st"))

# Operation ids left out of the run (none: see the module docstring). A test
# checks that every id named here and in schemathesis.toml exists.
EXCLUDED = []

ROLES = {"agent": "asha@leadline.local", "manager": "manager@leadline.local"}
TOKENS = """
import json
from accounts.models import User
from accounts.tokens import issue_tokens
emails = json.loads({emails!r})
print(json.dumps({{role: issue_tokens(User.objects.get(email=email))[1]
                  for role, email in emails.items()}}))
"""
IMPORT_CSV = "first_name,phone,email\nAnita,+919812345670,anita@example.com\n,12,bad\n"


def free_port():
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def manage(env, *args):
    result = subprocess.run(
        [PYTHON, "manage.py", *args],
        cwd=ROOT,
        env=env,
        check=True,
        text=True,
        stdout=subprocess.PIPE,
    )
    return result.stdout


def get(url, token=None):
    request = urllib.request.Request(url)  # noqa: S310 - our own http://127.0.0.1 URLs
    if token:
        request.add_header("Authorization", f"Bearer {token}")
    try:
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310
            return response.status
    except urllib.error.HTTPError as exc:
        return exc.code


def wait_until_up(url, process, seconds=60):
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit(f"the server exited with {process.returncode}")
        try:
            if get(url) == 200:
                return
        except OSError:
            pass
        time.sleep(0.3)
    raise SystemExit(f"the server did not answer {url} within {seconds} s")


def server_env(work):
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in ("DATABASE_URL", "DATABASE_REPLICA_URL", "REDIS_URL", "AWS_S3_BUCKET")
    }
    env.update(
        # Production settings, over plain HTTP on loopback.
        DJANGO_DEBUG="false",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="127.0.0.1",
        SECURE_SSL_REDIRECT="false",
        SECURE_HSTS_SECONDS="0",
        DATABASE_URL=f"sqlite:///{work / 'fuzz.sqlite3'}",
        MEDIA_ROOT=str(work / "media"),
        # Invitations and resets the run triggers stay in the process.
        EMAIL_URL="locmem://",
        BACKUP_DIR=str(work / "backups"),
        LOG_LEVEL="ERROR",
        LOG_FORMAT="plain",
        # One client sends thousands of requests a minute: the limits would
        # answer 429 (documented, but then nothing behind them is tested).
        API_THROTTLE_USER="1000000/min",
        API_THROTTLE_ANON="1000000/min",
        RATELIMIT_LOGIN_IP="1000000/m",
        RATELIMIT_LOGIN_EMAIL="1000000/m",
        RATELIMIT_REFRESH="1000000/m",
        RATELIMIT_UPLOAD="1000000/m",
        JWT_ACCESS_MINUTES="60",
        PYTHONUNBUFFERED="1",
    )
    return env


def seed(env, work):
    manage(env, "migrate", "--noinput")
    manage(env, "seed_demo", "--leads", "60")
    sheet = work / "june.csv"
    sheet.write_text(IMPORT_CSV)
    manage(env, "import_leads", str(sheet), "--actor", ROLES["manager"])
    output = manage(env, "shell", "-c", TOKENS.format(emails=json.dumps(ROLES)))
    return json.loads(output.strip().splitlines()[-1])


def run_schemathesis(base, token, options, work):
    """Run ``st run``, echoing its output; returns (exit code, passed, failures)."""
    command = [
        ST,
        "--config-file",
        str(ROOT / "scripts" / "schemathesis.toml"),
        "run",
        f"{base}/api/schema/?format=json",
        "--url",
        base,
        "--header",
        f"Authorization: Bearer {token}",
        "--checks",
        "all",
        # "A deleted resource must be gone": the API's one DELETE that succeeds,
        # DELETE agents/{id}/, deactivates; the agent stays readable with
        # "is_active": false, as documented. No other operation deletes anything.
        "--exclude-checks",
        "use_after_free",
        "--max-examples",
        str(options.examples),
        "--seed",
        str(options.seed),
        "--workers",
        "1",
        "--no-color",
        *[arg for operation in EXCLUDED for arg in ("--exclude-operation-id", operation)],
        *options.st_args,
    ]
    # In the work directory: schemathesis keeps its cache (.schemathesis/) in the cwd.
    process = subprocess.Popen(command, cwd=work, stdout=subprocess.PIPE, text=True)
    passed = failures = 0
    for line in process.stdout:
        sys.stdout.write(line)
        # The summary: "2718 generated, 2718 passed, ..." or "2670 generated, 1 found
        # 1 unique failure, ..." (test cases, and the distinct failures among them).
        if match := re.search(r"(\d+) generated, (?:(\d+) passed|(\d+) found)", line):
            generated, found = int(match.group(1)), int(match.group(3) or 0)
            passed = int(match.group(2) or generated - found)
        if match := re.search(r"(\d+) unique failures?", line):
            failures = int(match.group(1))
    return process.wait(), passed, failures


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--examples", type=int, default=25, help="test cases per operation")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--role", choices=list(ROLES), action="append", help="default: both")
    parser.add_argument("--keep", action="store_true", help="keep the work directory")
    parser.add_argument("st_args", nargs="*", help="more `st run` arguments (after --)")
    options = parser.parse_args()

    work = Path(tempfile.mkdtemp(prefix="leadline-fuzz-"))
    env = server_env(work)
    server = None
    passed = failures = 0
    failed = []
    try:
        tokens = seed(env, work)
        port = free_port()
        base = f"http://127.0.0.1:{port}"
        with open(work / "server.log", "w") as log:
            server = subprocess.Popen(
                [
                    PYTHON,
                    "-m",
                    "gunicorn",
                    "config.wsgi:application",
                    f"--bind=127.0.0.1:{port}",
                    "--workers=1",
                    "--timeout=120",
                    # gunicorn answers a request line over 4094 bytes with its own
                    # HTML 414 before Leadline sees it (as a proxy would in
                    # production); the generated long query strings are meant for
                    # the API, so the limit is lifted here.
                    "--limit-request-line=0",
                ],
                cwd=ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        wait_until_up(f"{base}/healthz", server)
        for role in options.role or list(ROLES):  # the agent first: see the docstring
            print(f"== schemathesis as the demo {role} ({ROLES[role]})", flush=True)
            code, role_passed, role_failures = run_schemathesis(base, tokens[role], options, work)
            passed += role_passed
            failures += role_failures
            if get(f"{base}/api/v1/auth/me/", tokens[role]) != 200:
                print(f"the {role}'s token stopped working during its run", flush=True)
                code = code or 1
                failures += 1
            if code:
                failed.append(role)
    finally:
        if server is not None:
            os.killpg(server.pid, signal.SIGTERM)
            server.wait(timeout=30)
        if options.keep or failed:
            print(f"work directory (server.log, the database): {work}")
        else:
            shutil.rmtree(work, ignore_errors=True)
    # One closing line in the shape test runners use, for CI logs.
    print(f"schemathesis: {passed} passed, {failures} failed", flush=True)
    if failed:
        raise SystemExit(f"schemathesis failed as: {', '.join(failed)}")


if __name__ == "__main__":
    main()
