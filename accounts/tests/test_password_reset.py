"""Password reset through the API: the request, the emailed link, the confirm."""

import re
from datetime import timedelta
from urllib.parse import parse_qs, urlsplit

import pytest
from django.contrib.auth.tokens import PasswordResetTokenGenerator
from django.utils import timezone
from rest_framework_simplejwt.token_blacklist.models import OutstandingToken

from accounts.audit import Action
from accounts.models import AuditLog, User
from accounts.tokens import (
    invitation_tokens,
    issue_tokens,
    password_reset_tokens,
    set_password_link,
    uid_for,
)

pytestmark = pytest.mark.django_db

RESET = "/api/v1/auth/password-reset/"
CONFIRM = "/api/v1/auth/password-reset/confirm/"
NEW_PASSWORD = "a-brand-new-passphrase-42"


def _request(api_client, capture, email, **extra):
    with capture(execute=True):
        return api_client.post(RESET, {"email": email}, format="json", **extra)


def _link(message):
    """The /set-password link of an email, as the SPA would receive it."""
    (url,) = set(re.findall(r"https?://\S+/set-password\?\S+", message.body))
    parts = urlsplit(url)
    query = {key: values[0] for key, values in parse_qs(parts.query).items()}
    return parts, query


@pytest.fixture
def user(make_user):
    return make_user(email="asha@example.com")


def test_known_and_unknown_addresses_get_the_same_answer(
    api_client, user, mailoutbox, django_capture_on_commit_callbacks, django_assert_num_queries
):
    # The request does no database work of its own either way: the lookup
    # happens in the task, so the answer's timing does not tell them apart.
    with django_assert_num_queries(0), django_capture_on_commit_callbacks() as known_hooks:
        known = api_client.post(RESET, {"email": "asha@example.com"}, format="json")
    with django_assert_num_queries(0), django_capture_on_commit_callbacks() as unknown_hooks:
        unknown = api_client.post(RESET, {"email": "nobody@example.com"}, format="json")
    assert known.status_code == unknown.status_code == 202
    assert known.json() == unknown.json()
    assert set(known.json()) == {"detail"}
    assert len(known_hooks) == len(unknown_hooks) == 1
    for hook in [*known_hooks, *unknown_hooks]:
        hook()
    assert [m.to for m in mailoutbox] == [["asha@example.com"]]


def test_reset_email_links_to_the_spa_with_a_working_token(
    api_client, user, mailoutbox, django_capture_on_commit_callbacks, settings
):
    settings.SITE_URL = "https://desk.example.com"
    assert (
        _request(api_client, django_capture_on_commit_callbacks, "ASHA@Example.com").status_code
        == 202
    )
    (message,) = mailoutbox
    assert message.to == ["asha@example.com"]
    assert "password" in message.subject.lower()
    parts, query = _link(message)
    assert (parts.scheme, parts.netloc, parts.path) == (
        "https",
        "desk.example.com",
        "/set-password",
    )
    assert query["uid"] == uid_for(user)
    assert password_reset_tokens.check_token(user, query["token"])
    html, mime = message.alternatives[0]
    assert mime == "text/html"
    assert f'href="https://desk.example.com/set-password?uid={query["uid"]}&amp;token=' in html
    assert "1 hour" in message.body


def test_no_email_for_inactive_or_passwordless_users(
    api_client, make_user, mailoutbox, django_capture_on_commit_callbacks
):
    make_user(email="gone@example.com", is_active=False)
    make_user(email="invited@example.com", password=None)
    for email in ("gone@example.com", "invited@example.com"):
        assert _request(api_client, django_capture_on_commit_callbacks, email).status_code == 202
    assert mailoutbox == []


