"""The web app served by Django: index.html on the app's routes, /sw.js, the
hashed assets under /static/app/ (immutable), the 503 page without a build, and
the paths the app never owns.

A fake Vite build is written in a temporary directory (``WEB_APP_DIR``).
"""

import pytest
from django.core.management import call_command
from django.test import Client, override_settings

INDEX = (
    "<!doctype html><html><head>"
    '<script type="module" crossorigin src="/static/app/assets/index-AbC123xy.js"></script>'
    '<link rel="stylesheet" crossorigin href="/static/app/assets/index-Q_9-zz01.css">'
    "</head><body><div id=root></div></body></html>"
)
SCRIPT = "console.log('the app');\n" * 50
STYLE = "body{margin:0}\n" * 50

pytestmark = pytest.mark.django_db


@pytest.fixture
def dist(tmp_path, settings):
    root = tmp_path / "dist"
    (root / "assets").mkdir(parents=True)
    (root / "index.html").write_text(INDEX)
    (root / "sw.js").write_text("self.addEventListener('fetch', () => {});\n")
    (root / "favicon.svg").write_text("<svg xmlns='http://www.w3.org/2000/svg'/>")
    (root / "assets" / "index-AbC123xy.js").write_text(SCRIPT)
    (root / "assets" / "index-Q_9-zz01.css").write_text(STYLE)
    settings.WEB_APP_DIR = root
    return root


@pytest.mark.parametrize(
    "path", ["/", "/leads", "/leads/42", "/imports/new", "/no/such/route", "/apis", "/administer"]
)
def test_the_app_routes_answer_index_html_no_cache(dist, path):
    response = Client().get(path)
    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert response.content.decode() == INDEX
    assert response["Cache-Control"] == "no-cache"
    assert response["ETag"]


def test_index_html_revalidates_with_its_etag(dist):
    client = Client()
    etag = client.get("/leads")["ETag"]
    again = client.get("/leads", HTTP_IF_NONE_MATCH=etag)
    assert again.status_code == 304
    assert again.content == b""
    (dist / "index.html").write_text(INDEX.replace("AbC123xy", "ZzZ98765"))
    changed = client.get("/leads", HTTP_IF_NONE_MATCH=etag)
    assert changed.status_code == 200
    assert b"ZzZ98765" in changed.content
    assert changed["ETag"] != etag


def test_index_html_is_served_under_the_production_csp(dist):
    policy = Client().get("/")["Content-Security-Policy"]
    directives = {part.split()[0]: part.split()[1:] for part in policy.split(";") if part.strip()}
    assert directives["script-src"] == ["'self'"]  # no inline script, no eval
    assert "'unsafe-eval'" not in policy
    assert directives["connect-src"] == ["'self'"]
    assert directives["frame-ancestors"] == ["'none'"]


def test_the_app_answers_get_and_head_only(dist):
    client = Client()
    assert client.head("/leads").status_code == 200
    assert client.post("/leads").status_code == 405


def test_the_service_worker_is_served_from_the_root(dist):
    response = Client().get("/sw.js")
    assert response.status_code == 200
    assert response["Content-Type"] == "text/javascript; charset=utf-8"
    assert response["Cache-Control"] == "no-cache"
    assert b"addEventListener" in response.content


def test_without_a_build_the_app_routes_answer_503(tmp_path, settings):
    settings.WEB_APP_DIR = tmp_path / "missing"
    for path in ("/", "/leads", "/leads/1"):
        response = Client().get(path)
        assert response.status_code == 503
        assert "The web app is not built: run <code>make web</code>." in response.content.decode()
        assert "text/html" in response["Content-Type"]
    assert Client().get("/sw.js").status_code == 404


@pytest.mark.parametrize(
    "path", ["/api/v1/nope/", "/api/v1/no/such/path", "/api/", "/api/v2/leads/"]
)
def test_unknown_api_paths_keep_the_json_404(dist, path):
    response = Client().get(path)
    assert response.status_code == 404
    assert response.json()["error"]["code"] == "not_found"


def test_reserved_paths_are_not_the_app(dist, admin_user):
    client = Client()
    login = client.get("/admin/login/")
    assert login.status_code == 200
    assert b'name="csrfmiddlewaretoken"' in login.content
    assert client.get("/admin").status_code == 308  # APPEND_SLASH, the method kept
    assert client.get("/healthz").json()["status"] == "ok"
    assert client.get("/readyz").status_code == 200
    for path in ("/static/nope.js", "/media/x.csv", "/metrics/x", "/healthz/x"):
        response = client.get(path)
        assert response.status_code == 404, path
        assert b"id=root" not in response.content
    assert client.get("/api/v1/auth/me/").status_code == 401


# --- /static/app/ ---------------------------------------------------------------


@pytest.fixture
def collected(dist, tmp_path, settings):
    """``collectstatic`` of the build with the production storage (hashed, compressed)."""
    settings.STATIC_ROOT = tmp_path / "static"
    settings.STATICFILES_FINDERS = ["config.webapp.WebAppFinder"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"},
    }
    call_command("collectstatic", "--noinput", verbosity=0)
    return settings.STATIC_ROOT


def test_collectstatic_puts_the_build_under_app(collected):
    assert (collected / "app" / "index.html").is_file()
    assert (collected / "app" / "assets" / "index-AbC123xy.js").is_file()
    assert (collected / "app" / "assets" / "index-AbC123xy.js.gz").is_file()
    assert (collected / "staticfiles.json").is_file()


def test_vite_hashed_assets_are_immutable_for_a_year(collected):
    client = Client()
    script = client.get("/static/app/assets/index-AbC123xy.js")
    assert script.status_code == 200
    assert b"".join(script.streaming_content).decode() == SCRIPT
    assert script["Cache-Control"] == "max-age=31536000, public, immutable"
    assert "javascript" in script["Content-Type"]
    style = client.get("/static/app/assets/index-Q_9-zz01.css", HTTP_ACCEPT_ENCODING="gzip")
    assert style.status_code == 200
    assert style["Content-Encoding"] == "gzip"
    assert "immutable" in style["Cache-Control"]


def test_files_without_a_vite_hash_are_not_immutable(collected):
    response = Client().get("/static/app/favicon.svg")
    assert response.status_code == 200
    assert "immutable" not in response["Cache-Control"]


@override_settings(WHITENOISE_USE_FINDERS=True, WHITENOISE_AUTOREFRESH=True)
def test_development_serves_the_build_straight_from_the_directory(dist):
    """As under DEBUG (runserver, `make run`): no collectstatic needed, a new build is seen."""
    client = Client()
    assert client.get("/static/app/assets/index-AbC123xy.js").status_code == 200
    (dist / "assets" / "later-Zz987654.js").write_text("later")
    response = client.get("/static/app/assets/later-Zz987654.js")
    assert response.status_code == 200
    assert client.get("/static/app/../../config/settings.py").status_code == 404
