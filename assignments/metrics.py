"""Prometheus counter of assignments made (exposed by ``/metrics``)."""

from prometheus_client import Counter

LEADS_ASSIGNED = Counter(
    "leadline_leads_assigned", "Leads assigned to agents, by strategy.", ["strategy"]
)


def leads_assigned(strategy, count):
    if count:
        LEADS_ASSIGNED.labels(strategy=str(strategy)).inc(count)
