"""The guarded ``/metrics`` view and the open-leads gauge.

Counters live with the code that counts (``imports.metrics``,
``assignments.metrics``, ``common.ratelimit``) and register themselves in
prometheus_client's default registry; the open-leads gauge is read from the
database at scrape time, so it is right whichever worker answers. Under
gunicorn, ``PROMETHEUS_MULTIPROC_DIR`` makes every worker write its samples
to files that the view sums.
"""

import hmac
import ipaddress
import os

import redis
from django.conf import settings
from django.http import HttpResponse, JsonResponse
from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    generate_latest,
    multiprocess,
)
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import REGISTRY

from leads.models import OPEN_STATUSES, Lead


class QueueDepthCollector:
    """``leadline_queue_depth``: messages waiting in the broker's queue (a Redis
    list), read when scraped; nothing when tasks run in-process."""

    def collect(self):
        broker = settings.CELERY_BROKER_URL
        if not broker or settings.CELERY_TASK_ALWAYS_EAGER:
            return
        prefix = settings.CELERY_BROKER_TRANSPORT_OPTIONS.get("global_keyprefix", "")
        queue = settings.CELERY_TASK_DEFAULT_QUEUE
        gauge = GaugeMetricFamily(
            "leadline_queue_depth", "Background tasks waiting in the queue.", labels=["queue"]
        )
        try:
            client = redis.Redis.from_url(broker, socket_timeout=0.5, socket_connect_timeout=0.5)
            with client:
                gauge.add_metric([queue], client.llen(prefix + queue))
        except Exception:  # a scrape must not fail with Redis
            return
        yield gauge


class OpenLeadsCollector:
    """``leadline_open_leads``: counted in the database when scraped."""

    def collect(self):
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
    extra.register(QueueDepthCollector())
    body += generate_latest(extra)
    return HttpResponse(body, content_type=CONTENT_TYPE_LATEST)
