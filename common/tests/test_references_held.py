"""``common.db.without_reference_checks``: one statement without MariaDB's foreign-key checks."""

import pytest
from django.db import IntegrityError, connection, transaction

from agents.models import Agent
from common.db import without_reference_checks
from leads.models import Lead

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.skipif(connection.vendor != "mysql", reason="MariaDB's SET STATEMENT"),
]

INSERT = (
    "INSERT INTO leads_lead (first_name, last_name, phone, email, notes, status, extra, "
    "agent_id, created_at, updated_at) "
    "VALUES ('A', '', %s, '', '', 'new', '{}', %s, NOW(), NOW())"
)


def test_only_the_wrapped_statement_goes_unchecked():
    assert connection.mysql_is_mariadb  # the server Leadline runs on, and CI's
    missing = (Agent.objects.order_by("-id").values_list("id", flat=True).first() or 0) + 1000
    with connection.cursor() as cursor:
        with transaction.atomic():
            cursor.execute(without_reference_checks(INSERT), ["+919800000001", missing])
            assert Lead.objects.get(phone="+919800000001").agent_id == missing
            transaction.set_rollback(True)
        cursor.execute("SELECT @@SESSION.foreign_key_checks")
        assert cursor.fetchone()[0] == 1
        with pytest.raises(IntegrityError), transaction.atomic():
            cursor.execute(INSERT, ["+919800000002", missing])
