# ruff: noqa: S603 - the tests start their own servers and Django processes
"""Faults survived: Redis stopped, database killed or unreachable.

Throwaway redis-server / mariadbd instances on free ports are started and
killed here; the shared services are never touched.
"""

import json
import logging
import os
import socket
import subprocess
import sys
import textwrap
import threading
from pathlib import Path

import pytest
from django.core.cache import caches
from django.test import override_settings
from rest_framework.test import APIClient

from .throwaway import MariaDBServer, RedisServer

BASE_DIR = Path(__file__).resolve().parents[2]


def _redis_caches(url):
    options = {
        "CLIENT_CLASS": "django_redis.client.DefaultClient",
        "SOCKET_CONNECT_TIMEOUT": 0.5,
        "SOCKET_TIMEOUT": 0.5,
    }
    return {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "fault",
            "OPTIONS": {**options, "IGNORE_EXCEPTIONS": True},
        },
        "ratelimit": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": url,
            "KEY_PREFIX": "fault:rl",
            "OPTIONS": options,
        },
    }


@pytest.fixture
def redis_server(tmp_path):
    server = RedisServer(tmp_path)
    yield server
    server.kill()


@pytest.mark.django_db
def test_redis_down_fails_closed_for_login_and_keeps_reads(
    redis_server, agent, password, make_lead, auth, caplog
):
    make_lead(agent=agent)
    with override_settings(CACHES=_redis_caches(redis_server.url)):
        client = APIClient()
        tokens = client.post(
            "/api/v1/auth/token/", {"email": agent.user.email, "password": password}
        ).json()
        assert caches["ratelimit"].get("anything") is None  # really talking to the server
        redis_server.kill()
        caplog.set_level(logging.WARNING)

        login = client.post(
            "/api/v1/auth/token/", {"email": agent.user.email, "password": password}
        )
        assert login.status_code == 503
        assert int(login["Retry-After"]) >= 1
        assert login.json()["error"]["code"] == "rate_limiter_unavailable"
        refresh = client.post("/api/v1/auth/token/refresh/", {"refresh": tokens["refresh"]})
        assert refresh.status_code == 503
        assert "Retry-After" in refresh

        reader = auth(agent)
        leads = reader.get("/api/v1/leads/")
        assert leads.status_code == 200
        assert leads.json()["count"] == 1
        assert reader.get("/api/v1/auth/me/").status_code == 200
        # The dashboard is computed from the database, not served from the cache.
        dashboard = reader.get("/api/v1/dashboard/")
        assert dashboard.status_code == 200

        ready = APIClient().get("/readyz")
        assert ready.status_code == 503
        assert ready.json()["failed"] == ["cache"]
        assert APIClient().get("/healthz").status_code == 200
    assert any(r.name == "config.cache" and r.levelno == logging.WARNING for r in caplog.records)


_SCRIPT = textwrap.dedent(
    """
    import json, sys
    import django
    django.setup()
    from django.core.management import call_command
    from django.test import Client
    from django.test.utils import setup_test_environment
    setup_test_environment()

    def show(label, response):
        print(json.dumps({
            "label": label,
            "status": response.status_code,
            "retry_after": response.get("Retry-After"),
            "body": response.json(),
        }), flush=True)

    mode = sys.argv[1]
    client = Client()
    if mode == "live":
        call_command("migrate", verbosity=0)
        from accounts.models import User
        from accounts.tokens import issue_tokens
        user = User.objects.create_user(email="a@example.com", password="x-y-z-12345678")
        access = issue_tokens(user)[1]
    else:
        from rest_framework_simplejwt.tokens import AccessToken
        token = AccessToken()
        token["user_id"] = 1
        access = str(token)
    bearer = {"HTTP_AUTHORIZATION": "Bearer " + access}
    if mode == "live":
        show("me-before", client.get("/api/v1/auth/me/", **bearer))
        show("ready-before", client.get("/readyz"))
        print("KILL", flush=True)
        sys.stdin.readline()
    show("me", client.get("/api/v1/auth/me/", **bearer))
    show("leads", client.get("/api/v1/leads/", **bearer))
    show("readyz", client.get("/readyz"))
    show("health", client.get("/health"))
    show("healthz", client.get("/healthz"))
    """
)


def _django(database_url, mode):
    env = {k: v for k, v in os.environ.items() if k not in ("REDIS_URL",)}
    env.update(
        DATABASE_URL=database_url,
        DJANGO_DEBUG="true",
        DJANGO_SECRET_KEY="fault-test-secret",
        JWT_SIGNING_KEY="fault-test-jwt",
        DJANGO_SETTINGS_MODULE="config.settings",
        DB_CONNECT_TIMEOUT="2",
        DB_READ_TIMEOUT="2",
        LOG_LEVEL="CRITICAL",
    )
    return subprocess.Popen(
        [sys.executable, "-c", _SCRIPT, mode],
        cwd=BASE_DIR,
        env=env,
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def _results(lines):
    parsed = [json.loads(line) for line in lines if line.startswith("{")]
    # Log lines share stdout; the script's own lines carry a "label".
    return {item["label"]: item for item in parsed if "label" in item}


def _assert_database_unavailable(results):
    for label in ("me", "leads"):
        assert results[label]["status"] == 503, results[label]
        assert int(results[label]["retry_after"]) >= 1
        assert results[label]["body"]["error"]["code"] == "database_unavailable"
    assert results["readyz"]["status"] == 503
    assert "database" in results["readyz"]["body"]["failed"]
    assert results["health"]["status"] == 503
    assert results["health"]["body"]["database"].startswith("error")
    assert set(results["health"]["body"]) == {
        "uptime",
        "message",
        "timestamp",
        "database",
        "memory",
    }
    assert results["healthz"]["status"] == 200


@pytest.mark.mariadb
def test_killed_database_answers_503_not_500(tmp_path):
    server = MariaDBServer(tmp_path)
    try:
        server.sql("CREATE DATABASE leadline_fault CHARACTER SET utf8mb4")
        proc = _django(server.url("leadline_fault"), "live")
        lines = []
        for line in proc.stdout:
            if line.strip() == "KILL":
                server.kill()
                proc.stdin.write("go\n")
                proc.stdin.flush()
                continue
            lines.append(line)
        proc.wait(timeout=120)
        assert proc.returncode == 0, proc.stderr.read()
    finally:
        server.kill()
    results = _results(lines)
    assert results["me-before"]["status"] == 200
    assert results["ready-before"]["status"] == 200
    _assert_database_unavailable(results)


def test_unreachable_database_answers_503_within_the_connect_timeout():
    # A peer that accepts TCP but never speaks: the MySQL handshake hangs until
    # DB_CONNECT_TIMEOUT ends it, instead of holding the worker forever.
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(16)
    port = listener.getsockname()[1]
    held = []
    stop = threading.Event()

    def accept():
        listener.settimeout(0.2)
        while not stop.is_set():
            try:
                held.append(listener.accept()[0])
            except OSError:
                continue

    thread = threading.Thread(target=accept, daemon=True)
    thread.start()
    try:
        proc = _django(f"mysql://root@127.0.0.1:{port}/nowhere", "dead")
        out, err = proc.communicate(timeout=120)
    finally:
        stop.set()
        thread.join()
        for conn in held:
            conn.close()
        listener.close()
    assert proc.returncode == 0, err
    _assert_database_unavailable(_results(out.splitlines()))
