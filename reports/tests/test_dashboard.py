from datetime import timedelta

import pytest
from django.core.cache import cache
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from assignments.models import Assignment
from common import dataversion
from leads import counters, services
from leads.models import ImportBatch, Lead, LeadStatus
from reports.selectors import compute_dashboard, get_dashboard

URL = "/api/v1/dashboard/"


@pytest.fixture
def desk(agent, other_agent, make_lead):
    """Asha: 2 new + 1 contacted + 1 converted; Ravi: 1 qualified; 2 unassigned (1 lost)."""
    make_lead(agent=agent)
    make_lead(agent=agent)
    make_lead(agent=agent, status=LeadStatus.CONTACTED)
    make_lead(agent=agent, status=LeadStatus.CONVERTED)
    make_lead(agent=other_agent, status=LeadStatus.QUALIFIED)
    make_lead()
    make_lead(status=LeadStatus.LOST)
    return agent, other_agent


def _row(data, agent):
    return next(row for row in data["per_agent"] if row["agent_id"] == agent.pk)


def test_manager_gets_totals_per_agent_and_status(auth, manager, desk):
    asha, ravi = desk
    response = auth(manager).get(URL)
    assert response.status_code == 200
    data = response.json()
    assert data["scope"] == "all"
    assert _row(data, asha)["by_status"] == {
        "new": 2,
        "contacted": 1,
        "qualified": 0,
        "converted": 1,
        "lost": 0,
    }
    assert _row(data, asha)["open"] == 3
    assert _row(data, ravi)["open"] == 1
    assert data["unassigned"] == 1  # the lost one is closed, not waiting
    assert data["totals"]["all"] == 7
    assert data["totals"]["open"] == 5
    assert len(data["series"]) == 30
    today = data["series"][-1]
    assert today["date"] == timezone.localdate().isoformat()
    assert today["created"] == 7
    assert today["assigned"] == 5
    assert data["imports"] == []


def test_agent_gets_only_its_own_numbers(auth, desk):
    asha, ravi = desk
    data = auth(asha).get(URL).json()
    assert data["scope"] == "agent"
    assert [row["agent_id"] for row in data["per_agent"]] == [asha.pk]
    assert data["totals"]["all"] == 4
    assert "unassigned" not in data
    assert "imports" not in data
    assert data["series"][-1]["created"] == 4
    other = auth(ravi).get(URL).json()
    assert other["totals"]["all"] == 1
    assert [row["agent_id"] for row in other["per_agent"]] == [ravi.pk]


def test_scopes_never_share_cached_numbers(auth, manager, desk):
    asha, ravi = desk
    # Fill the cache in each scope, then read again: each gets its own entry.
    first = {who: auth(who).get(URL).json() for who in (manager, asha, ravi)}
    again = {who: auth(who).get(URL).json() for who in (ravi, asha, manager)}
    assert again == first
    assert first[asha]["totals"]["all"] == 4
    assert first[ravi]["totals"]["all"] == 1
    assert first[manager]["totals"]["all"] == 7
    keys = {key for key in _cache_keys() if key.startswith("dashboard:")}
    assert len(keys) == 3


def _cache_keys():
    # locmem exposes its keys; django-redis lists them by pattern.
    if hasattr(cache, "keys"):
        return [str(key) for key in cache.keys("dashboard:*")]
    return [key.split(":", 2)[-1] for key in cache._cache]


def test_a_write_invalidates_the_cached_numbers(auth, manager, desk, make_lead):
    asha, _ravi = desk
    assert auth(manager).get(URL).json()["totals"]["all"] == 7
    lead = Lead.objects.filter(agent=asha, status=LeadStatus.NEW).first()
    services.lead_update(lead=lead, actor=manager, status=LeadStatus.LOST)
    data = auth(manager).get(URL).json()
    assert _row(data, asha)["by_status"]["lost"] == 1
    assert _row(data, asha)["by_status"]["new"] == 1
    assert auth(asha).get(URL).json()["totals"]["lost"] == 1


def test_cached_numbers_are_served_until_invalidated(manager, desk):
    before = get_dashboard(manager)
    # A raw insert, counted but with no service to bump the data version.
    lead = Lead.objects.create(first_name="Raw", phone="+919876543299")
    counters.leads_added([lead.pk])
    assert get_dashboard(manager) == before
    dataversion.bump()
    assert get_dashboard(manager)["totals"]["all"] == before["totals"]["all"] + 1


def test_invalidation_is_visible_through_the_shared_version(manager, desk):
    get_dashboard(manager)
    version = cache.get(dataversion.KEY)
    dataversion.bump()
    assert cache.get(dataversion.KEY) != version


