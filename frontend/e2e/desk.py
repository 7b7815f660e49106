"""A browser context on the web app, watched the way a careful reviewer would.

``Desk`` wraps one Playwright context and its page. From the first request on it
records:

- console errors and uncaught page errors. A failed HTTP answer the test expects
  (Chromium logs "Failed to load resource: ... status of 401" for every 4xx
  fetch) is allowed only for ``/api/`` URLs and only with a status listed in
  ``desk.expected_statuses`` (401 by default: an anonymous visit asks to
  refresh a session it may not have);
- Content-Security-Policy violations (``securitypolicyviolation`` events,
  reported through a Playwright binding, which CSP does not govern);
- every request (URL, method) and answer (status), and the tokens it saw go by:
  bearer tokens of API requests and the refresh cookie.

``assert_no_token_stored()`` scans localStorage, sessionStorage, every IndexedDB
database (names and records) and the Cache Storage entries of API answers for
those tokens and for anything shaped like a JWT.
"""

import re
from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

from playwright.sync_api import expect

ROOT = Path(__file__).resolve().parents[2]
AXE = ROOT / "frontend" / "node_modules" / "axe-core" / "axe.min.js"
ARTIFACTS = ROOT / "artifacts" / "e2e"
CHROMIUM = Path("/usr/bin/chromium")
PASSWORD = "desk-e2e-password-42"
REFRESH_COOKIE = "leadline_refresh"
DESKTOP = {"width": 1280, "height": 800}
PHONE = {"width": 390, "height": 844}
TIME_ZONE = "Asia/Kolkata"
FAILED_LOAD = re.compile(r"Failed to load resource: the server responded with a status of (\d+)")
JWT = re.compile(r"eyJ[\w-]{8,}\.[\w-]{8,}\.[\w-]{8,}")

_CSP_LISTENER = """
document.addEventListener('securitypolicyviolation', (e) => {
  window.__leadlineCsp({
    directive: e.violatedDirective, blocked: e.blockedURI,
    source: e.sourceFile, line: e.lineNumber, sample: e.sample,
  });
});
"""

# Everything the page can persist, as strings: keys and values of both web
# storages, IndexedDB database names and every record of every store, and the
# URLs and bodies of Cache Storage entries for API answers.
_STORED = """
async () => {
  const out = [];
  for (const store of [window.localStorage, window.sessionStorage]) {
    for (let i = 0; i < store.length; i++) {
      const key = store.key(i);
      out.push(['web storage', key, store.getItem(key)]);
    }
  }
  const request = (r) => new Promise((resolve, reject) => {
    r.onsuccess = () => resolve(r.result);
    r.onerror = () => reject(r.error);
  });
  for (const info of await indexedDB.databases()) {
    out.push(['indexeddb name', info.name, info.name]);
    const db = await request(indexedDB.open(info.name));
    for (const name of db.objectStoreNames) {
      const store = db.transaction(name, 'readonly').objectStore(name);
      const keys = await request(store.getAllKeys());
      const values = await request(store.getAll());
      out.push(['indexeddb ' + info.name, name, JSON.stringify([keys, values])]);
    }
    db.close();
  }
  if (window.caches) {
    for (const name of await caches.keys()) {
      const cache = await caches.open(name);
      for (const req of await cache.keys()) {
        if (!new URL(req.url).pathname.startsWith('/api/')) continue;
        const res = await cache.match(req);
        out.push(['cache ' + name, req.url, req.url + ' ' + (res ? await res.text() : '')]);
      }
    }
  }
  return out;
}
"""


def web_app_dir():
    """The build the server serves (``WEB_APP_DIR``, ``frontend/dist`` by default)."""
    from django.conf import settings

    return Path(getattr(settings, "WEB_APP_DIR", ROOT / "frontend" / "dist"))


