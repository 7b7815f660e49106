"""Every distribution use case retries a deadlock or lock wait timeout as a whole.

The retry (``common.db.retry_on_deadlock``) only helps outside any transaction,
so these tests are transactional: a call that fails on its first attempt must
roll everything back and succeed on the next, leaving one set of history rows.
"""

import logging
import threading

import pytest
from django.db import OperationalError, connection, transaction

from agents.models import Agent
from assignments import services
from assignments.models import Assignment, Reason, RotationState
from leads.models import Lead

from .helpers import assert_assignment_invariants, open_counts

pytestmark = pytest.mark.django_db(transaction=True)


def _mysql_error(code):
    # What mysqlclient raises, wrapped by Django the way the ORM wraps it.
    import MySQLdb

    cause = MySQLdb.OperationalError(code, "simulated")
    error = OperationalError(*cause.args)
    error.__cause__ = cause
    return error


@pytest.fixture
def deadlock_once(monkeypatch):
    """The first rotation lock of the test fails as a deadlock victim; later ones work."""
    calls = []
    real = services.lock_rotation

    def lock_rotation(**kwargs):
        calls.append(kwargs)
        if len(calls) == 1:
            raise _mysql_error(1213)
        return real(**kwargs)

    monkeypatch.setattr(services, "lock_rotation", lock_rotation)
    return calls


def _retried(caplog, name):
    return f"transient database conflict in {name} (attempt 1/3): 1213" in caplog.text


def test_distribute_is_retried(deadlock_once, caplog, agent, make_lead):
    leads = [make_lead() for _ in range(2)]
    result = services.distribute()
    assert result.assigned == 2 and len(deadlock_once) == 2
    assert _retried(caplog, "distribute")
    assert open_counts() == {agent.pk: 2}
    assert Assignment.objects.filter(lead__in=leads).count() == 2
    assert_assignment_invariants()


def test_reassign_is_retried(deadlock_once, caplog, agent, other_agent, make_lead):
    lead = make_lead(agent=other_agent)
    result = services.reassign(lead_ids=[lead.pk], agent=agent)
    assert result.assigned == 1 and len(deadlock_once) == 2
    assert _retried(caplog, "reassign")
    assert open_counts() == {agent.pk: 1}
    assert Assignment.objects.filter(lead=lead).count() == 2  # the old one ended, one new
    assert_assignment_invariants()


def test_redistribute_agent_is_retried(deadlock_once, caplog, agent, other_agent, make_lead):
    for _ in range(2):
        make_lead(agent=agent)
    result = services.redistribute_agent(agent=agent)
    assert result.assigned == 2 and len(deadlock_once) == 2
    assert _retried(caplog, "redistribute_agent")
    assert open_counts() == {other_agent.pk: 2}
    assert Assignment.objects.filter(agent=other_agent).count() == 2
    assert_assignment_invariants()


def test_moving_leads_from_their_owners_is_retried(
    deadlock_once, caplog, agent, other_agent, make_lead
):
    lead = make_lead(agent=agent)
    result = services.move_leads_from_owners(lead_ids=[lead.pk], reason=Reason.SLA)
    assert result.assigned == 1 and len(deadlock_once) == 2
    assert _retried(caplog, "move_leads_from_owners")
    assert Assignment.objects.get(lead=lead, ended_at=None).agent == other_agent
    assert Assignment.objects.filter(reason=Reason.SLA).count() == 1
    assert_assignment_invariants()


def test_agent_deactivate_is_retried_as_one_transaction(
    deadlock_once, caplog, agent, other_agent, make_lead
):
    # The first attempt has deactivated the agent and its login when the lock
    # fails: all of it is rolled back and done again, once.
    for _ in range(3):
        make_lead(agent=agent)
    result = services.agent_deactivate(agent=agent)
    assert result.assigned == 3 and len(deadlock_once) == 2
    assert _retried(caplog, "agent_deactivate")
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    assert not agent.is_active and not agent.user.is_active
    assert open_counts() == {other_agent.pk: 3}
    assert Assignment.objects.filter(agent=other_agent).count() == 3
    assert_assignment_invariants()


@pytest.mark.mariadb
def test_agent_deactivate_outlasts_a_real_lock_wait_timeout(caplog, agent, other_agent, make_lead):
    if connection.vendor != "mysql":
        pytest.skip("needs MariaDB's row locks and innodb_lock_wait_timeout")
    leads = [make_lead(agent=agent) for _ in range(3)]
    RotationState.objects.create(pool="default")
    locked, release = threading.Event(), threading.Event()
    holder_errors = []

    def hold_the_rotation_row():
        # Another connection: holds the lock every distribution takes first.
        try:
            with transaction.atomic():
                RotationState.objects.select_for_update().get(pool="default")
                locked.set()
                release.wait(timeout=60)
        except Exception as exc:  # asserted on below
            holder_errors.append(exc)
        finally:
            connection.close()

    class ReleaseAfterFirstFailure(logging.Handler):
        def emit(self, record):
            if "transient database conflict" in record.getMessage():
                release.set()

    retry_logger = logging.getLogger("common.db")
    on_failure = ReleaseAfterFirstFailure(level=logging.WARNING)
    retry_logger.addHandler(on_failure)
    holder = threading.Thread(target=hold_the_rotation_row)
    holder.start()
    configured = None
    try:
        assert locked.wait(timeout=30)
        with connection.cursor() as cursor:
            cursor.execute("SELECT @@SESSION.innodb_lock_wait_timeout")
            (configured,) = cursor.fetchone()
            cursor.execute("SET SESSION innodb_lock_wait_timeout = 1")
        with caplog.at_level(logging.WARNING, logger="common.db"):
            result = services.agent_deactivate(agent=agent)
    finally:
        release.set()
        holder.join(timeout=60)
        retry_logger.removeHandler(on_failure)
        if configured is not None:  # the connection's own setting, for the next tests
            with connection.cursor() as cursor:
                cursor.execute("SET SESSION innodb_lock_wait_timeout = %s", [configured])

    assert holder_errors == []
    assert "transient database conflict in agent_deactivate (attempt 1/3): 1205" in caplog.text
    assert result.assigned == 3
    agent = Agent.objects.select_related("user").get(pk=agent.pk)
    assert not agent.is_active and not agent.user.is_active
    owners = Lead.objects.filter(pk__in=[lead.pk for lead in leads]).values_list("agent", flat=True)
    assert set(owners) == {other_agent.pk}
    assert Assignment.objects.filter(agent=other_agent, ended_at=None).count() == 3
    assert_assignment_invariants()
