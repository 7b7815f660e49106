"""The benchmark's yardstick: the agent lead page with one raw query, no framework.

Mounted only by the benchmark's own URLconf (``bench/urls.py``, through
``bench/settings.py``); it has no authentication and is never part of the
project's URLs.
"""

import json

from django.db import connection
from django.http import HttpResponse

from leads.selectors import LEAD_LIST_FIELDS

# The same output names as the API's lead rows; the SQL below is hand-written.
COLUMNS = tuple(LEAD_LIST_FIELDS)
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
