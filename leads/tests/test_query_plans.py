"""The lead list's queries use the indexes made for them (MariaDB's own plans).

Each case makes a real API request, captures the SQL the endpoint sent, and asks
MariaDB to ``EXPLAIN`` exactly that statement over a desk of several thousand
leads (``ANALYZE TABLE`` first, so the optimizer chooses from real statistics).
An agent's queries must read a range of an index that starts with the agent
(bounded by the agent's own rows), in the order asked for (no filesort), never
the whole table; a manager's must use an index too.
"""

from datetime import timedelta

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from accounts.models import AuditLog
from agents.services import agent_create
from common import filtering
from leads import counters
from leads.models import ImportBatch, Lead, LeadStatus

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(
        connection.vendor != "mysql", reason="query plans are MariaDB's (DATABASE_URL=mysql://...)"
    ),
]

AGENTS = 6
PER_AGENT = 800
UNASSIGNED = 1500
STATUSES = [s.value for s in LeadStatus]
NAMES = ["Kiran", "Meera", "Arjun", "Zoya", "Imran", "Priya"]


@pytest.fixture(scope="module")
def desk(django_db_setup, django_db_blocker):
    """Agents with their leads (statuses and follow-ups spread) plus unassigned
    leads in two batches, committed and analysed, removed afterwards."""
    with django_db_blocker.unblock():
        audit_before = AuditLog.objects.order_by("-pk").values_list("pk", flat=True).first() or 0
        agents = [
            agent_create(
                name=f"Plan Agent {n}", email=f"plan{n}@example.com", mobile=f"+9191000{n:05d}"
            )
            for n in range(AGENTS)
        ]
        batches = [ImportBatch.objects.create(file_name=f"plan{n}.csv") for n in range(2)]
        now = timezone.now()
        leads = []
        for n in range(AGENTS * PER_AGENT + UNASSIGNED):
            owned = n < AGENTS * PER_AGENT
            leads.append(
                Lead(
                    first_name=NAMES[n % len(NAMES)] + str(n),
                    last_name=["Sharma", "Iyer", "Khan", "Das", "Rao"][n % 5],
                    phone=f"+9199{n:08d}",
                    email=f"plan.lead{n}@example.com" if n % 3 else "",
                    status=STATUSES[n % 5],
                    next_follow_up=None if n % 4 == 0 else now + timedelta(hours=(n % 97) - 48),
                    agent=agents[n % AGENTS] if owned else None,
                    batch=batches[n % 2],
                )
            )
        Lead.objects.bulk_create(leads, batch_size=2000)
        counters.rebuild()  # the list's totals by status and owner are the counters'
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE TABLE leads_lead")
            cursor.fetchall()
        yield agents, batches
        Lead.objects.filter(batch__in=batches).delete()
        ImportBatch.objects.filter(pk__in=[b.pk for b in batches]).delete()
        counters.rebuild()
        for agent in agents:
            user = agent.user
            agent.delete()
            user.delete()
        # Creating the agents was audited, outside any test's transaction: the tests
        # after this module count audit entries.
        AuditLog.objects.filter(pk__gt=audit_before).delete()


def _lead_queries(queries):
    return [
        q["sql"]
        for q in queries
        if q["sql"].startswith("SELECT") and "FROM `leads_lead`" in q["sql"]
    ]


def _plan(sql):
    with connection.cursor() as cursor:
        cursor.execute("EXPLAIN " + sql)
        names = [c[0] for c in cursor.description]
        return [dict(zip(names, row, strict=True)) for row in cursor.fetchall()]


def _request(client, path):
    with CaptureQueriesContext(connection) as captured:
        response = client.get(path)
    assert response.status_code == 200, response.content[:300]
    return response, _lead_queries(captured.captured_queries)


def _lead_row(plan):
    (row,) = _lead_rows(plan)
    return row


def _lead_rows(plan):
    return [r for r in plan if r["table"] == "leads_lead"]