# Vite names a lazy chunk after its module: the managers' screens.
MANAGER_SCREENS = re.compile(r"dashboard|upload|import|agents|manager", re.IGNORECASE)
_STATIC_IMPORT = re.compile(r"""(?:\bfrom|\bimport)\s*["'`]\./([\w.-]+\.js)["'`]""")
_DYNAMIC_IMPORT = re.compile(r"""\bimport\(\s*["'`]\./([\w.-]+\.js)["'`]\s*\)""")


def manager_only_chunks():
    """Paths of the built chunks that only the managers' screens load.

    Read from the build itself: the lazy chunks that ``index.html``'s entry
    imports dynamically and that are named for a manager's screen, with every
    chunk they import statically, less whatever the entry or the agents' lazy
    chunks import (shared code an agent downloads anyway).
    """
    dist = web_app_dir()
    assets = dist / "assets"
    code = {path.name: path.read_text(encoding="utf-8") for path in assets.glob("*.js")}
    entries = re.findall(r"/static/app/assets/([\w.-]+\.js)", (dist / "index.html").read_text())

    def closure(names):
        seen, todo = set(), list(names)
        while todo:
            name = todo.pop()
            if name in code and name not in seen:
                seen.add(name)
                todo.extend(_STATIC_IMPORT.findall(code[name]))
        return seen

    lazy = {name for source in code.values() for name in _DYNAMIC_IMPORT.findall(source)}
    managers = {name for name in lazy if MANAGER_SCREENS.search(name.split("-")[0])}
    agents_get = closure(entries) | closure(lazy - managers)
    only = closure(managers) - agents_get
    assert managers and only, f"no manager-only chunk in {assets}: are the managers' screens lazy?"
    return {f"/static/app/assets/{name}" for name in only}


def set_access_lifetime(settings, seconds):
    """Access tokens issued from now on live ``seconds`` (simplejwt reloads on change)."""
    lifetime = timedelta(seconds=seconds)
    settings.SIMPLE_JWT = {**settings.SIMPLE_JWT, "ACCESS_TOKEN_LIFETIME": lifetime}