def test_dashboard_is_served_when_the_cache_is_down(manager, desk, settings, caplog):
    # A Redis nobody listens on: every cache call fails fast.
    settings.CACHES = {
        "default": {
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": "redis://127.0.0.1:1/0",
            "OPTIONS": {"SOCKET_CONNECT_TIMEOUT": 0.2, "SOCKET_TIMEOUT": 0.2},
        }
    }
    assert get_dashboard(manager)["totals"]["all"] == 7
    dataversion.bump()  # must not raise either
    assert "cache unavailable" in caplog.text


def test_series_counts_created_and_assigned_per_day(agent, make_lead):
    now = timezone.now()
    old = make_lead(agent=agent)
    Lead.objects.filter(pk=old.pk).update(created_at=now - timedelta(days=3))
    Assignment.objects.filter(lead=old).update(assigned_at=now - timedelta(days=3))
    ancient = make_lead()
    Lead.objects.filter(pk=ancient.pk).update(created_at=now - timedelta(days=45))
    make_lead()
    counters.rebuild()  # the dates were moved behind the counters' back
    data = compute_dashboard(now=now)
    by_date = {point["date"]: point for point in data["series"]}
    three_days_ago = (timezone.localdate(now) - timedelta(days=3)).isoformat()
    assert by_date[three_days_ago] == {"date": three_days_ago, "created": 1, "assigned": 1}
    assert sum(point["created"] for point in data["series"]) == 2  # 45 days ago is out


def test_latest_imports_are_listed_with_counts(manager):
    ImportBatch.objects.create(file_name="a.csv", sha256="a" * 64, rows=10, created=8, invalid=2)
    ImportBatch.objects.create(file_name="b.csv", sha256="b" * 64, rows=5, created=5)
    imports = compute_dashboard()["imports"]
    assert [row["file_name"] for row in imports] == ["b.csv", "a.csv"]
    assert imports[1]["invalid"] == 2


def test_anonymous_gets_401(api_client):
    assert api_client.get(URL).status_code == 401


def _grow_desk(team, make_agent, make_lead, *, agents, leads, imports):
    """More agents and imports, and leads spread over the whole team (every
    seventh unassigned, every status)."""
    team += [make_agent() for _ in range(agents)]
    batches = [
        ImportBatch.objects.create(file_name=f"list{n}.csv", sha256=f"{n:064d}", rows=leads)
        for n in range(ImportBatch.objects.count(), ImportBatch.objects.count() + imports)
    ]
    statuses = list(LeadStatus)
    for i in range(leads):
        make_lead(
            agent=team[i % len(team)] if i % 7 else None,
            status=statuses[i % len(statuses)],
            batch=batches[i % imports],
        )


def _fresh_dashboard(client):
    """``(queries, body)`` of one dashboard request computed afresh, not from the cache."""
    dataversion.bump()
    with CaptureQueriesContext(connection) as queries:
        response = client.get(URL)
    assert response.status_code == 200
    return len(queries), response.json()


def test_dashboard_query_count_is_constant(auth, manager, make_agent, make_lead):
    # Measured at two sizes: a count that grew with agents, leads or imports (a
    # query per row) would differ between them.
    team = []
    sizes = []
    for agents, leads, imports in ((3, 10, 2), (9, 50, 6)):
        _grow_desk(team, make_agent, make_lead, agents=agents, leads=leads, imports=imports)
        sizes.append({who: _fresh_dashboard(auth(who)) for who in (manager, team[0])})
    small, large = sizes
    assert large[manager][1]["totals"]["all"] == 60
    assert len(large[manager][1]["per_agent"]) == 12
    assert len(large[manager][1]["imports"]) == 5  # LATEST_IMPORTS of 8
    assert large[team[0]][1]["totals"]["all"] > small[team[0]][1]["totals"]["all"]
    for who in (manager, team[0]):
        assert small[who][0] == large[who][0], who
    assert large[manager][0] <= 8


def test_import_commit_and_undo_invalidate(manager, agent, tmp_path, settings):
    from imports.services import import_path, undo_batch

    path = tmp_path / "few.csv"
    path.write_text("FirstName,Phone\nA,9876500011\nB,9876500012\n")
    assert get_dashboard(manager)["totals"]["all"] == 0
    result = import_path(path=str(path), actor=manager, distribute=False)
    assert get_dashboard(manager)["unassigned"] == 2
    undo_batch(batch=result.batch, actor=manager)
    assert get_dashboard(manager)["totals"]["all"] == 0