def _assert_word_search_plan(sql, plan, indexes, bound):
    """A word search: each branch of the union an index range read from the index
    alone, the rows then fetched by primary key only for the matches."""
    rows = _lead_rows(plan)
    branches = [r for r in rows if r["select_type"] in ("DERIVED", "UNION")]
    assert len(branches) == 3, (sql, plan)
    for row in branches:
        assert row["type"] == "range", (sql, row)
        assert row["key"] in indexes, (sql, row)
        assert "Using index" in (row["Extra"] or ""), (sql, row)
        assert int(row["rows"]) <= bound, (sql, row)
    for row in rows:
        if row not in branches:
            assert (row["type"], row["key"]) == ("eq_ref", "PRIMARY"), (sql, row)


AGENT_CASES = [
    # (query string, indexes the page may use)
    ("", {"lead_agent_idx"}),
    ("?status=new", {"lead_agent_idx", "lead_agent_status_idx"}),
    ("?status=converted", {"lead_agent_idx", "lead_agent_status_idx"}),
    ("?view=due_today", {"lead_agent_follow_up_idx", "lead_agent_status_fu_idx"}),
    ("?view=overdue", {"lead_agent_follow_up_idx", "lead_agent_status_fu_idx"}),
    ("?ordering=next_follow_up", {"lead_agent_follow_up_idx"}),
    ("?ordering=-next_follow_up", {"lead_agent_follow_up_idx"}),
    ("?view=overdue&ordering=-next_follow_up", {"lead_agent_follow_up_idx"}),
    ("?ordering=created_at", {"lead_agent_created_idx"}),
    ("?ordering=-created_at", {"lead_agent_created_idx"}),
    ("?ordering=updated_at", {"lead_agent_updated_idx"}),
    ("?ordering=-updated_at", {"lead_agent_updated_idx"}),
    ("?ordering=first_name", {"lead_agent_first_name_idx"}),
    ("?ordering=-status", {"lead_agent_status_idx"}),
    ("?ordering=id", {"lead_agent_idx"}),
    ("?page=3", {"lead_agent_idx"}),
]


@pytest.mark.django_db
@pytest.mark.parametrize(("query", "indexes"), AGENT_CASES)
def test_agent_list_reads_only_its_own_rows_in_index_order(auth, desk, query, indexes):
    agents, _batches = desk
    _response, queries = _request(auth(agents[2]), "/api/v1/leads/" + query)
    assert queries, "the list sent no query on leads"
    for sql in queries:
        assert f"`agent_id` = {agents[2].pk}" in sql, sql
        assert "DISTINCT" not in sql, sql
        row = _lead_row(_plan(sql))
        extra = row["Extra"] or ""
        assert row["type"] in ("ref", "range"), (sql, row)
        assert row["key"].startswith("lead_agent"), (sql, row)
        # Bounded by the agent's rows (the estimate, give or take the statistics).
        assert int(row["rows"]) <= PER_AGENT * 1.5, (sql, row)
        if " LIMIT " in sql:  # the page itself: read in the order asked for
            assert row["key"] in indexes, (sql, row)
            # ... or from the range that holds exactly the view's rows (open
            # statuses, follow-ups in the window), which are then sorted.
            if row["key"] != "lead_agent_status_fu_idx":
                assert "filesort" not in extra, (sql, row)
        elif "?view=" in query:  # the view's total: from the index alone
            assert row["key"] == "lead_agent_status_fu_idx", (sql, row)
            assert "Using index" in extra, (sql, row)


