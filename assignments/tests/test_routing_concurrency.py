"""Routing under concurrency on MariaDB: threads and separate processes.

Concurrent distributions over two teams never assign a lead twice, and each
team's rotation cursor (its ``RotationState`` row) carries across processes:
distributions run by separate ``manage.py distribute`` processes leave each
team's members within one lead of each other.
"""

import os
import subprocess
import sys
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from django.conf import settings as django_settings
from django.db import connection

from assignments import services
from assignments.models import Assignment, RotationState
from leads.models import Lead
from routing import services as routing

from .helpers import assert_assignment_invariants
from .test_concurrency import _run_together

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(
        connection.vendor != "mysql",
        reason="row locks across connections and processes: MariaDB (DATABASE_URL=mysql://...)",
    ),
    pytest.mark.django_db(transaction=True),
]

GULF = [{"field": "phone_country", "op": "in", "value": ["AE"]}]
PUNE = [{"field": "extra.City", "op": "eq", "value": "Pune"}]


@pytest.fixture
def two_teams(make_agent):
    arabic = routing.team_create(name="Arabic", members=[make_agent() for _ in range(3)])
    pune = routing.team_create(name="Pune", members=[make_agent() for _ in range(2)])
    make_agent()  # the default pool has one more
    routing.rule_create(name="Gulf", conditions=GULF, team=arabic)
    routing.rule_create(name="Pune", conditions=PUNE, team=pune)
    return arabic, pune


def make_leads(n, start):
    leads = []
    for i in range(start, start + n):
        if i % 3 == 0:
            leads.append(Lead(first_name=f"G{i}", phone=f"+97150{i:07d}"))
        elif i % 3 == 1:
            leads.append(Lead(first_name=f"P{i}", phone=f"+91981{i:07d}", extra={"City": "Pune"}))
        else:
            leads.append(Lead(first_name=f"X{i}", phone=f"+91982{i:07d}"))
    Lead.objects.bulk_create(leads)


def team_counts(team):
    """Leads each member got through the team (members also serve the default pool)."""
    members = set(team.members.values_list("id", flat=True))
    routed = Assignment.objects.filter(team=team, ended_at__isnull=True)
    counts = Counter(routed.values_list("agent_id", flat=True))
    return [counts.get(agent_id, 0) for agent_id in sorted(members)]


def test_concurrent_distributions_over_two_teams_never_double_assign(two_teams):
    arabic, pune = two_teams
    make_leads(600, 0)
    results, errors = _run_together(services.distribute, 4)
    assert not errors, errors
    assert sum(result.assigned for result in results) == 600
    assert not Lead.objects.filter(agent__isnull=True).exists()
    assert_assignment_invariants()
    gulf_owners = set(Lead.objects.filter(phone__startswith="+971").values_list("agent", flat=True))
    assert gulf_owners <= set(arabic.members.values_list("id", flat=True))
    for team in (arabic, pune):
        counts = team_counts(team)
        assert max(counts) - min(counts) <= 1, counts


def _database_url():
    from config.tests.test_two_instances import _database_url as url

    return url()


def _distribute_in_a_process():
    env = {
        **os.environ,
        "DATABASE_URL": _database_url(),
        "REDIS_URL": os.environ.get("REDIS_URL", ""),
        "CACHE_KEY_PREFIX": django_settings.CACHES["default"].get("KEY_PREFIX", ""),
        "LOG_LEVEL": "WARNING",
    }
    manage = Path(django_settings.BASE_DIR) / "manage.py"
    return subprocess.run(  # noqa: S603 - our own interpreter, fixed argv
        [sys.executable, str(manage), "distribute"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_each_team_s_cursor_carries_across_processes(two_teams):
    arabic, pune = two_teams
    # Three uploads of 7 Gulf + 7 Pune leads (not a multiple of either team's size),
    # each distributed by a different process; the last two at the same moment.
    make_leads(21, 0)
    first = _distribute_in_a_process()
    assert first.returncode == 0, first.stderr
    make_leads(21, 100)
    make_leads(21, 200)
    with ThreadPoolExecutor(2) as pool:
        runs = list(pool.map(lambda _: _distribute_in_a_process(), range(2)))
    assert [run.returncode for run in runs] == [0, 0], [run.stderr for run in runs]
    assert not Lead.objects.filter(agent__isnull=True).exists()
    assert_assignment_invariants()
    for team in (arabic, pune):
        counts = team_counts(team)
        assert max(counts) - min(counts) <= 1, (team.name, counts)
        assert RotationState.objects.filter(pool=f"team:{team.pk}").exists()
