"""The harness of the web app's end-to-end tests (``frontend/e2e/``).

One live server per test session (pytest-django's ``live_server``, shared with
the admin's browser test; one per xdist worker, each on its own test database)
serves the BUILT app from ``frontend/dist/`` under the production
Content-Security-Policy; one headless Chromium (Debian's ``/usr/bin/chromium``)
per session; a fresh browser context per test, watched for console errors, CSP
violations and tokens left in web storage (``e2e/desk.py``).

Every test here is marked ``browser``. It skips only where Chromium is not
installed; a missing build is a failure that says to run ``make web``.
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from .desk import ARTIFACTS, PASSWORD, Desk, set_access_lifetime, web_app_dir

# Playwright's sync API runs an event loop in the test thread; the ORM calls
# the tests make (fixtures, assertions on rows) are still plain synchronous code.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

ROOT = Path(__file__).resolve().parents[2]
# Long enough that no test but the expiry one sees a token expire mid-step.
ACCESS_SECONDS = 300


@pytest.fixture(scope="session")
def spa_dist():
    """The built app; its absence fails every browser test with the fix to apply."""
    dist = web_app_dir()
    if not (dist / "index.html").is_file():
        pytest.fail(
            f"The web app is not built ({dist / 'index.html'} is missing): run `make web`.",
            pytrace=False,
        )
    return dist


@pytest.fixture(scope="session")
def production_csp():
    """``CONTENT_SECURITY_POLICY`` exactly as a production process (DEBUG off) builds it.

    The tests run with ``DJANGO_DEBUG=true`` (pytest.ini), under which the
    settings may relax the policy for development; the live server must answer
    with the policy production sends, so it is read from a fresh interpreter.
    """
    code = (
        "import json, config.settings as s;"
        "print(json.dumps({'csp': s.CONTENT_SECURITY_POLICY,"
        " 'report_only': getattr(s, 'CONTENT_SECURITY_POLICY_REPORT_ONLY', None)}))"
    )
    env = {**os.environ, "DJANGO_DEBUG": "false"}
    out = subprocess.run(  # noqa: S603 - our own interpreter on a fixed snippet
        [sys.executable, "-c", code], cwd=ROOT, env=env, capture_output=True, text=True, check=True
    )
    policy = json.loads(out.stdout.strip().splitlines()[-1])
    directives = policy["csp"]["DIRECTIVES"]
    # The contract: no inline script, no eval, only the app's own origin to talk to.
    script_src = directives.get("script-src", directives.get("default-src", []))
    assert "'unsafe-inline'" not in script_src and "'unsafe-eval'" not in script_src
    return policy


@pytest.fixture(autouse=True)
def _web_settings(settings, production_csp):
    """What the live server runs with: the production CSP, a known token lifetime."""
    settings.CONTENT_SECURITY_POLICY = production_csp["csp"]
    settings.CONTENT_SECURITY_POLICY_REPORT_ONLY = production_csp["report_only"]
    set_access_lifetime(settings, ACCESS_SECONDS)
    # Sign-ins and refreshes of a whole flow from one address stay under the limits.
    settings.RATELIMIT_LOGIN_IP = "1000/m"
    settings.RATELIMIT_LOGIN_EMAIL = "1000/m"
    settings.RATELIMIT_REFRESH = "1000/m"
    # Hashing is not what these tests look at: a fast hasher keeps each sign-in and
    # each demo user from costing a second of Argon2 on a busy two-core machine.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


@pytest.fixture
def open_desk(browser, live_server, spa_dist):
    """``open_desk()`` opens a new browser context (its own cookies, storage, service
    worker) on the live server; each one is checked and closed when the test ends."""
    from playwright.sync_api import expect

    expect.set_options(timeout=10_000)
    desks = []

    def open_(**options):
        desk = Desk(browser, live_server.url, **options)
        desks.append(desk)
        return desk

    yield open_
    try:
        for desk in desks:
            desk.assert_clean()
    finally:
        for desk in desks:
            desk.close()


@pytest.fixture
def desk(open_desk):
    """The test's browser context at desktop size (1280x800)."""
    return open_desk()


@pytest.fixture
def people(make_user, make_agent):
    """The demo desk: a manager and two agents (password ``PASSWORD``)."""
    from accounts.models import Role

    return {
        "manager": make_user(Role.MANAGER, email="meera@leadline.test", password=PASSWORD),
        "asha": make_agent(name="Asha Rao", email="asha@leadline.test", password=PASSWORD),
        "ravi": make_agent(name="Ravi Kumar", email="ravi@leadline.test", password=PASSWORD),
    }


@pytest.fixture
def artifacts():
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS
