# ruff: noqa: RUF001, RUF002, RUF003 - lookalike and full-width letters are the subject
"""Lookalike emails: one canonical form, compared exactly at the database.

The attack (MariaDB): after 10 wrong passwords for ``asha@leadline.local``,
guesses as ``ásha@…``, ``ＡＳＨＡ@…`` and ``aśha@…`` were still checked (the
limiter keyed them apart), and the right password with ``ásha@…`` signed in
as asha, because ``utf8mb4_unicode_ci`` compares them equal. Now an email is
NFKC-normalized, case-folded and stripped (``common.emails.normalize_email``)
for storage, lookup, uniqueness and the limiter's key, and the email columns
compare byte for byte (``utf8mb4_bin`` on MariaDB, SQLite's default BINARY).
So ``ＡＳＨＡ@…`` is asha, and ``ásha@…`` is somebody else: unknown.
"""

import importlib
import sys
import types

import pytest
from django.apps import apps as global_apps
from django.db import connection
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.audit import Action
from accounts.models import AuditLog, Role, User
from agents.models import Agent
from agents.services import agent_create, agent_update
from common.emails import normalize_email
from common.errors import DomainError

pytestmark = pytest.mark.django_db

ASHA = "asha@leadline.local"
# Other letters: other (unknown) users, whatever a collation thinks of them.
LOOKALIKES = ["ásha@leadline.local", "aśha@leadline.local", "äsha@leadline.local"]
# The same canonical form: asha.
VARIANTS = ["ＡＳＨＡ@leadline.local", "ASHA@LEADLINE.LOCAL", " Asha@ｌｅａｄｌｉｎｅ.local\u3000"]
TOKEN = "/api/v1/auth/token/"


@pytest.fixture
def asha(make_agent):
    return make_agent(name="Asha", email=ASHA)


def login(email, password="wrong-password", ip="198.51.100.30"):
    return APIClient().post(
        TOKEN, {"email": email, "password": password}, format="json", REMOTE_ADDR=ip
    )


def _unknown_answer():
    return login("nobody-at-all@leadline.local").json()


# --- the canonical form -------------------------------------------------------------


@pytest.mark.parametrize(
    ("raw", "canonical"),
    [
        ("ＡＳＨＡ@leadline.local", ASHA),
        ("  Asha@Leadline.LOCAL\t", ASHA),
        ("\u3000asha@leadline.local\u3000", ASHA),
        ("Straße@Example.com", "strasse@example.com"),
        ("ﬁnn@example.com", "finn@example.com"),
        ("ásha@leadline.local", "ásha@leadline.local"),
        ("A\u0301sha@leadline.local", "ásha@leadline.local"),  # decomposed = composed
        (None, ""),
    ],
)
def test_normalize_email(raw, canonical):
    assert normalize_email(raw) == canonical
    assert normalize_email(canonical) == canonical


def test_normalize_email_is_idempotent_for_every_code_point():
    for code in range(sys.maxunicode + 1):
        if 0xD800 <= code <= 0xDFFF:
            continue
        once = normalize_email(f"a{chr(code)}b")
        assert normalize_email(once) == once, hex(code)


# --- login ----------------------------------------------------------------------------


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_a_lookalike_with_the_right_password_is_not_asha(asha, password, lookalike):
    response = login(lookalike, password)
    assert response.status_code == 401
    assert response.json() == _unknown_answer()
    assert not AuditLog.objects.filter(action=Action.LOGIN_SUCCEEDED).exists()
    failed = AuditLog.objects.filter(action=Action.LOGIN_FAILED).order_by("id").first()
    assert failed.target == normalize_email(lookalike)


@pytest.mark.parametrize("variant", VARIANTS)
def test_the_same_canonical_email_signs_in_as_asha(asha, password, variant):
    response = login(variant, password)
    assert response.status_code == 200, response.json()
    entry = AuditLog.objects.get(action=Action.LOGIN_SUCCEEDED)
    assert (entry.actor_id, entry.target) == (asha.user_id, ASHA)


@override_settings(RATELIMIT_LOGIN_IP="1000/d", RATELIMIT_LOGIN_EMAIL="10/d")
def test_the_limiter_counts_variants_under_ashas_key_and_lookalikes_apart(asha, password):
    for n in range(10):
        assert login(ASHA, ip=f"203.0.113.{n + 1}").status_code == 401
    for variant in VARIANTS:
        response = login(variant, password, ip="203.0.113.99")
        assert response.status_code == 429, variant
        assert response.json()["error"]["code"] == "throttled"
    # A lookalike is another (unknown) account with its own budget: checked, and refused
    # with the generic answer even with asha's password.
    for lookalike in LOOKALIKES:
        response = login(lookalike, password, ip="203.0.113.98")
        assert response.status_code == 401
        assert response.json()["error"]["code"] == "invalid_credentials"
    assert not AuditLog.objects.filter(action=Action.LOGIN_SUCCEEDED).exists()


# --- the database compares exactly -------------------------------------------------


@pytest.mark.parametrize("lookalike", LOOKALIKES)
def test_the_email_columns_do_not_match_a_lookalike(asha, lookalike):
    for model in (User, Agent):
        assert not model.objects.filter(email=lookalike).exists()
        table = connection.ops.quote_name(model._meta.db_table)
        with connection.cursor() as cursor:
            # Raw SQL: the column's own comparison, no normalization in between.
            cursor.execute(f"SELECT COUNT(*) FROM {table} WHERE email = %s", [lookalike])
            assert cursor.fetchone()[0] == 0
    with pytest.raises(User.DoesNotExist):
        User.objects.get_by_natural_key(lookalike)


def test_lookups_by_any_variant_find_asha(asha):
    for variant in VARIANTS:
        assert User.objects.get_by_natural_key(variant).pk == asha.user_id
        assert Agent.objects.get(email=variant).pk == asha.pk
        assert User.objects.filter(email__iexact=variant).get().pk == asha.user_id
        assert list(User.objects.filter(email__in=[variant, "x@y.z"])) == [asha.user]


@pytest.mark.mariadb
def test_email_columns_are_binary_on_mariadb(db):
    if connection.vendor != "mysql":
        pytest.skip("the collation is MariaDB's; SQLite compares bytes already")
    with connection.cursor() as cursor:
        cursor.execute(
            "SELECT TABLE_NAME, COLLATION_NAME FROM information_schema.COLUMNS "
            "WHERE TABLE_SCHEMA = DATABASE() AND COLUMN_NAME = 'email' AND TABLE_NAME IN (%s, %s)",
            [User._meta.db_table, Agent._meta.db_table],
        )
        collations = dict(cursor.fetchall())
    assert collations == {User._meta.db_table: "utf8mb4_bin", Agent._meta.db_table: "utf8mb4_bin"}


# --- uniqueness, on every path that creates or renames ----------------------------


def test_api_refuses_a_variant_of_a_taken_email(asha, auth, manager):
    client = auth(manager)
    payload = {"name": "Fake", "mobile": "+919812345678", "password": "a-long-enough-pass-77"}
    response = client.post(
        "/api/v1/agents/", {**payload, "email": "asha@ＬＥＡＤＬＩＮＥ.local"}, format="json"
    )
    assert response.status_code == 400, response.json()
    assert response.json()["error"]["fields"]["email"] == ["This email is already in use."]
    other = agent_create(name="Ravi", email="ravi@leadline.local", mobile="+919812345679")
    response = client.patch(
        f"/api/v1/agents/{other.pk}/", {"email": "ASHA@ＬＥＡＤＬＩＮＥ.LOCAL"}, format="json"
    )
    assert response.status_code == 400
    assert User.objects.get(pk=other.user_id).email == "ravi@leadline.local"
    assert Agent.objects.count() == 2
    assert User.objects.filter(email__startswith="asha@").count() == 1


def test_services_refuse_a_variant_of_a_taken_email(asha):
    with pytest.raises(DomainError) as caught:
        agent_create(name="Fake", email="ＡＳＨＡ@leadline.local", mobile="+919812345678")
    assert caught.value.fields == {"email": ["This email is already in use."]}
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError differs per backend
        User.objects.create_user(email="Ａsha@LEADLINE.local", password="x")


def test_an_email_too_long_once_normalized_is_a_400_not_a_500(auth, manager, agent):
    # "㎞" is one character that NFKC turns into two: 133 characters become 257.
    label = "㎞" * 31
    email = f"a@{label}.{label}.{label}.{label}.com"
    assert len(email) <= 254 < len(normalize_email(email))
    client = auth(manager)
    payload = {"name": "Long", "mobile": "+919812345678", "email": email}
    response = client.post("/api/v1/agents/", payload, format="json")
    assert response.status_code == 400, response.content
    assert "email" in response.json()["error"]["fields"]
    response = client.patch(f"/api/v1/agents/{agent.pk}/", {"email": email}, format="json")
    assert response.status_code == 400
    assert "email" in response.json()["error"]["fields"]
    assert User.objects.get(pk=agent.user_id).email == "asha@example.com"


