"""The web app (``frontend/``, built by Vite into ``WEB_APP_DIR``) served by Django.

- ``index`` answers ``index.html`` at ``/`` and at every path outside the
  reserved prefixes (``RESERVED``): the single-page app owns those routes and
  shows its own not-found view. ``Cache-Control: no-cache`` with an ``ETag``: a
  browser revalidates it on every visit (a 304 when unchanged), so a deploy is
  seen at once. Without a build, 503 and a page saying how to build it.
- ``service_worker`` answers ``/sw.js`` (no-cache too) from the root, so its
  scope is the whole site.
- ``WebAppFinder`` puts the build under ``/static/app/`` (Vite's ``base``) for
  ``collectstatic`` and for whitenoise in development; looked up on each use, so
  a build made after the server started is found, and a missing build is no
  warning (``STATICFILES_DIRS`` would warn in ``check --deploy``).
- ``StaticFilesMiddleware`` is whitenoise, plus "immutable" caching (a year)
  for Django's and Vite's content-hashed names (``app/assets/<name>-<8 characters>.<ext>``).
"""

import hashlib
import re
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import utils
from django.contrib.staticfiles.finders import BaseFinder
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage
from django.http import HttpResponse
from django.utils.cache import get_conditional_response, patch_cache_control
from django.views.decorators.http import require_safe
from whitenoise.middleware import WhiteNoiseMiddleware

# Paths the web app never owns (each also with anything under it).
RESERVED = ("api", "admin", "static", "media", "healthz", "readyz", "health", "metrics")
ROUTE = r"^(?!(?:{})(?:/|$)).*$".format("|".join(RESERVED))

STATIC_PREFIX = "app"
# Vite names what it emits into assets/ `[name]-[hash].[ext]`, the hash 8 characters.
_VITE_HASHED = re.compile(rf"^{STATIC_PREFIX}/assets/.+-[A-Za-z0-9_-]{{8}}\.[A-Za-z0-9]+$")

NOT_BUILT = """<!doctype html>
<html lang="en">
<head><meta charset="utf-8"><title>Leadline</title></head>
<body>
<main>
<h1>Leadline</h1>
<p>The web app is not built: run <code>make web</code>.</p>
<p>The operators' console is at <a href="/admin/">/admin/</a>.</p>
</main>
</body>
</html>
"""


def _build_file(name):
    path = Path(settings.WEB_APP_DIR) / name
    return path if path.is_file() else None


def _no_cache_file(request, path, content_type):
    content = path.read_bytes()
    etag = f'"{hashlib.sha256(content).hexdigest()[:32]}"'
    response = HttpResponse(content, content_type=content_type)
    response["ETag"] = etag
    patch_cache_control(response, no_cache=True)
    return get_conditional_response(request, etag=etag, response=response) or response


@require_safe
def index(request):
    """``index.html`` of the build, for every route of the web app."""
    path = _build_file("index.html")
    if path is None:
        response = HttpResponse(NOT_BUILT, status=503, content_type="text/html; charset=utf-8")
        patch_cache_control(response, no_store=True)
        return response
    return _no_cache_file(request, path, "text/html; charset=utf-8")


@require_safe
def service_worker(request):
    """The service worker, served from the root so that it may control every page."""
    path = _build_file("sw.js")
    if path is None:
        # A 404 makes a browser drop a service worker it had registered.
        response = HttpResponse(
            "No service worker.", status=404, content_type="text/plain; charset=utf-8"
        )
        patch_cache_control(response, no_store=True)
        return response
    return _no_cache_file(request, path, "text/javascript; charset=utf-8")


class WebAppFinder(BaseFinder):
    """The build directory (``WEB_APP_DIR``) as static files under ``app/``."""

    def _storage(self):
        root = Path(settings.WEB_APP_DIR)
        if not root.is_dir():
            return None
        storage = FileSystemStorage(location=root)
        storage.prefix = STATIC_PREFIX
        return storage

    def check(self, **kwargs):
        return []

    def find(self, path, find_all=False, **kwargs):
        find_all = find_all or kwargs.get("all", False)  # Django 5.2 still passes all=
        match = None
        storage = self._storage()
        if storage is not None and path.startswith(STATIC_PREFIX + "/"):
            name = path[len(STATIC_PREFIX) + 1 :]
            try:
                if name and storage.exists(name):
                    match = storage.path(name)
            except SuspiciousFileOperation:  # "app/../../etc/passwd"
                match = None
        if find_all:
            return [match] if match else []
        return match

    def list(self, ignore_patterns):
        storage = self._storage()
        if storage is None:
            return
        for path in utils.get_files(storage, ignore_patterns):
            yield path, storage


class StaticFilesMiddleware(WhiteNoiseMiddleware):
    """whitenoise, with Vite's hashed file names cached for a year (``immutable``)."""

    FOREVER = 365 * 24 * 60 * 60  # a year, the longest RFC 9111 asks caches to honour

    def immutable_file_test(self, path, url):
        if super().immutable_file_test(path, url):
            return True
        if not url.startswith(self.static_prefix):
            return False
        return bool(_VITE_HASHED.match(url[len(self.static_prefix) :]))
