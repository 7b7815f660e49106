# ruff: noqa: S603 - runs promtool and child Python processes
"""/metrics: guarded, business metrics present, valid for promtool, multi-process."""

import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
from django.test import Client, override_settings

from assignments import metrics as assignment_metrics
from common import ratelimit
from imports import metrics as import_metrics

BASE_DIR = Path(__file__).resolve().parents[2]
PROMTOOL = shutil.which("promtool") or "/usr/bin/promtool"


def promtool_check(body):
    if not os.path.exists(PROMTOOL):
        pytest.fail("promtool is missing: install the Debian package prometheus (make test does)")
    return subprocess.run(
        [PROMTOOL, "check", "metrics"], input=body, capture_output=True, text=True, timeout=60
    )


@pytest.mark.django_db
def test_metrics_refused_without_token_or_network():
    with override_settings(METRICS_TOKEN="s3cret-token", METRICS_ALLOWED_NETWORKS=[]):
        assert Client().get("/metrics").status_code == 403
        wrong = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer nope")
        assert wrong.status_code == 403
    with override_settings(METRICS_TOKEN="", METRICS_ALLOWED_NETWORKS=[]):
        # Nothing configured: closed, not open.
        assert Client().get("/metrics").status_code == 403


@pytest.mark.django_db
def test_metrics_open_with_token_or_from_allowed_network():
    with override_settings(METRICS_TOKEN="s3cret-token", METRICS_ALLOWED_NETWORKS=[]):
        ok = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")
        assert ok.status_code == 200
    with override_settings(METRICS_TOKEN="", METRICS_ALLOWED_NETWORKS=["10.0.0.0/8"]):
        assert Client().get("/metrics", REMOTE_ADDR="10.2.3.4").status_code == 200
        assert Client().get("/metrics", REMOTE_ADDR="192.0.2.1").status_code == 403


@pytest.mark.django_db
@override_settings(METRICS_TOKEN="t", METRICS_ALLOWED_NETWORKS=[])
def test_business_metrics_are_exposed_and_pass_promtool(make_lead, agent, tmp_path):
    make_lead(agent=agent)
    make_lead()
    import_metrics.leads_imported(5)
    assignment_metrics.leads_assigned("round_robin", 3)
    import_metrics.import_duration(1.5)
    ratelimit.REFUSALS.labels(group="login-ip", reason="limit").inc()
    body = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()
    for name in (
        "leadline_leads_imported_total",
        'leadline_leads_assigned_total{strategy="round_robin"}',
        "leadline_import_duration_seconds_bucket",
        'leadline_rate_limit_refusals_total{group="login-ip",reason="limit"}',
        "django_http_requests_total_by_method_total",
    ):
        assert name in body, name
    assert "leadline_open_leads 2.0" in body
    result = promtool_check(body)
    assert result.returncode == 0, result.stdout + result.stderr


_CHILD = textwrap.dedent(
    """
    import sys
    import django
    django.setup()
    from assignments.metrics import leads_assigned
    from imports.metrics import leads_imported
    if sys.argv[1] == "count":
        leads_imported(int(sys.argv[2]))
        leads_assigned("balanced", 1)
    else:
        from django.test import Client
        from django.test.utils import setup_test_environment
        setup_test_environment()
        response = Client().get("/metrics", HTTP_AUTHORIZATION="Bearer t")
        sys.stdout.write(response.content.decode())
    """
)


def test_multiprocess_workers_are_summed(tmp_path):
    env = {k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL")}
    env.update(
        PROMETHEUS_MULTIPROC_DIR=str(tmp_path),
        METRICS_TOKEN="t",
        DJANGO_DEBUG="true",
        DJANGO_SETTINGS_MODULE="config.settings",
        DATABASE_URL=f"sqlite:///{tmp_path / 'db.sqlite3'}",
        LOG_LEVEL="CRITICAL",
    )

    def run(*args):
        return subprocess.run(
            [sys.executable, "-c", _CHILD, *args],
            cwd=BASE_DIR,
            env=env,
            capture_output=True,
            text=True,
            timeout=120,
            check=True,
        ).stdout

    run("count", "4")  # "worker" 1
    run("count", "6")  # "worker" 2, another pid
    body = run("scrape")
    assert "leadline_leads_imported_total 10.0" in body
    assert 'leadline_leads_assigned_total{strategy="balanced"} 2.0' in body
    result = promtool_check(body)
    assert result.returncode == 0, result.stdout + result.stderr