@pytest.mark.parametrize(
    "email", ["asha@example.com\nBcc: x@example.com", "not-an-email", "", "x" * 300 + "@e.com"]
)
def test_a_bad_address_is_a_400_and_sends_nothing(
    api_client, user, email, mailoutbox, django_capture_on_commit_callbacks
):
    response = _request(api_client, django_capture_on_commit_callbacks, email)
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "validation_error"
    assert "email" in response.json()["error"]["fields"]
    assert mailoutbox == []


def test_requests_are_rate_limited_per_address(api_client, user, settings):
    settings.RATELIMIT_PASSWORD_RESET_EMAIL = "2/h"
    settings.RATELIMIT_PASSWORD_RESET_IP = "100/m"
    codes = [api_client.post(RESET, {"email": "asha@example.com"}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]
    refused = api_client.post(RESET, {"email": "Asha@EXAMPLE.com"})
    assert refused.status_code == 429
    assert refused.json()["error"]["code"] == "throttled"
    assert int(refused["Retry-After"]) > 0
    # Unknown addresses are counted the same way: a 429 tells nothing either.
    codes = [api_client.post(RESET, {"email": "nobody@example.com"}).status_code for _ in range(3)]
    assert codes == [202, 202, 429]


def test_requests_are_rate_limited_per_ip(api_client, settings):
    settings.RATELIMIT_PASSWORD_RESET_IP = "3/m"
    codes = [
        api_client.post(RESET, {"email": f"user{n}@example.com"}).status_code for n in range(4)
    ]
    assert codes == [202, 202, 202, 429]


def _confirm(api_client, uid, token, password=NEW_PASSWORD):
    return api_client.post(CONFIRM, {"uid": uid, "token": token, "password": password})


def test_confirm_sets_the_password_and_ends_every_token(api_client, user, auth, password):
    refresh, access = issue_tokens(user)
    signed_in = auth(user)
    assert signed_in.get("/api/v1/auth/me/").status_code == 200
    token = password_reset_tokens.make_token(user)

    response = _confirm(api_client, uid_for(user), token)

    assert response.status_code == 200
    assert response.json() == {"email": "asha@example.com"}
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD) and not user.check_password(password)
    # The refresh tokens are blacklisted and the access tokens refused.
    assert OutstandingToken.objects.filter(user=user).exists()
    assert not OutstandingToken.objects.filter(user=user, blacklistedtoken__isnull=True).exists()
    again = api_client.post("/api/v1/auth/token/refresh/", {"refresh": refresh})
    assert again.status_code == 401
    assert signed_in.get("/api/v1/auth/me/").status_code == 401
    api_client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    assert api_client.get("/api/v1/auth/me/").status_code == 401
    api_client.credentials()
    login = api_client.post(
        "/api/v1/auth/token/", {"email": "asha@example.com", "password": NEW_PASSWORD}
    )
    assert login.status_code == 200
    entry = AuditLog.objects.get(action=Action.PASSWORD_RESET)
    assert entry.actor == user and entry.target == "asha@example.com"


def test_a_link_works_once(api_client, user):
    token = password_reset_tokens.make_token(user)
    assert _confirm(api_client, uid_for(user), token).status_code == 200
    reused = _confirm(api_client, uid_for(user), token, password="yet-another-passphrase-7")
    assert reused.status_code == 400
    assert reused.json()["error"]["code"] == "invalid_link"
    assert set(reused.json()["error"]["fields"]) == {"token"}
    user.refresh_from_db()
    assert user.check_password(NEW_PASSWORD)


def test_a_link_expires(api_client, user, settings, monkeypatch):
    settings.PASSWORD_RESET_TIMEOUT = 3600
    token = password_reset_tokens.make_token(user)
    later = timezone.now().replace(tzinfo=None) + timedelta(seconds=3601)
    monkeypatch.setattr(PasswordResetTokenGenerator, "_now", lambda self: later)
    response = _confirm(api_client, uid_for(user), token)
    assert response.status_code == 400
    assert set(response.json()["error"]["fields"]) == {"token"}


