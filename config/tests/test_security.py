# ruff: noqa: S603 - tests start local servers and manage.py
"""Security headers, the CSP under the admin, CORS and the production checks."""

import os
import re
import secrets
import subprocess
import sys
from html.parser import HTMLParser
from pathlib import Path

import pytest
from django.test import Client, override_settings

BASE_DIR = Path(__file__).resolve().parents[2]
pytestmark = pytest.mark.django_db


def _production_env(**extra):
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    env.update(
        DJANGO_SECRET_KEY=secrets.token_urlsafe(50),
        JWT_SIGNING_KEY=secrets.token_urlsafe(50),
        DJANGO_ALLOWED_HOSTS="leadline.example.com",
    )
    env.update(extra)
    return env


def _manage(*args, env):
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_check_deploy_is_clean_under_production_settings():
    result = _manage("check", "--deploy", "--fail-level", "WARNING", env=_production_env())
    assert result.returncode == 0, result.stdout + result.stderr
    assert "System check identified no issues" in result.stdout


def _serve(env):
    """Import the WSGI application the way gunicorn does."""
    return subprocess.run(
        [sys.executable, "-c", "import config.wsgi"],
        cwd=BASE_DIR,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


@pytest.mark.parametrize("secret", ["", "short", "django-insecure-" + "x" * 60, "a" * 60])
def test_production_refuses_to_serve_with_a_weak_or_missing_secret(secret):
    env = _production_env(DJANGO_SECRET_KEY=secret)
    served = _serve(env)
    assert served.returncode != 0
    assert "DJANGO_SECRET_KEY" in served.stderr
    checked = _manage("check", "--deploy", env=env)
    assert checked.returncode != 0
    assert "DJANGO_SECRET_KEY" in checked.stderr


@pytest.mark.parametrize("key", ["", "short-jwt-key"])
def test_production_refuses_to_serve_without_a_strong_jwt_key(key):
    env = _production_env(JWT_SIGNING_KEY=key)
    served = _serve(env)
    assert served.returncode != 0
    assert "JWT_SIGNING_KEY" in served.stderr
    assert _manage("check", "--deploy", env=env).returncode != 0


def test_production_serves_with_strong_secrets():
    assert _serve(_production_env()).returncode == 0


def test_offline_commands_need_no_secrets():
    # makemigrations, collectstatic and friends sign nothing; a bare checkout runs them.
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "JWT_"))}
    env.pop("DATABASE_URL", None)
    env.pop("DATABASE_REPLICA_URL", None)
    result = _manage("makemigrations", "--check", "--dry-run", env=env)
    assert result.returncode == 0, result.stdout + result.stderr


def test_production_settings_values():
    code = (
        "import django;django.setup();from django.conf import settings as s;"
        "print(s.SECURE_HSTS_SECONDS, s.SESSION_COOKIE_SECURE, s.CSRF_COOKIE_SECURE,"
        " s.SECURE_SSL_REDIRECT, getattr(s, 'SECURE_PROXY_SSL_HEADER', None))"
    )
    env = _production_env(DJANGO_SETTINGS_MODULE="config.settings")
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.stdout.split() == ["31536000", "True", "True", "True", "None"], out.stderr
    # Behind a proxy the header is named by the environment, never assumed.
    env["SECURE_PROXY_SSL_HEADER"] = "HTTP_X_FORWARDED_PROTO,https"
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=BASE_DIR, env=env, capture_output=True, text=True
    )
    assert out.stdout.strip().endswith("('HTTP_X_FORWARDED_PROTO', 'https')"), out.stderr


@override_settings(SECURE_HSTS_SECONDS=31_536_000, SECURE_HSTS_INCLUDE_SUBDOMAINS=True)
def test_security_headers_on_api_and_admin():
    client = Client()
    for path in ("/api/v1/auth/me/", "/admin/login/"):
        response = client.get(path, secure=True)
        assert response["X-Frame-Options"] == "DENY"
        assert response["X-Content-Type-Options"] == "nosniff"
        assert response["Referrer-Policy"] == "same-origin"
        assert response["Cross-Origin-Opener-Policy"] == "same-origin"
        assert response["Strict-Transport-Security"].startswith("max-age=31536000")
        assert "default-src 'self'" in response["Content-Security-Policy"]
        assert "frame-ancestors 'none'" in response["Content-Security-Policy"]


