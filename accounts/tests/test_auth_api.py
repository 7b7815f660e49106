import pytest
from rest_framework.test import APIClient
from rest_framework_simplejwt.tokens import AccessToken, RefreshToken

from accounts.api.authentication import user_with_agent
from accounts.models import Role, User
from accounts.tokens import issue_tokens

TOKEN = "/api/v1/auth/token/"
REFRESH = "/api/v1/auth/token/refresh/"
LOGOUT = "/api/v1/auth/logout/"
ME = "/api/v1/auth/me/"

pytestmark = pytest.mark.django_db


def login(email, password):
    return APIClient().post(TOKEN, {"email": email, "password": password}, format="json")


def bearer(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client


def test_login_returns_tokens_that_open_me(agent, password):
    response = login("asha@example.com", password)
    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"access", "refresh"}
    me = bearer(body["access"]).get(ME)
    assert me.status_code == 200
    assert me.json()["email"] == "asha@example.com"
    assert me.json()["role"] == "agent"
    assert me.json()["agent"]["id"] == agent.pk
    assert me.json()["agent"]["mobile"] == agent.mobile


def test_login_email_is_case_insensitive(manager, password):
    assert login("  MANAGER@Example.COM ", password).status_code == 200


def test_email_unique_regardless_of_case(manager):
    with pytest.raises(Exception):  # noqa: B017 - IntegrityError differs per backend
        User.objects.create_user(email="Manager@EXAMPLE.com", password="x")


def test_bad_password_and_unknown_email_get_the_same_answer(manager):
    wrong = login("manager@example.com", "nope")
    unknown = login("nobody@example.com", "nope")
    assert wrong.status_code == unknown.status_code == 401
    assert wrong.json() == unknown.json()
    assert wrong.json()["error"]["code"] == "invalid_credentials"


def test_login_with_missing_fields_is_400_envelope():
    response = APIClient().post(TOKEN, {"email": "x@example.com"}, format="json")
    assert response.status_code == 400
    assert response.json()["error"]["fields"]["password"]


def test_passwords_hashed_with_argon2(manager):
    assert manager.password.startswith("argon2")


def test_me_requires_a_token():
    response = APIClient().get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "not_authenticated"


def test_garbage_token_is_401(db):
    response = bearer("not.a.jwt").get(ME)
    assert response.status_code == 401
    assert "error" in response.json()


def test_refresh_rotates_and_old_token_is_refused(manager, password):
    first = login("manager@example.com", password).json()
    rotated = APIClient().post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert rotated.status_code == 200
    assert rotated.json()["refresh"] != first["refresh"]
    assert bearer(rotated.json()["access"]).get(ME).status_code == 200

    reused = APIClient().post(REFRESH, {"refresh": first["refresh"]}, format="json")
    assert reused.status_code == 401
    assert reused.json()["error"]["code"] == "token_reused"


def test_reusing_a_rotated_token_revokes_the_whole_family(manager, password):
    first = login("manager@example.com", password).json()
    second = APIClient().post(REFRESH, {"refresh": first["refresh"]}, format="json").json()
    APIClient().post(REFRESH, {"refresh": first["refresh"]}, format="json")  # theft signal
    assert (
        APIClient().post(REFRESH, {"refresh": second["refresh"]}, format="json").status_code == 401
    )
    assert bearer(second["access"]).get(ME).status_code == 401


def test_access_token_cannot_be_used_as_refresh(manager, password):
    tokens = login("manager@example.com", password).json()
    response = APIClient().post(REFRESH, {"refresh": tokens["access"]}, format="json")
    assert response.status_code == 401


def test_forged_refresh_token_is_refused(manager):
    response = APIClient().post(REFRESH, {"refresh": "eyJhbGciOiJIUzI1NiJ9.e30.x"}, format="json")
    assert response.status_code == 401
    assert response.json()["error"]["code"] == "token_not_valid"


