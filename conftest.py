"""Fixtures shared by every app's tests.

Users by role (``admin_user``, ``manager``, ``agent``, ``other_agent``, and the
``make_user`` / ``make_agent`` factories), ``console`` (the admin, signed in as a
manager), ``make_lead`` (an owned lead gets its open assignment, as the services
keep it), ``auth(user)`` for an API client with a fresh token, and a cache
emptied before every test.
"""

import itertools
from pathlib import Path

import pytest
from django.core.cache import cache, caches
from rest_framework.test import APIClient

from accounts.models import Role, User
from accounts.tokens import issue_tokens
from agents.services import agent_create
from assignments.models import Assignment, Reason, Strategy
from common import dataversion
from leads import counters
from leads.models import Lead

PASSWORD = "correct-horse-battery-staple"
_seq = itertools.count(1)
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def browser():
    """Debian's headless Chromium, one for every browser test of the session (per
    xdist worker): Playwright's sync API runs one instance per thread, so the
    admin's browser test and the web app's (frontend/e2e/) share it."""
    sync_api = pytest.importorskip("playwright.sync_api")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture(autouse=True)
def _clear_cache():
    # Redis is shared by the whole run; a test must not see the last one's keys
    # (nor count against the last one's rate limits).
    cache.clear()
    caches["ratelimit"].clear()
    yield


@pytest.fixture
def password():
    return PASSWORD


@pytest.fixture
def make_user(db):
    def make(role=Role.AGENT, email=None, password=PASSWORD, **fields):
        email = email or f"user{next(_seq)}@example.com"
        return User.objects.create_user(email=email, password=password, role=role, **fields)

    return make


@pytest.fixture
def admin_user(make_user):
    return make_user(Role.ADMIN, email="admin@example.com")


@pytest.fixture
def manager(make_user):
    return make_user(Role.MANAGER, email="manager@example.com")


@pytest.fixture
def make_agent(db):
    def make(name=None, email=None, mobile=None, password=PASSWORD, **fields):
        n = next(_seq)
        return agent_create(
            name=name or f"Agent {n}",
            email=email or f"agent{n}@example.com",
            mobile=mobile or f"+9198{n:08d}",
            password=password,
            **fields,
        )

    return make


@pytest.fixture
def agent(make_agent):
    return make_agent(name="Asha Agent", email="asha@example.com")


@pytest.fixture
def other_agent(make_agent):
    return make_agent(name="Ravi Agent", email="ravi@example.com")


@pytest.fixture
def console(client, manager):
    """Django's test client signed in to the admin as a manager."""
    client.force_login(manager)
    return client


@pytest.fixture
def api_client():
    return APIClient()


@pytest.fixture
def auth():
    """``auth(user_or_agent)`` returns an APIClient carrying a fresh access token."""

    def make(who):
        user = getattr(who, "user", who)
        _refresh, access = issue_tokens(user)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
        return client

    return make


@pytest.fixture
def make_lead(db):
    def make(agent=None, **fields):
        n = next(_seq)
        fields.setdefault("first_name", f"Lead{n}")
        fields.setdefault("phone", f"+9197{n:08d}")
        lead = Lead.objects.create(agent=agent, **fields)
        if agent is not None:
            # Keep the invariant the services hold: an owned lead has one open row.
            Assignment.objects.create(
                lead=lead, agent=agent, strategy=Strategy.MANUAL, reason=Reason.MANUAL
            )
        counters.leads_added([lead.pk])  # as the services count their leads
        dataversion.bump()  # and tell the cached totals and dashboards
        return lead

    return make