@pytest.mark.parametrize(
    ("uid", "field"),
    [
        ("", "uid"),
        ("!!!", "uid"),
        ("MTIzNDU2Nzg5", "uid"),  # "123456789": nobody
        ("OTk5OTk5OTk5OTk5OTk5OTk5OTk5OTk5", "uid"),  # beyond 64 bits
        ("w7w", "uid"),  # not UTF-8 once decoded
    ],
)
def test_a_bad_uid_is_a_400_naming_it(api_client, user, uid, field):
    token = password_reset_tokens.make_token(user)
    response = _confirm(api_client, uid, token)
    assert response.status_code == 400
    assert field in response.json()["error"]["fields"]
    user.refresh_from_db()
    assert not user.check_password(NEW_PASSWORD)


@pytest.mark.parametrize("token", ["", "abc", "zzzzzzzzzzzzzzzz-1234", "1-2-3", "x" * 200])
def test_a_bad_token_is_a_400_naming_it(api_client, user, token):
    response = _confirm(api_client, uid_for(user), token)
    assert response.status_code == 400
    assert "token" in response.json()["error"]["fields"]


def test_another_users_token_is_refused(api_client, user, make_user):
    other = make_user(email="ravi@example.com")
    response = _confirm(api_client, uid_for(other), password_reset_tokens.make_token(user))
    assert response.status_code == 400
    assert "token" in response.json()["error"]["fields"]


def test_a_deactivated_user_cannot_use_a_link(api_client, user):
    token = password_reset_tokens.make_token(user)
    User.objects.filter(pk=user.pk).update(is_active=False)
    response = _confirm(api_client, uid_for(user), token)
    assert response.status_code == 400
    assert "uid" in response.json()["error"]["fields"]


def test_a_weak_password_is_a_400_and_keeps_the_link(api_client, user):
    token = password_reset_tokens.make_token(user)
    for weak in ("123", "password", "asha@example.com"):
        response = _confirm(api_client, uid_for(user), token, password=weak)
        assert response.status_code == 400
        assert response.json()["error"]["code"] == "validation_error"
        assert "password" in response.json()["error"]["fields"]
    assert _confirm(api_client, uid_for(user), token).status_code == 200


def test_the_invitation_link_sets_the_first_password(api_client, make_user):
    invited = make_user(email="new@example.com", password=None)
    query = parse_qs(urlsplit(set_password_link(invited, invitation_tokens)).query)
    response = _confirm(api_client, query["uid"][0], query["token"][0])
    assert response.status_code == 200
    invited.refresh_from_db()
    assert invited.check_password(NEW_PASSWORD)
    assert _confirm(api_client, query["uid"][0], query["token"][0]).status_code == 400


def test_invitation_and_reset_tokens_are_not_interchangeable(user, settings):
    reset = password_reset_tokens.make_token(user)
    invite = invitation_tokens.make_token(user)
    assert reset != invite
    assert not invitation_tokens.check_token(user, reset)
    assert not password_reset_tokens.check_token(user, invite)


def test_confirm_is_rate_limited(api_client, user, settings):
    settings.RATELIMIT_PASSWORD_RESET_CONFIRM = "2/m"
    codes = [_confirm(api_client, uid_for(user), "1-abc").status_code for _ in range(3)]
    assert codes == [400, 400, 429]


def test_both_endpoints_are_in_the_schema(api_client):
    schema = api_client.get("/api/schema/?format=json").json()
    reset = schema["paths"]["/api/v1/auth/password-reset/"]["post"]
    confirm = schema["paths"]["/api/v1/auth/password-reset/confirm/"]["post"]
    assert "202" in reset["responses"] and "429" in reset["responses"]
    assert {"200", "400"} <= set(confirm["responses"])
    body = confirm["requestBody"]["content"]["application/json"]["schema"]["$ref"].rsplit("/")[-1]
    assert set(schema["components"]["schemas"][body]["properties"]) == {"uid", "token", "password"}
