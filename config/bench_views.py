"""The benchmark's yardstick: the agent lead page with one raw query, no framework.

Mounted only when ``BENCH_BARE_VIEW=true`` (``bench/api_bench.py`` sets it); it
has no authentication and must never be reachable in production.
"""

import json

from django.db import connection
from django.http import HttpResponse

COLUMNS = (
    "id",
    "first_name",
    "last_name",
    "phone",
    "email",
    "notes",
    "status",
    "next_follow_up",
    "agent",
    "agent_name",
    "batch",
    "extra",
    "created_at",
    "updated_at",
)
SQL = (
    "SELECT l.id, l.first_name, l.last_name, l.phone, l.email, l.notes, l.status, "
    "l.next_follow_up, l.agent_id, a.name, l.batch_id, l.extra, l.created_at, l.updated_at "
    "FROM leads_lead l LEFT JOIN agents_agent a ON a.id = l.agent_id "
    "WHERE l.agent_id = %s ORDER BY l.id DESC LIMIT 50"
)


def bare_leads(request, agent_id):
    with connection.cursor() as cursor:
        cursor.execute(SQL, [agent_id])
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        if isinstance(row["extra"], str):
            row["extra"] = json.loads(row["extra"])
    return HttpResponse(json.dumps(rows, default=str), content_type="application/json")
