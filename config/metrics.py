"""Business metrics and the guarded ``/metrics`` view.

Counters are incremented by the services (``leads_imported(n)``,
``leads_assigned(strategy, n)``, ``import_duration(seconds)``); the open-leads
gauge is read from the database at scrape time, so it is right whichever
worker answers. Under gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker
write its samples to files that the view sums.
"""

import hmac
import ipaddress
import os

from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Histogram,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

LEADS_IMPORTED = Counter("leadline_leads_imported", "Leads created by imports.")
LEADS_ASSIGNED = Counter(
    "leadline_leads_assigned", "Leads assigned to agents, by strategy.", ["strategy"]
)
IMPORT_DURATION = Histogram(
    "leadline_import_duration_seconds",
    "Wall time of one import, from upload to commit.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)
RATE_LIMIT_REFUSALS = Counter(
    "leadline_rate_limit_refusals",
    "Requests refused by a rate limit or throttle (reason: limit or unavailable).",
    ["group", "reason"],
)


def leads_imported(count):
    if count:
        LEADS_IMPORTED.inc(count)


def leads_assigned(strategy, count):
    if count:
        LEADS_ASSIGNED.labels(strategy=str(strategy)).inc(count)


def import_duration(seconds):
    IMPORT_DURATION.observe(max(0.0, float(seconds)))


def rate_limit_refused(group, *, reason):
    RATE_LIMIT_REFUSALS.labels(group=group, reason=reason).inc()


class OpenLeadsCollector:
    """``leadline_open_leads``: counted in the database when scraped."""

    def collect(self):
        from leads.models import OPEN_STATUSES, Lead

        gauge = GaugeMetricFamily("leadline_open_leads", "Leads in an open status.")
        try:
            gauge.add_metric([], Lead.objects.filter(status__in=OPEN_STATUSES).count())
        except Exception:  # a scrape must not fail with the database
            return
        yield gauge


def _allowed(request):
    token = settings.METRICS_TOKEN
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if (
        token
        and header.startswith("Bearer ")
        and hmac.compare_digest(header[7:].strip().encode(), token.encode())
    ):
        return True
    networks = settings.METRICS_ALLOWED_NETWORKS
    if networks:
        try:
            peer = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
        except ValueError:
            return False
        return any(peer in ipaddress.ip_network(net, strict=False) for net in networks)
    return False


def metrics_view(request):
    """Prometheus text format; 403 unless the bearer token or network matches."""
    if not _allowed(request):
        return JsonResponse(
            {"error": {"code": "permission_denied", "message": "Forbidden.", "fields": {}}},
            status=403,
        )
    registry = CollectorRegistry()
    # prometheus_client itself reads this variable (at import), so it is read here
    # too rather than mirrored into settings.
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        multiprocess.MultiProcessCollector(registry)
        body = generate_latest(registry)
    else:
        body = generate_latest(REGISTRY)
    extra = CollectorRegistry()
    extra.register(OpenLeadsCollector())
    body += generate_latest(extra)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