def test_console_refuses_a_variant_of_a_taken_email(client, admin_user, asha):
    client.force_login(admin_user)
    response = client.post(
        "/admin/agents/agent/add/",
        {
            "name": "Fake",
            "email": "asha@ＬＥＡＤＬＩＮＥ.local",
            "mobile": "+919812345678",
            "weight": "1",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    response = client.post(
        "/admin/accounts/user/add/",
        {
            "email": "ASHA@ｌｅａｄｌｉｎｅ.local",
            "role": Role.AGENT,
            "usable_password": "true",
            "password1": "a-long-enough-passphrase-31",
            "password2": "a-long-enough-passphrase-31",
        },
    )
    assert response.status_code == 200
    assert "email" in response.context["adminform"].form.errors
    assert User.objects.count() == 2 and Agent.objects.count() == 1


def test_an_admin_can_store_only_the_canonical_form(client, admin_user, make_user):
    someone = make_user(Role.AGENT, email="someone@example.com")
    client.force_login(admin_user)
    response = client.post(
        f"/admin/accounts/user/{someone.pk}/change/",
        {"email": " ＳＯＭＥＯＮＥ.Else@Example.com ", "role": Role.AGENT, "is_active": "on"},
    )
    assert response.status_code == 302
    assert User.objects.get(pk=someone.pk).email == "someone.else@example.com"


def test_agent_update_stores_the_canonical_form(asha):
    agent_update(agent=asha, email="ＡＳＨＡ.Two@leadline.local")
    asha = Agent.objects.select_related("user").get(pk=asha.pk)
    assert asha.email == asha.user.email == "asha.two@leadline.local"


# --- searches keep working on the exact collation ---------------------------------


def test_searching_by_email_ignores_case_on_both_engines(asha, auth, manager, client, admin_user):
    found = auth(manager).get("/api/v1/agents/", {"search": "ASHA@Leadline"}).json()
    assert [row["id"] for row in found["results"]] == [asha.pk]
    client.force_login(admin_user)
    changelist = client.get("/admin/agents/agent/", {"q": "ASHA@LEADLINE"})
    assert list(changelist.context["cl"].result_list) == [asha]
    users = client.get("/admin/accounts/user/", {"q": "Asha@"})
    assert list(users.context["cl"].result_list) == [asha.user]


# --- existing rows: re-normalized by the data migrations ----------------------------


def _set_raw_email(model, pk, email):
    """Write ``email`` as it is, past the field's normalization (as old rows were)."""
    table = connection.ops.quote_name(model._meta.db_table)
    with connection.cursor() as cursor:
        cursor.execute(f"UPDATE {table} SET email = %s WHERE id = %s", [email, pk])


def _raw_emails(model):
    return dict(model.objects.order_by("pk").values_list("pk", "email"))


def test_data_migrations_normalize_old_rows_and_report_collisions(make_agent, make_user, capsys):
    users_migration = importlib.import_module("accounts.migrations.0003_canonical_email")
    agents_migration = importlib.import_module("agents.migrations.0002_canonical_email")
    keeper = make_user(Role.MANAGER, email="asha@leadline.local")  # already canonical
    twin = make_agent(email="twin@leadline.local")  # stored before as "ａｓｈａ@…"
    ravi = make_agent(email="ravi@leadline.local")
    zed_old = make_user(email="zed1@example.com")
    zed_new = make_user(email="zed2@example.com")
    strasse = make_user(email="strasse@example.com")
    _set_raw_email(User, twin.user_id, "ａｓｈａ@leadline.local")
    _set_raw_email(Agent, twin.pk, "ａｓｈａ@leadline.local")
    _set_raw_email(User, ravi.user_id, " ravi@leadline.local")
    _set_raw_email(Agent, ravi.pk, " ravi@leadline.local")
    _set_raw_email(User, zed_old.pk, "ｚｅｄ@example.com")  # neither is canonical: the
    _set_raw_email(User, zed_new.pk, "zed@example.com\t")  # older row keeps the address
    _set_raw_email(User, strasse.pk, "straße@example.com")

    editor = types.SimpleNamespace(connection=connection)
    users_migration.canonicalize_user_emails(global_apps, editor)
    agents_migration.sync_agent_emails(global_apps, editor)

    users = _raw_emails(User)
    assert users[keeper.pk] == "asha@leadline.local"
    assert users[twin.user_id] == f"renamed-{twin.user_id}@collision.invalid"
    assert users[ravi.user_id] == "ravi@leadline.local"
    assert users[zed_old.pk] == "zed@example.com"
    assert users[zed_new.pk] == f"renamed-{zed_new.pk}@collision.invalid"
    assert users[strasse.pk] == "strasse@example.com"
    assert all(normalize_email(email) == email for email in users.values())
    # An agent's email is its login's.
    for agent in Agent.objects.select_related("user"):
        assert agent.email == agent.user.email

    out = capsys.readouterr().out
    assert f"user {twin.user_id}: 'ａｓｈａ@leadline.local' collides" in out
    assert f"user {zed_new.pk}: 'zed@example.com\\t' collides" in out
    renamed = AuditLog.objects.filter(action=Action.EMAIL_RENAMED).order_by("id")
    assert [(e.target, e.data["old"], e.data["new"]) for e in renamed] == [
        (f"user:{twin.user_id}", "ａｓｈａ@leadline.local", users[twin.user_id]),
        (f"user:{zed_new.pk}", "zed@example.com\t", users[zed_new.pk]),
    ]
    # Run again: nothing left to do.
    users_migration.canonicalize_user_emails(global_apps, editor)
    agents_migration.sync_agent_emails(global_apps, editor)
    assert _raw_emails(User) == users
    assert AuditLog.objects.filter(action=Action.EMAIL_RENAMED).count() == 2
