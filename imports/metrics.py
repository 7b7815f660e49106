"""Prometheus counters of the import pipeline (exposed by ``/metrics``)."""

from prometheus_client import Counter, Histogram

LEADS_IMPORTED = Counter("leadline_leads_imported", "Leads created by imports.")
IMPORT_DURATION = Histogram(
    "leadline_import_duration_seconds",
    "Wall time of one import, from upload to commit.",
    buckets=(0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600),
)


def leads_imported(count):
    if count:
        LEADS_IMPORTED.inc(count)


def import_duration(seconds):
    IMPORT_DURATION.observe(max(0.0, float(seconds)))
