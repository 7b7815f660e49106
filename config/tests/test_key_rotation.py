# ruff: noqa: S603 - the tests start python with the same interpreter
"""Rotating keys without signing everybody out.

``JWT_SIGNING_KEY_FALLBACKS``: a token signed with an old JWT key still
verifies while that key is a fallback, and is refused once it is not; new
tokens are signed with the current key only. ``DJANGO_SECRET_KEY_FALLBACKS``
does the same for Django's signatures (sessions, reset links). Both are read
from the environment; a weak fallback stops production from starting.
"""

import os
import secrets
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

import jwt
import pytest
from django.conf import settings
from django.test import override_settings
from rest_framework.test import APIClient

from accounts.models import Role
from accounts.tokens import issue_tokens

BASE_DIR = Path(__file__).resolve().parents[2]
OLD, NEW, OTHER = (secrets.token_urlsafe(50) for _ in range(3))


def _signed_with(key, fallbacks=()):
    return override_settings(
        SIMPLE_JWT={**settings.SIMPLE_JWT, "SIGNING_KEY": key},
        JWT_SIGNING_KEY_FALLBACKS=list(fallbacks),
    )


def _me(access):
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {access}")
    return client.get("/api/v1/auth/me/")


def _refresh(refresh):
    return APIClient().post("/api/v1/auth/token/refresh/", {"refresh": refresh}, format="json")


@pytest.fixture
def old_tokens(make_user):
    user = make_user(Role.MANAGER)
    with _signed_with(OLD):
        refresh, access = issue_tokens(user)
    return refresh, access


@pytest.mark.django_db
def test_a_token_signed_with_the_old_key_is_accepted_while_the_key_is_a_fallback(old_tokens):
    refresh, access = old_tokens
    with _signed_with(NEW, fallbacks=[OTHER, OLD]):
        assert _me(access).status_code == 200
        renewed = _refresh(refresh)
        assert renewed.status_code == 200, renewed.content
        pair = renewed.json()
        # The new pair is signed with the new key, and only with it.
        for token in (pair["access"], pair["refresh"]):
            assert jwt.decode(token, NEW, algorithms=["HS256"])["user_id"]
            with pytest.raises(jwt.InvalidSignatureError):
                jwt.decode(token, OLD, algorithms=["HS256"])
        assert _me(pair["access"]).status_code == 200


@pytest.mark.django_db
@pytest.mark.parametrize("fallbacks", [[], [OTHER]])
def test_a_token_signed_with_the_old_key_is_refused_once_the_key_is_not_a_fallback(
    old_tokens, fallbacks
):
    refresh, access = old_tokens
    with _signed_with(NEW, fallbacks=fallbacks):
        refused = _me(access)
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "token_not_valid"
        assert _refresh(refresh).status_code == 401


@pytest.mark.django_db
def test_an_expired_token_stays_expired_under_a_fallback_key(make_user):
    from accounts.tokens import AccessToken, token_backend

    user = make_user(Role.MANAGER)
    with _signed_with(OLD):
        token = AccessToken.for_user(user)
        token.set_exp(lifetime=timedelta(seconds=-60))
        access = str(token)
    with _signed_with(NEW, fallbacks=[OLD]):
        assert _me(access).status_code == 401
        with pytest.raises(Exception, match="expired"):
            token_backend().decode(access)


def _python(code, env):
    return subprocess.run(
        [sys.executable, "-c", code],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="leadline.example.com",
    )
    env.update(extra)
    return env


_SIGN = "import django; django.setup(); from django.core import signing; print(signing.dumps('hi'))"
_CHECK = (
    "import django; django.setup(); from django.core import signing\n"
    "try:\n    print(signing.loads({value!r}))\n"
    "except signing.BadSignature:\n    print('refused')\n"
)


def test_django_signatures_survive_a_secret_key_rotation_through_the_environment():
    old_key, new_key = secrets.token_urlsafe(50), secrets.token_urlsafe(50)
    signed = _python(_SIGN, _production_env(DJANGO_SECRET_KEY=old_key))
    assert signed.returncode == 0, signed.stderr
    value = signed.stdout.split()[-1]

    rotated = _production_env(DJANGO_SECRET_KEY=new_key, DJANGO_SECRET_KEY_FALLBACKS=old_key)
    assert _python(_CHECK.format(value=value), rotated).stdout.split()[-1] == "hi"
    forgotten = _production_env(DJANGO_SECRET_KEY=new_key)
    assert _python(_CHECK.format(value=value), forgotten).stdout.split()[-1] == "refused"


def test_jwt_fallbacks_are_read_from_the_environment():
    keys = [secrets.token_urlsafe(40), secrets.token_urlsafe(40)]
    code = (
        "import django; django.setup(); from accounts.tokens import token_backend\n"
        "print(len(token_backend().fallbacks))"
    )
    env = _production_env(JWT_SIGNING_KEY_FALLBACKS=",".join(keys))
    result = _python(code, env)
    assert result.returncode == 0, result.stderr
    assert result.stdout.split()[-1] == "2"


@pytest.mark.parametrize(
    "variable, value",
    [
        ("JWT_SIGNING_KEY_FALLBACKS", "too-short"),
        ("DJANGO_SECRET_KEY_FALLBACKS", "too-short-for-a-django-key"),
    ],
)
def test_a_weak_fallback_key_stops_production_from_starting(variable, value):
    served = _python("import config.wsgi", _production_env(**{variable: value}))
    assert served.returncode != 0
    assert variable in served.stderr


def test_a_jwt_fallback_may_not_be_the_django_key():
    django_key = secrets.token_urlsafe(50)
    env = _production_env(DJANGO_SECRET_KEY=django_key, JWT_SIGNING_KEY_FALLBACKS=django_key)
    served = _python("import config.wsgi", env)
    assert served.returncode != 0
    assert "JWT_SIGNING_KEY_FALLBACKS" in served.stderr


def test_fallbacks_that_nothing_would_verify_with_fail_the_checks():
    from accounts.checks import check_jwt_key_fallbacks

    assert check_jwt_key_fallbacks(None) == []
    with _signed_with(NEW, fallbacks=[OLD]):
        assert check_jwt_key_fallbacks(None) == []
    simplejwt_only = {
        **settings.SIMPLE_JWT,
        "AUTH_TOKEN_CLASSES": ("rest_framework_simplejwt.tokens.AccessToken",),
    }
    with override_settings(SIMPLE_JWT=simplejwt_only, JWT_SIGNING_KEY_FALLBACKS=[OLD]):
        assert [error.id for error in check_jwt_key_fallbacks(None)] == ["accounts.E003"]