class Desk:
    def __init__(self, browser, base_url, *, viewport=DESKTOP, **options):
        self.base_url = base_url.rstrip("/")
        # A desk in India: times typed into the app are in the browser's zone.
        options.setdefault("timezone_id", TIME_ZONE)
        self.context = browser.new_context(
            base_url=self.base_url, viewport=viewport, service_workers="allow", **options
        )
        self.offline = False
        self.console_errors = []
        self.csp_violations = []
        self.requests = []
        self.responses = []
        self.tokens = set()
        self.expected_statuses = {401}
        self.context.expose_binding(
            "__leadlineCsp", lambda _source, report: self.csp_violations.append(report)
        )
        self.context.add_init_script(_CSP_LISTENER)
        self.context.on("request", self._on_request)
        self.context.on("response", self._on_response)
        self.page = self.new_page()

    # --- recording -----------------------------------------------------------
    def new_page(self):
        page = self.context.new_page()
        page.set_default_timeout(10_000)
        page.on("console", self._on_console)
        page.on("pageerror", lambda exc: self.console_errors.append(f"page error: {exc}"))
        return page

    def _on_request(self, request):
        self.requests.append((request.method, request.url))
        bearer = request.headers.get("authorization", "")
        if bearer.startswith("Bearer "):
            self.tokens.add(bearer.removeprefix("Bearer "))

    def _on_response(self, response):
        self.responses.append((response.request.method, response.url, response.status))

    def _on_console(self, message):
        if message.type != "error":
            return
        text = message.text
        where = message.location.get("url", "")
        failed = FAILED_LOAD.match(text)
        api = urlsplit(where).path.startswith("/api/")
        if failed and int(failed.group(1)) in self.expected_statuses and api:
            return
        # Offline, the app's API calls fail at the network; that is the point.
        if self.offline and api and "net::ERR_INTERNET_DISCONNECTED" in text:
            return
        self.console_errors.append(f"{text} ({where})")

    # --- what the tests ask --------------------------------------------------
    def url(self, path):
        return self.base_url + path

    def path(self, page=None):
        return urlsplit((page or self.page).url).path

    def answers(self, path_prefix, method=None):
        """(method, path, status) of every answer whose path starts with ``path_prefix``."""
        found = []
        for verb, url, status in self.responses:
            path = urlsplit(url).path
            if path.startswith(path_prefix) and (method is None or verb == method):
                found.append((verb, path, status))
        return found

    def script_urls(self):
        paths = {urlsplit(url).path for _method, url in self.requests}
        return {path for path in paths if path.endswith(".js")}

    def refresh_cookie(self):
        for cookie in self.context.cookies():
            if cookie["name"] == REFRESH_COOKIE:
                return cookie
        return None

    def set_offline(self, offline):
        self.offline = offline
        self.context.set_offline(offline)

    def sign_in(self, email, password=PASSWORD):
        page = self.page
        page.goto("/")
        expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
        page.get_by_label("Email", exact=True).fill(email)
        page.get_by_label("Password", exact=True).fill(password)
        page.get_by_role("button", name="Sign in", exact=True).click()

    def sign_out(self):
        self.page.get_by_role("button", name="Sign out", exact=True).click()
        expect(self.page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()

    def stored_strings(self, page=None):
        return (page or self.page).evaluate(_STORED)

    def assert_no_token_stored(self, page=None):
        """No token (seen on the wire, or anything JWT-shaped) in web storage,
        IndexedDB or the service worker's cached API answers."""
        cookie = self.refresh_cookie()
        secrets = set(self.tokens) | ({cookie["value"]} if cookie else set())
        leaks = []
        for where, key, value in self.stored_strings(page):
            text = f"{key} {value}"
            if JWT.search(text) or any(secret in text for secret in secrets):
                leaks.append(f"{where}: {key}")
        assert not leaks, f"tokens stored in the browser: {leaks}"

    def assert_clean(self):
        assert not self.csp_violations, f"CSP violations: {self.csp_violations}"
        assert not self.console_errors, f"console errors: {self.console_errors}"

    def run_axe(self, page=None):
        """Serious or critical axe-core violations of the current screen.

        axe is evaluated through the DevTools protocol (page.evaluate), which the
        page's CSP does not govern: no inline script and no CSP bypass needed.
        """
        page = page or self.page
        if not AXE.is_file():
            raise AssertionError(f"{AXE} is missing: run `make web` (npm ci installs axe-core).")
        if not page.evaluate("() => typeof window.axe !== 'undefined'"):
            page.evaluate(AXE.read_text(encoding="utf-8") + "\n;undefined")
        results = page.evaluate(
            "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"
            ".map(v => ({id: v.id, impact: v.impact, help: v.help,"
            " nodes: v.nodes.map(n => n.target.join(' ')).slice(0, 5)}))"
        )
        return [v for v in results if v["impact"] in ("serious", "critical")]

    def snap(self, name, page=None):
        """Screenshots of the current screen at desktop and phone size (full page)."""
        page = page or self.page
        ARTIFACTS.mkdir(parents=True, exist_ok=True)
        paths = []
        for size_name, size in (("desktop", DESKTOP), ("phone", PHONE)):
            page.set_viewport_size(size)
            # The pointer rests in a corner: no hover style in the picture.
            page.mouse.move(size["width"] - 1, size["height"] - 1)
            path = ARTIFACTS / f"{name}-{size_name}.png"
            page.screenshot(path=str(path), full_page=True)
            paths.append(path)
        page.set_viewport_size(DESKTOP)
        return paths

    def cached_api_urls(self, page=None):
        """URLs of the API answers the service worker keeps in Cache Storage."""
        return [key for where, key, _v in self.stored_strings(page) if where.startswith("cache ")]

    def close(self):
        self.context.close()