def test_logout_blacklists_refresh_and_ends_access(manager, password):
    tokens = login("manager@example.com", password).json()
    response = APIClient().post(LOGOUT, {"refresh": tokens["refresh"]}, format="json")
    assert response.status_code == 204
    assert (
        APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    )
    assert bearer(tokens["access"]).get(ME).status_code == 401
    # A fresh login works again straight away.
    again = login("manager@example.com", password).json()
    assert bearer(again["access"]).get(ME).status_code == 200


def test_deactivated_user_loses_access_and_refresh_at_once(agent, password):
    tokens = login("asha@example.com", password).json()
    User.objects.filter(pk=agent.user_id).update(is_active=False)
    assert bearer(tokens["access"]).get(ME).status_code == 401
    assert (
        APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    )
    assert login("asha@example.com", password).status_code == 401


def test_deactivating_through_the_api_ends_tokens(auth, manager, agent, password):
    tokens = login("asha@example.com", password).json()
    assert auth(manager).delete(f"/api/v1/agents/{agent.pk}/").status_code == 204
    assert bearer(tokens["access"]).get(ME).status_code == 401
    assert (
        APIClient().post(REFRESH, {"refresh": tokens["refresh"]}, format="json").status_code == 401
    )


def test_role_is_source_of_truth_for_staff_flags(make_user):
    manager = make_user(Role.MANAGER)
    assert manager.is_staff and not manager.is_superuser
    manager.role = Role.AGENT
    manager.save()
    manager.refresh_from_db()
    assert not manager.is_staff and not manager.is_superuser
    boss = User.objects.create_superuser(email="Boss@Example.com", password="x-y-z-123456")
    assert boss.role == Role.ADMIN and boss.is_superuser and boss.email == "boss@example.com"


def test_malformed_json_is_400_not_500(db):
    response = APIClient().post(TOKEN, data="{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "parse_error"


def test_tokens_carry_role_and_revocation_stamp(manager):
    refresh, _access = issue_tokens(manager)
    token = RefreshToken(refresh)
    assert token["role"] == "manager"
    assert token["tva"] == manager.tokens_valid_after.timestamp()


@pytest.mark.parametrize(
    "user_id", ["abc", "12abc", 10**30, -1, 0, 1.5, True, None, [1], {"id": 1}, "", " "]
)
def test_signed_token_with_a_strange_user_id_is_401(manager, user_id):
    # Only someone holding the signing key could mint these; still never a 500.
    token = AccessToken.for_user(manager)
    token["user_id"] = user_id
    token["tva"] = manager.tokens_valid_after.timestamp()
    response = bearer(str(token)).get(ME)
    assert response.status_code == 401
    assert response.json()["error"]["code"] in ("user_not_found", "token_not_valid")


def test_signed_token_with_the_user_id_as_a_string_works(manager):
    token = AccessToken.for_user(manager)
    token["user_id"] = str(manager.pk)
    token["tva"] = manager.tokens_valid_after.timestamp()
    response = bearer(str(token)).get(ME)
    assert response.status_code == 200
    assert response.json()["email"] == manager.email


def test_authenticated_user_carries_its_agent_profile_without_another_query(
    agent, manager, django_assert_num_queries
):
    stored = User.objects.get(pk=agent.user_id)
    with django_assert_num_queries(1):
        user = user_with_agent(agent.user_id)
        assert user.agent_profile == agent
        assert user.agent_profile.name == agent.name
        assert user.agent_profile.user is user
        assert user.role == Role.AGENT and user.is_active is True
        assert user.tokens_valid_after == stored.tokens_valid_after
        assert user.password == stored.password and user.last_login == stored.last_login
    with django_assert_num_queries(1):
        boss = user_with_agent(manager.pk)
        assert getattr(boss, "agent_profile", None) is None
        assert boss.email == manager.email
    with pytest.raises(User.DoesNotExist):
        user_with_agent(manager.pk + 1000)
