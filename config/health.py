"""Liveness, readiness and the seed's ``/health`` report.

``/healthz`` touches nothing, so a slow database never gets a live process
killed; ``/readyz`` checks what a request needs (database, cache, migrations)
and names the part that failed, so the load balancer stops sending traffic.
"""

import logging
import resource
import time
import uuid

from django.core.cache import cache
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import JsonResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

logger = logging.getLogger(__name__)

_STARTED = time.monotonic()
_migrations_applied = False


def _check_database():
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()


def _check_cache():
    # The default cache swallows Redis errors (a miss), so write-then-read is the
    # only way to see that it is really there.
    key = f"readyz:{uuid.uuid4().hex}"
    cache.set(key, "1", 10)
    ok = cache.get(key) == "1"
    cache.delete(key)
    if not ok:
        raise RuntimeError("cache did not return what was written")


def _check_migrations():
    global _migrations_applied
    if _migrations_applied:
        return
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if plan:
        raise RuntimeError(f"{len(plan)} migration(s) not applied")
    # Once applied they stay applied for this process's code.
    _migrations_applied = True


CHECKS = {"database": _check_database, "cache": _check_cache, "migrations": _check_migrations}


def _run(name, check):
    try:
        check()
    except Exception as exc:  # a readiness probe reports failures, it does not raise
        logger.warning("readiness check %s failed: %s", name, exc.__class__.__name__)
        return f"error: {exc.__class__.__name__}"
    return "ok"


@never_cache
@require_GET
def healthz(request):
    return JsonResponse({"status": "ok"})


@never_cache
@require_GET
def readyz(request):
    results = {}
    for name, check in CHECKS.items():
        if name == "migrations" and results.get("database") != "ok":
            results[name] = "skipped"
            continue
        results[name] = _run(name, check)
    failed = [name for name, result in results.items() if result != "ok"]
    body = {"status": "unavailable" if failed else "ok", "checks": results, "failed": failed}
    return JsonResponse(body, status=503 if failed else 200)


def _memory():
    usage = resource.getrusage(resource.RUSAGE_SELF)
    memory = {"max_rss_bytes": usage.ru_maxrss * 1024}
    try:
        with open("/proc/self/statm") as statm:
            pages = [int(v) for v in statm.read().split()[:2]]
        page = resource.getpagesize()
        memory.update({"vms_bytes": pages[0] * page, "rss_bytes": pages[1] * page})
    except OSError:
        pass
    return memory


@never_cache
@require_GET
def health(request):
    """The seed's shape: uptime, message, timestamp (ms), database, memory."""
    database = _run("database", _check_database)
    body = {
        "uptime": round(time.monotonic() - _STARTED, 3),
        "message": "OK" if database == "ok" else "DEGRADED",
        "timestamp": int(time.time() * 1000),
        "database": database,
        "memory": _memory(),
    }
    return JsonResponse(body, status=200 if database == "ok" else 503)
