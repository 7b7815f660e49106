from datetime import UTC

import pytest

from accounts.models import Role, User
from common.compiled import CompiledQuery

pytestmark = pytest.mark.django_db


def _users_by_role(calls):
    def build():
        calls.append(1)
        return (
            User.objects.filter(role="x")
            .filter(id__gt=0)
            .order_by("id")
            .values_list("id", "email", "is_active", "date_joined")
        )

    return build


def test_compiles_once_and_runs_with_new_parameters(make_user, django_assert_num_queries):
    agent = make_user(Role.AGENT)
    manager = make_user(Role.MANAGER)
    inactive = make_user(Role.MANAGER, is_active=False)
    calls = []
    query = CompiledQuery(_users_by_role(calls))
    with django_assert_num_queries(1):
        rows = query.rows((Role.MANAGER, 0), convert=True)
    assert [row[:3] for row in rows] == [
        [manager.pk, manager.email, True],
        [inactive.pk, inactive.email, False],  # booleans, not 1/0: the converters ran
    ]
    assert rows[0][3] == manager.date_joined  # aware, as the ORM returns it
    assert rows[0][3].utcoffset().total_seconds() == 0
    with django_assert_num_queries(1):
        rows = query.rows((Role.AGENT, 0), convert=True)
    assert [row[1] for row in rows] == [agent.email]
    assert [row[0] for row in query.rows((Role.MANAGER, manager.pk))] == [inactive.pk]
    assert list(query.rows((Role.ADMIN, 0))) == []
    assert len(calls) == 2  # once for the model's alias, once for the SQL: never per call


def test_without_convert_the_driver_values_come_back(make_user):
    user = make_user(Role.MANAGER)
    query = CompiledQuery(_users_by_role([]))
    (row,) = query.rows((Role.MANAGER, 0))
    assert row[0] == user.pk
    # Naive UTC under USE_TZ: what the database stores.
    assert row[3].tzinfo is None
    assert row[3].replace(tzinfo=UTC) == user.date_joined


def test_wrong_number_of_parameters_is_refused(make_user):
    query = CompiledQuery(_users_by_role([]))
    with pytest.raises(ValueError, match="expected 2 parameters, got 1"):
        query.rows((Role.MANAGER,))


def test_a_placeholder_the_orm_inlines_is_caught(db):
    # None compiles to IS NULL, not a parameter: there is nothing to put a value
    # in, so the helper refuses rather than run different SQL than asked for.
    query = CompiledQuery(lambda: User.objects.filter(role="x", last_login=None).values_list("id"))
    with pytest.raises(ValueError, match="expected 1 parameters, got 2"):
        query.rows(("manager", None))