def test_admin_cookies_are_httponly_and_samesite(admin_user, password):
    client = Client()
    page = client.get("/admin/login/")
    csrf = page.cookies["csrftoken"]
    assert csrf["httponly"] and csrf["samesite"] == "Lax"
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page.content.decode())[1]
    response = client.post(
        "/admin/login/?next=/admin/",
        {"username": admin_user.email, "password": password, "csrfmiddlewaretoken": token},
    )
    assert response.status_code == 302
    session = response.cookies["sessionid"]
    assert session["httponly"] and session["samesite"] == "Lax"


class _Assets(HTMLParser):
    def __init__(self):
        super().__init__()
        self.scripts, self.inline_scripts, self.styles, self.handlers = [], [], [], []
        self.style_attrs = 0
        self._in_script = False

    def handle_starttag(self, tag, attrs):
        attrs = dict(attrs)
        self.handlers += [name for name in attrs if name.startswith("on")]
        if "style" in attrs:
            self.style_attrs += 1
        if tag == "script":
            if attrs.get("src"):
                self.scripts.append(attrs["src"])
            else:
                self._in_script = attrs.get("type", "") in ("", "text/javascript", "module")
        if tag == "link" and attrs.get("rel") == "stylesheet":
            self.styles.append(attrs["href"])

    def handle_data(self, data):
        if self._in_script and data.strip():
            self.inline_scripts.append(data)

    def handle_endtag(self, tag):
        if tag == "script":
            self._in_script = False


def _policy(response):
    directives = {}
    for part in response["Content-Security-Policy"].split(";"):
        name, *sources = part.split()
        directives[name] = sources
    return directives


@pytest.mark.parametrize("path", ["/admin/login/", "/admin/", "/admin/accounts/user/add/"])
def test_admin_pages_use_only_what_the_csp_allows(client, admin_user, path):
    if path != "/admin/login/":
        client.force_login(admin_user)
    response = client.get(path)
    assert response.status_code == 200
    policy = _policy(response)
    assert policy["script-src"] == ["'self'"]  # no inline scripts, no nonce needed
    assets = _Assets()
    assets.feed(response.content.decode())
    assert assets.scripts, "the admin loads its scripts from files"
    # Every script and stylesheet is same-origin (a path on this host: 'self').
    for url in assets.scripts + assets.styles:
        assert url.startswith("/") and not url.startswith("//"), url
    assert assets.inline_scripts == []
    assert assets.handlers == []  # inline event handlers would need 'unsafe-inline'
    if assets.style_attrs:
        assert "'unsafe-inline'" in policy["style-src"]


def test_csp_is_not_nonce_only():
    response = Client().get("/admin/login/")
    assert "nonce-" not in response["Content-Security-Policy"]


@override_settings(CORS_ALLOWED_ORIGINS=["https://app.example.com"])
def test_cors_allows_only_the_configured_origin(db):
    client = Client()
    allowed = client.options(
        "/api/v1/auth/token/",
        HTTP_ORIGIN="https://app.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert allowed["Access-Control-Allow-Origin"] == "https://app.example.com"
    other = client.options(
        "/api/v1/auth/token/",
        HTTP_ORIGIN="https://evil.example.com",
        HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
    )
    assert "Access-Control-Allow-Origin" not in other
    plain = client.get("/api/v1/auth/me/", HTTP_ORIGIN="https://evil.example.com")
    assert "Access-Control-Allow-Origin" not in plain
    # Outside /api/ nothing is shared, whatever the origin.
    admin = client.get("/admin/login/", HTTP_ORIGIN="https://app.example.com")
    assert "Access-Control-Allow-Origin" not in admin


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_api_docs_work_under_the_csp(path, db):
    response = Client().get(path)
    assert response.status_code == 200
    assets = _Assets()
    assets.feed(response.content.decode())
    assert assets.inline_scripts == []
    for url in assets.scripts:
        assert url.startswith("/") and not url.startswith("//"), url
    if path == "/api/docs/":
        script = Client().get(assets.scripts[-1])
        assert script.status_code == 200
        assert "SwaggerUIBundle" in script.content.decode()
