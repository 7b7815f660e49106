# ruff: noqa: S603 - the tests start manage.py / python with a chosen environment
"""Email configuration from the environment: EMAIL_URL, EMAIL_*, SITE_URL."""

import json
import os
import secrets
import subprocess
import sys
from pathlib import Path

import pytest
from django.core.exceptions import ImproperlyConfigured

from accounts.mail import deliverable
from config.settings import email_url_settings

BASE_DIR = Path(__file__).resolve().parents[2]
SMTP = "django.core.mail.backends.smtp.EmailBackend"

_SHOW = (
    "import json, django; django.setup(); from django.conf import settings as s; "
    "print(json.dumps({k: getattr(s, k) for k in ("
    "'EMAIL_BACKEND', 'EMAIL_HOST', 'EMAIL_PORT', 'EMAIL_HOST_USER', 'EMAIL_HOST_PASSWORD', "
    "'EMAIL_USE_TLS', 'EMAIL_USE_SSL', 'EMAIL_TIMEOUT', 'DEFAULT_FROM_EMAIL', 'SITE_URL')}))"
)


def _env(**extra):
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("DJANGO_", "JWT_", "EMAIL_", "SITE_URL", "DEFAULT_FROM"))
    }
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="leadline.example.com",
        DJANGO_SETTINGS_MODULE="config.settings",
    )
    env.update(extra)
    return env


def _settings(**extra):
    done = subprocess.run(
        [sys.executable, "-c", _SHOW],
        cwd=BASE_DIR,
        env=_env(**extra),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr
    return json.loads(done.stdout.strip().splitlines()[-1])


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "smtp://mailer:p%40ss@mail.example.com:587/?tls=1",
            {
                "EMAIL_BACKEND": SMTP,
                "EMAIL_HOST": "mail.example.com",
                "EMAIL_PORT": 587,
                "EMAIL_HOST_USER": "mailer",
                "EMAIL_HOST_PASSWORD": "p@ss",
                "EMAIL_USE_TLS": True,
                "EMAIL_USE_SSL": False,
            },
        ),
        (
            "smtps://mail.example.com",
            {"EMAIL_HOST": "mail.example.com", "EMAIL_PORT": 465, "EMAIL_USE_SSL": True},
        ),
        ("submission://mail.example.com", {"EMAIL_PORT": 587, "EMAIL_USE_TLS": True}),
        ("smtp://mail.example.com/?timeout=3", {"EMAIL_PORT": 25, "EMAIL_TIMEOUT": 3}),
        ("console://", {"EMAIL_BACKEND": "django.core.mail.backends.console.EmailBackend"}),
        ("locmem://", {"EMAIL_BACKEND": "django.core.mail.backends.locmem.EmailBackend"}),
    ],
)
def test_email_url_gives_the_email_settings(url, expected):
    parsed = email_url_settings(url)
    assert {key: parsed.get(key) for key in expected} == expected


@pytest.mark.parametrize("url", ["gopher://mail.example.com", "mail.example.com", "smtp://h:port"])
def test_a_bad_email_url_is_refused_with_its_name(url):
    with pytest.raises(ImproperlyConfigured, match="EMAIL_URL"):
        email_url_settings(url)


def test_development_prints_emails_and_production_speaks_smtp():
    development = _settings(DJANGO_DEBUG="true")
    assert development["EMAIL_BACKEND"] == "django.core.mail.backends.console.EmailBackend"
    assert development["SITE_URL"] == "http://localhost:8000"
    production = _settings()
    assert production["EMAIL_BACKEND"] == SMTP
    assert (production["EMAIL_HOST"], production["EMAIL_PORT"]) == ("localhost", 25)
    assert production["EMAIL_TIMEOUT"] == 10
    # No SITE_URL: the public host, over https.
    assert production["SITE_URL"] == "https://leadline.example.com"


def test_email_url_and_the_usual_variables_configure_production():
    from_url = _settings(
        EMAIL_URL="smtp://mailer:secret@mail.example.com:587/?tls=1",
        DEFAULT_FROM_EMAIL="Desk <desk@example.com>",
        SITE_URL="https://desk.example.com/",
    )
    assert from_url == {
        "EMAIL_BACKEND": SMTP,
        "EMAIL_HOST": "mail.example.com",
        "EMAIL_PORT": 587,
        "EMAIL_HOST_USER": "mailer",
        "EMAIL_HOST_PASSWORD": "secret",
        "EMAIL_USE_TLS": True,
        "EMAIL_USE_SSL": False,
        "EMAIL_TIMEOUT": 10.0,
        "DEFAULT_FROM_EMAIL": "Desk <desk@example.com>",
        "SITE_URL": "https://desk.example.com",
    }
    classic = _settings(
        EMAIL_HOST="smtp.example.com",
        EMAIL_PORT="465",
        EMAIL_USE_SSL="true",
        EMAIL_HOST_USER="u",
        EMAIL_HOST_PASSWORD="p",
        DJANGO_DEBUG="true",
    )
    assert classic["EMAIL_BACKEND"] == SMTP  # EMAIL_HOST set: SMTP even in development
    assert (classic["EMAIL_HOST"], classic["EMAIL_PORT"], classic["EMAIL_USE_SSL"]) == (
        "smtp.example.com",
        465,
        True,
    )


@pytest.mark.parametrize(
    ("name", "value"),
    [
        ("EMAIL_URL", "gopher://x"),
        ("SITE_URL", "desk.example.com"),
        ("SITE_URL", "javascript:alert(1)"),
        ("EMAIL_PORT", "smtp"),
    ],
)
def test_bad_email_configuration_stops_the_start(name, value):
    done = subprocess.run(
        [sys.executable, "manage.py", "check"],
        cwd=BASE_DIR,
        env=_env(**{name: value}),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode != 0
    assert name in done.stderr


def test_check_deploy_is_clean_with_email_configured():
    done = subprocess.run(
        [sys.executable, "manage.py", "check", "--deploy", "--fail-level", "WARNING"],
        cwd=BASE_DIR,
        env=_env(
            EMAIL_URL="submission://u:p@mail.example.com", SITE_URL="https://desk.example.com"
        ),
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stdout + done.stderr


@pytest.mark.parametrize(
    ("address", "ok"),
    [
        ("asha@example.com", True),
        ("asha+leads@example.co.in", True),
        ("asha@bücher.example", True),  # sent as punycode
        ("ásha@example.com", False),  # a non-ASCII local part needs SMTPUTF8
        ("asha@example.com\nBcc: x@example.com", False),
        ("asha@example.com\r\n", False),
        (" asha@example.com", False),
        ("asha@example.com,x@example.com", False),
        ("Asha <asha@example.com>", False),
        ("asha@example.com\0", False),
        ("", False),
        (None, False),
        ("no-at-sign", False),
    ],
)
def test_deliverable_addresses(address, ok):
    assert deliverable(address) is ok
