"""Two gunicorn instances on one MariaDB and one Redis behave as one.

Each test talks HTTP to two real gunicorn processes (two workers each) started
on loopback ports against the test database pytest-django created and the
suite's Redis, with the same cache key prefix and signing keys. The tests are
transactional so what they set up is committed and visible to the servers.
"""

import io
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from urllib.parse import quote

import pytest
import requests
from django.conf import settings as django_settings
from django.db import connection
from django.db.models import Count

from assignments.models import Assignment
from leads.models import Lead

from .throwaway import free_port

PASSWORD = "correct-horse-battery-staple"  # the root conftest's
LOGIN_LIMIT = 6
# A per-day window: a per-minute one could roll over in the middle of the test.
SERVER_ENV = {
    "RATELIMIT_LOGIN_EMAIL": f"{LOGIN_LIMIT}/d",
    "RATELIMIT_LOGIN_IP": "1000/d",
    "RATELIMIT_UPLOAD": "1000/d",
    "WEB_CONCURRENCY": "2",
    "GUNICORN_THREADS": "2",
    "GUNICORN_ACCESSLOG": "off",
    "GUNICORN_MAX_REQUESTS": "0",
    "LOG_LEVEL": "WARNING",
}

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(
        connection.vendor != "mysql" or "redis" not in django_settings.CACHES["default"]["BACKEND"],
        reason="two processes share state only through MariaDB and Redis; SQLite's test "
        "database is in memory and the local-memory cache is per process "
        "(set DATABASE_URL=mysql://... and REDIS_URL=redis://...)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _database_url():
    db = connection.settings_dict  # NAME is the test database by now
    auth = quote(db["USER"] or "root", safe="")
    if db["PASSWORD"]:
        auth += ":" + quote(db["PASSWORD"], safe="")
    return f"mysql://{auth}@{db['HOST'] or '127.0.0.1'}:{db['PORT'] or 3306}/{db['NAME']}"


class Instance:
    """One gunicorn process tree serving Leadline on a loopback port."""

    def __init__(self, name, workdir, env):
        self.name = name
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.log = workdir / f"{name}.log"
        env = {**env, "GUNICORN_BIND": f"127.0.0.1:{self.port}"}
        with open(self.log, "wb") as out:
            self.proc = subprocess.Popen(  # noqa: S603 - our venv's gunicorn, fixed argv
                [
                    str(Path(sys.executable).with_name("gunicorn")),
                    "-c",
                    "config/gunicorn.conf.py",
                    "config.wsgi:application",
                ],
                cwd=django_settings.BASE_DIR,
                env=env,
                stdout=out,
                stderr=out,
            )

    def wait_ready(self, timeout=60):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                break
            try:
                if requests.get(f"{self.base}/healthz", timeout=5).status_code == 200:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.2)
        raise RuntimeError(f"{self.name} did not start:\n{self.log.read_text()[-3000:]}")

    def stop(self):
        self.proc.terminate()
        try:
            self.proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()

    def call(self, method, path, token=None, **kwargs):
        headers = {"Authorization": f"Bearer {token}"} if token else {}
        return requests.request(method, self.base + path, headers=headers, timeout=60, **kwargs)

    def login(self, email, password=PASSWORD):
        response = self.call(
            "POST", "/api/v1/auth/token/", json={"email": email, "password": password}
        )
        assert response.status_code == 200, response.text
        return response.json()["access"]

    def __repr__(self):
        return f"<{self.name} :{self.port}>"


@pytest.fixture(scope="module")
def pair(django_db_setup, tmp_path_factory):
    workdir = tmp_path_factory.mktemp("two-instances")
    env = {
        **os.environ,
        **SERVER_ENV,
        "DATABASE_URL": _database_url(),
        "MEDIA_ROOT": str(workdir / "media"),  # one shared volume, as S3 would be
    }
    env.pop("DATABASE_REPLICA_URL", None)
    # prometheus_client treats even an empty value as "multi-process on".
    env.pop("PROMETHEUS_MULTIPROC_DIR", None)
    instances = [Instance("a", workdir, env), Instance("b", workdir, env)]
    try:
        for instance in instances:
            instance.wait_ready()
        yield instances
    finally:
        for instance in instances:
            instance.stop()


