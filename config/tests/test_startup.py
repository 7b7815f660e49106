# ruff: noqa: S603 - the tests import the server entry points in a fresh interpreter
"""A server with a bad configuration refuses to start (config/startup.py).

gunicorn imports ``config.wsgi`` (an ASGI server ``config.asgi``) and never
runs Django's system checks; before, a configuration that ``manage.py check``
rejects was served anyway. Each test imports the entry point the way the server
does, in a fresh interpreter, under production settings.
"""

import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest

BASE_DIR = Path(__file__).resolve().parents[2]


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    env.update(
        DJANGO_SETTINGS_MODULE="config.settings",
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="leadline.example.com",
        CSRF_TRUSTED_ORIGINS="https://leadline.example.com",
        CORS_ALLOWED_ORIGINS="https://app.leadline.example.com",
    )
    env.update(extra)
    return env


def _serve(env, entry="config.wsgi"):
    return subprocess.run(
        [sys.executable, "-c", f"import {entry}"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("entry", ["config.wsgi", "config.asgi"])
def test_a_good_production_configuration_starts(entry):
    served = _serve(_production_env(), entry)
    assert served.returncode == 0, served.stderr


@pytest.mark.parametrize("entry", ["config.wsgi", "config.asgi"])
def test_rotation_without_the_blacklist_app_refuses_to_start(entry):
    env = _production_env(DJANGO_SETTINGS_MODULE="config.tests.settings_without_blacklist")
    served = _serve(env, entry)
    assert served.returncode != 0
    assert "ImproperlyConfigured" in served.stderr
    assert "accounts.E001" in served.stderr


@pytest.mark.parametrize(
    "variable, value, check",
    [
        # Origins without a scheme: Django refuses them for CSRF, corsheaders for CORS.
        ("CSRF_TRUSTED_ORIGINS", "leadline.example.com", "4_0.E001"),
        ("CORS_ALLOWED_ORIGINS", "app.leadline.example.com", "corsheaders.E013"),
    ],
)
def test_a_configuration_error_from_the_environment_refuses_to_start(variable, value, check):
    served = _serve(_production_env(**{variable: value}))
    assert served.returncode != 0
    assert check in served.stderr
    assert value in served.stderr


def test_every_error_is_reported_at_once():
    env = _production_env(
        DJANGO_SETTINGS_MODULE="config.tests.settings_without_blacklist",
        CSRF_TRUSTED_ORIGINS="leadline.example.com",
    )
    served = _serve(env)
    assert served.returncode != 0
    assert "accounts.E001" in served.stderr and "4_0.E001" in served.stderr
