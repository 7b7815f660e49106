"""The benchmark's yardstick: the agent lead page with one raw query, no framework.

Mounted only by the benchmark's own URLconf (``bench/urls.py``, through
``bench/settings.py``); it has no authentication and is never part of the
project's URLs.
"""

import json

from django.db import connection
from django.http import HttpResponse

from leads.selectors import LEAD_LIST_FIELDS

# The API's lead rows, column for column (``LEAD_LIST_FIELDS``); the SQL is
# hand-written around them: a lead column as ``l.<column>``, the agent's name
# from the one join.
COLUMNS = tuple(LEAD_LIST_FIELDS)
_SQL_COLUMNS = {"agent__name": "a.name"}
SQL = (
    "SELECT "
    + ", ".join(_SQL_COLUMNS.get(path, f"l.{path}") for path in LEAD_LIST_FIELDS.values())
    + " FROM leads_lead l LEFT JOIN agents_agent a ON a.id = l.agent_id"
    " WHERE l.agent_id = %s ORDER BY l.id DESC LIMIT 50"
)


def bare_leads(request, agent_id):
    with connection.cursor() as cursor:
        cursor.execute(SQL, [agent_id])
        rows = [dict(zip(COLUMNS, row, strict=True)) for row in cursor.fetchall()]
    for row in rows:
        if isinstance(row["extra"], str):
            row["extra"] = json.loads(row["extra"])
    return HttpResponse(json.dumps(rows, default=str), content_type="application/json")