def test_login_attempts_on_both_count_towards_one_limit(pair, manager):
    statuses = [
        pair[n % 2]
        .call("POST", "/api/v1/auth/token/", json={"email": manager.email, "password": "wrong"})
        .status_code
        for n in range(LOGIN_LIMIT + 2)
    ]
    # Counted separately, each instance would allow LOGIN_LIMIT attempts (12 in all).
    assert statuses == [401] * LOGIN_LIMIT + [429, 429]


def test_a_write_through_one_invalidates_the_dashboard_cached_by_the_other(
    pair, manager, make_agent
):
    make_agent()
    a, b = pair
    token = a.login(manager.email)
    first = a.call("GET", "/api/v1/dashboard/", token).json()
    # Cached in Redis: the other instance answers with the very same computation.
    assert (
        b.call("GET", "/api/v1/dashboard/", token).json()["generated_at"] == first["generated_at"]
    )

    created = b.call(
        "POST", "/api/v1/leads/", token, json={"first_name": "New", "phone": "+919812340001"}
    )
    assert created.status_code == 201, created.text

    after = a.call("GET", "/api/v1/dashboard/", token).json()
    assert after["generated_at"] != first["generated_at"]
    assert after["totals"]["all"] == first["totals"]["all"] + 1


def _csv(start, rows):
    lines = "".join(f"Person{n},98{n:08d}\n" for n in range(start, start + rows))
    return io.BytesIO(("FirstName,Phone\n" + lines).encode())


def test_uploads_and_distributions_on_both_keep_the_rotation_fair(pair, manager, make_agent):
    agents = [make_agent() for _ in range(3)]
    token = pair[0].login(manager.email)

    def upload(n, distribute=True):
        return pair[n % 2].call(
            "POST",
            "/api/v1/imports/",
            token,
            files={"file": (f"list{n}.csv", _csv(n * 100, 5), "text/csv")},
            data={"distribute": "true" if distribute else "false"},
        )

    # Eight uploads of five leads, sent alternately and concurrently to both.
    with ThreadPoolExecutor(4) as pool:
        uploads = list(pool.map(upload, range(8)))
    assert [r.status_code for r in uploads] == [201] * 8, [r.text for r in uploads]

    # Then unassigned leads, distributed by both instances at the same moment.
    with ThreadPoolExecutor(2) as pool:
        parked = list(pool.map(lambda n: upload(n, distribute=False), range(8, 10)))
    assert [r.status_code for r in parked] == [201, 201]
    with ThreadPoolExecutor(2) as pool:
        distributed = list(
            pool.map(lambda i: pair[i].call("POST", "/api/v1/distribute/", token, json={}), (0, 1))
        )
    assert [r.status_code for r in distributed] == [200, 200], [r.text for r in distributed]

    assert Lead.objects.count() == 50
    assert not Lead.objects.filter(agent__isnull=True).exists()
    owned = sorted(Lead.objects.filter(agent=a).count() for a in agents)
    assert owned[-1] - owned[0] <= 1, owned
    open_rows = Assignment.objects.filter(ended_at__isnull=True)
    assert open_rows.count() == 50
    assert not open_rows.values("lead").annotate(n=Count("id")).filter(n__gt=1).exists()


def test_a_deactivated_user_is_refused_by_both_at_once(pair, manager, agent):
    a, b = pair
    manager_token = a.login(manager.email)
    agent_token = b.login(agent.user.email)
    assert a.call("GET", "/api/v1/auth/me/", agent_token).status_code == 200
    assert b.call("GET", "/api/v1/auth/me/", agent_token).status_code == 200

    assert b.call("DELETE", f"/api/v1/agents/{agent.pk}/", manager_token).status_code == 204

    assert a.call("GET", "/api/v1/auth/me/", agent_token).status_code == 401
    assert b.call("GET", "/api/v1/auth/me/", agent_token).status_code == 401
    refused = a.call(
        "POST", "/api/v1/auth/token/", json={"email": agent.user.email, "password": PASSWORD}
    )
    assert refused.status_code == 401
