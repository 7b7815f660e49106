"""Team names under concurrency on MariaDB: a name taken by another request
between the check and the write is a 400, never a 500."""

import threading
import time

import pytest
from django.db import connection, transaction

from routing.models import Team

pytestmark = [
    pytest.mark.mariadb,
    pytest.mark.skipif(
        connection.vendor != "mysql",
        reason="a write blocked on another connection's row lock: MariaDB (DATABASE_URL=mysql://...)",
    ),
    pytest.mark.django_db(transaction=True),
]


def _hold_a_new_team(name, created, release):
    """Insert a team in an open transaction, commit it when ``release`` is set."""
    try:
        with transaction.atomic():
            Team.objects.create(name=name)
            created.set()
            release.wait(10)
    finally:
        connection.close()


@pytest.mark.parametrize("how", ["create", "rename"])
def test_a_team_name_taken_meanwhile_is_a_400_naming_it(auth, manager, how):
    api = auth(manager)
    other = Team.objects.create(name="Field") if how == "rename" else None
    created, release = threading.Event(), threading.Event()
    holder = threading.Thread(target=_hold_a_new_team, args=("Arabic", created, release))
    holder.start()
    assert created.wait(10)
    # The holder commits while this request waits on its row lock (after the check).
    threading.Timer(0.5, release.set).start()
    started = time.monotonic()
    if how == "create":
        response = api.post("/api/v1/teams/", {"name": "Arabic"}, format="json")
    else:
        response = api.patch(f"/api/v1/teams/{other.pk}/", {"name": "Arabic"}, format="json")
    holder.join(10)
    assert time.monotonic() - started >= 0.4  # it did wait on the lock
    assert response.status_code == 400, response.content
    assert response.json()["error"]["code"] == "validation_error"
    assert "name" in response.json()["error"]["fields"]
    assert Team.objects.filter(name="Arabic").count() == 1
    if other is not None:
        other.refresh_from_db()
        assert other.name == "Field"
