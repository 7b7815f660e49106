"""Reads go to the replica where safe, to the primary where not (config.routers).

The stand-in replica is a second database on the same server (MariaDB) or a
second SQLite file, with the same schema and no replication: a row inserted only
there shows where a read went. The suite runs without DATABASE_REPLICA_URL, so
the fixture attaches the alias, the router and the middleware itself; what
settings do with the variable is checked in a subprocess.
"""

import json
import os
import subprocess
import sys

import pytest
from django.conf import settings as django_settings
from django.db import router, transaction
from django.test import RequestFactory

from accounts.models import User
from config.routers import REPLICA, PrimaryPinMiddleware
from leads import counters
from leads.models import Lead, LeadCount, LeadStatus

MARK = "+919999000001"
FRESH = "+919999000002"


# The stand-in is declared at import, before pytest-django creates the test
# databases: a second test database built from the current models (TEST MIGRATE
# False: the schema replication would carry). Only tests that ask for "replica"
# cause it to be created, and nothing routes to it until the fixture below
# installs the router.
CONFIGURED = REPLICA in django_settings.DATABASES
if not CONFIGURED:
    _primary = django_settings.DATABASES["default"]
    django_settings.DATABASES[REPLICA] = {
        **_primary,
        "NAME": f"{_primary['NAME']}_replica",
        "TEST": {**_primary.get("TEST", {}), "NAME": None, "MIRROR": None, "MIGRATE": False},
    }

pytestmark = [
    pytest.mark.skipif(
        CONFIGURED,
        reason="DATABASE_REPLICA_URL is set: the replica is then a TEST MIRROR of default, "
        "and these tests need their own stand-in; run them without it",
    ),
    pytest.mark.django_db(transaction=True, databases=["default", REPLICA]),
]


@pytest.fixture
def replica(settings):
    """Reads routed by config.routers, requests wrapped by its middleware."""
    settings.DATABASE_ROUTERS = ["config.routers.PrimaryReplicaRouter"]
    settings.MIDDLEWARE = ["config.routers.PrimaryPinMiddleware", *settings.MIDDLEWARE]
    return REPLICA


def in_request(work):
    """Run ``work()`` the way a view runs: inside PrimaryPinMiddleware."""
    result = {}
    PrimaryPinMiddleware(lambda request: result.setdefault("value", work()))(
        RequestFactory().get("/")
    )
    return result["value"]


def marker_only_on_replica():
    Lead.objects.using(REPLICA).create(first_name="Only on the replica", phone=MARK)
    # Replication carries the counters with the lead (the list's total is theirs).
    LeadCount.objects.using(REPLICA).create(
        agent_key=counters.agent_key(None), status=LeadStatus.NEW, count=1
    )


def sees_marker():
    return Lead.objects.filter(phone=MARK).exists()


def test_reads_outside_transactions_go_to_the_replica(replica):
    marker_only_on_replica()
    assert in_request(sees_marker) is True


def test_reads_inside_a_transaction_go_to_the_primary(replica):
    marker_only_on_replica()

    def in_atomic():
        with transaction.atomic():
            return sees_marker()

    assert in_request(in_atomic) is False


def test_reads_right_after_a_write_in_the_same_request_go_to_the_primary(replica):
    marker_only_on_replica()

    def write_then_read():
        before = sees_marker()
        Lead.objects.create(first_name="Fresh", phone=FRESH)
        return before, sees_marker(), Lead.objects.filter(phone=FRESH).exists()

    # Before the write: replica; after it: primary, which has the new row.
    assert in_request(write_then_read) == (True, False, True)
    # The next request on the same thread starts unpinned again.
    assert in_request(sees_marker) is True


def test_who_may_sign_in_is_always_read_from_the_primary(replica, manager):
    # The stand-in replica has no users at all, yet the user is found.
    assert not User.objects.using(REPLICA).exists()
    assert in_request(lambda: User.objects.filter(pk=manager.pk).exists()) is True


def test_api_reads_come_from_the_replica_and_auth_from_the_primary(replica, manager, auth):
    marker_only_on_replica()
    response = auth(manager).get("/api/v1/leads/")
    assert response.status_code == 200
    assert [lead["phone"] for lead in response.json()["results"]] == [MARK]


def test_migrations_run_only_on_the_primary(replica):
    assert router.allow_migrate("default", "leads", model_name="lead") is True
    assert router.allow_migrate(REPLICA, "leads", model_name="lead") is False


def test_settings_add_the_replica_router_and_middleware_when_configured():
    # Settings only; nothing connects, so no database is needed.
    code = (
        "import django, json; django.setup(); from django.conf import settings as s; "
        "r = s.DATABASES['replica']; "
        "print(json.dumps([r['NAME'], r['TEST']['MIRROR'], r['OPTIONS'].get('charset'), "
        "s.DATABASE_ROUTERS, s.MIDDLEWARE[0]]))"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": "config.settings",
        "DJANGO_DEBUG": "true",
        "DATABASE_URL": "mysql://root@127.0.0.1:3306/leadline_ops",
        "DATABASE_REPLICA_URL": "mysql://reader@10.0.0.9:3306/leadline_ops",
    }
    out = subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [sys.executable, "-c", code],
        cwd=django_settings.BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert json.loads(out.stdout) == [
        "leadline_ops",
        "default",
        "utf8mb4",
        ["config.routers.PrimaryReplicaRouter"],
        "config.routers.PrimaryPinMiddleware",
    ]