@pytest.mark.django_db
def test_agent_search_and_detail_use_an_index(auth, desk):
    agents, _batches = desk
    client = auth(agents[1])
    lead = Lead.objects.filter(agent=agents[1]).order_by("id")[7]
    national = "0" + lead.phone[3:]
    for path, keys in [
        (f"/api/v1/leads/?search={national}", {"phone"}),
        (f"/api/v1/leads/{lead.pk}/", {"PRIMARY"}),
    ]:
        response, queries = _request(client, path)
        body = response.json()
        ids = [r["id"] for r in body["results"]] if "results" in body else [body["id"]]
        assert ids == [lead.pk], path
        for sql in queries:
            row = _lead_row(_plan(sql))
            assert row["key"] in keys, (sql, row)
            assert row["type"] == "const", (sql, row)
    response, queries = _request(client, "/api/v1/leads/?search=kiran")
    assert response.json()["count"] == 0
    response, queries = _request(client, "/api/v1/leads/?search=meera10")
    assert response.json()["count"] > 0
    own = {"lead_agent_first_name_idx", "lead_agent_last_name_idx", "lead_agent_email_idx"}
    for sql in queries:
        # Bounded by the matches among the agent's own rows, not by all of them.
        _assert_word_search_plan(sql, _plan(sql), own, PER_AGENT // 10)


@pytest.mark.django_db
def test_manager_filters_search_and_cursor_use_indexes(auth, manager, desk):
    agents, batches = desk
    client = auth(manager)
    last = Lead.objects.order_by("-id").values_list("id", flat=True)[3000]
    from common.filtering import encode_cursor

    cases = [
        (f"?agent={agents[0].pk}", {"lead_agent_idx"}),
        ("?status=qualified", {"leads_lead_status_a2927927"}),
        (f"?batch={batches[1].pk}", {"leads_lead_batch_id_ff9c06d2_fk_leads_importbatch_id"}),
        ("?search=%2B91%209900001234", {"phone"}),
        ("?search=Meera", {"lead_first_name_idx", "lead_last_name_idx", "lead_email_idx"}),
        ("?search=plan.lead77", {"lead_first_name_idx", "lead_last_name_idx", "lead_email_idx"}),
        (f"?cursor={encode_cursor(last)}", {"PRIMARY"}),
    ]
    for query, indexes in cases:
        _response, queries = _request(client, "/api/v1/leads/" + query)
        pages = [sql for sql in queries if " LIMIT " in sql]
        assert pages, query
        for sql in pages:
            assert "DISTINCT" not in sql, sql
            if query.startswith("?search=") and "%2B91" not in query:
                _assert_word_search_plan(sql, _plan(sql), indexes, len(NAMES) * PER_AGENT)
                continue
            row = _lead_row(_plan(sql))
            keys = set((row["key"] or "").split(","))
            assert keys and keys <= indexes, (query, sql, row)
            assert row["type"] not in ("ALL", "index"), (query, row)
            assert "filesort" not in (row["Extra"] or ""), (query, row)


@pytest.mark.django_db
def test_deep_pages_by_number_read_ids_from_the_index_alone(auth, manager, desk, monkeypatch):
    monkeypatch.setattr(filtering.KeysetPageNumberPagination, "DEEP_OFFSET", 100)
    monkeypatch.setattr(filtering, "ANCHOR_STEP", 100)
    client = auth(manager)
    for query, index in [
        ("?status=qualified&page=12", "leads_lead_status_a2927927"),
        ("?page=100", "PRIMARY"),
        ("?page=last", "PRIMARY"),
    ]:
        response, queries = _request(client, "/api/v1/leads/" + query)
        assert len(response.json()["results"]) > 0, query
        ids = [sql for sql in queries if sql.startswith("SELECT `leads_lead`.`id` AS `id` FROM")]
        # The anchor (counted up to once) and the page's ids from it: no join, no row read.
        assert len(ids) == 2, (query, queries)
        assert "JOIN" not in ids[0] and "OFFSET" in ids[0], ids[0]
        assert "<=" in ids[1], ids[1]
        for sql in ids:
            row = _lead_row(_plan(sql))
            assert row["key"] == index, (query, sql, row)
            assert "Using index" in (row["Extra"] or "") or index == "PRIMARY", (query, row)
            assert "filesort" not in (row["Extra"] or ""), (query, row)
