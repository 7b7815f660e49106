/* Leadline service worker (hand-written, no build step; served at /sw.js, scope /).
 *
 * - App shell: the page (index.html, network first, cached copy offline) and the
 *   hashed assets under /static/app/assets/ (cache first: their names change
 *   with their content).
 * - The lead list, the leads opened and "me": network first; the last good answer is kept so a
 *   reload while offline shows the last-seen list, read-only.
 * - Sign-out deletes every cache (the page does it through Cache Storage).
 * Nothing else is cached: writes, other API calls and the admin go to the network.
 */
const SHELL = "leadline-shell-v1";
const API = "leadline-api-v1";
const LAST_LIST = "/__leadline/last-list";

self.addEventListener("install", (event) => {
  event.waitUntil(
    (async () => {
      const cache = await caches.open(SHELL);
      const response = await fetch("/", { credentials: "same-origin", cache: "no-cache" });
      if (response.ok) {
        const html = await response.clone().text();
        await cache.put("/", response);
        const assets = [...html.matchAll(/\/static\/app\/assets\/[\w.-]+\.(?:js|css)/g)].map((m) => m[0]);
        await cache.addAll([...new Set(assets)]);
      }
      await self.skipWaiting();
    })().catch(() => self.skipWaiting()),
  );
});

self.addEventListener("activate", (event) => {
  event.waitUntil(
    (async () => {
      const keep = new Set([SHELL, API]);
      for (const name of await caches.keys()) if (!keep.has(name)) await caches.delete(name);
      await self.clients.claim();
    })(),
  );
});

async function networkFirstPage(request) {
  try {
    const response = await fetch(request);
    if (response.ok && (response.headers.get("Content-Type") || "").includes("text/html")) {
      const cache = await caches.open(SHELL);
      await cache.put("/", response.clone());
    }
    return response;
  } catch (error) {
    const cached = await caches.match("/", { cacheName: SHELL });
    if (cached) return cached;
    throw error;
  }
}

async function cacheFirstAsset(request) {
  const cached = await caches.match(request, { cacheName: SHELL });
  if (cached) return cached;
  const response = await fetch(request);
  if (response.ok) {
    const cache = await caches.open(SHELL);
    await cache.put(request, response.clone());
  }
  return response;
}

async function networkFirstApi(request, isList) {
  try {
    const response = await fetch(request);
    if (response.status === 200) {
      const cache = await caches.open(API);
      await cache.put(request.url, response.clone());
      if (isList) await cache.put(LAST_LIST, response.clone());
    }
    return response;
  } catch (error) {
    const cache = await caches.open(API);
    const cached =
      (await cache.match(request.url, { ignoreVary: true })) ||
      (isList ? await cache.match(LAST_LIST, { ignoreVary: true }) : undefined);
    if (cached) return cached;
    throw error;
  }
}

self.addEventListener("fetch", (event) => {
  const request = event.request;
  if (request.method !== "GET") return;
  const url = new URL(request.url);
  if (url.origin !== self.location.origin) return;
  if (request.mode === "navigate") {
    const path = url.pathname;
    if (/^\/(api|admin|static|media|metrics|healthz|readyz|health)(\/|$)/.test(path)) return;
    event.respondWith(networkFirstPage(request));
  } else if (url.pathname.startsWith("/static/app/assets/")) {
    event.respondWith(cacheFirstAsset(request));
  } else if (url.pathname === "/api/v1/auth/me/" || /^\/api\/v1\/leads\/(\d+\/(activity\/)?)?$/.test(url.pathname)) {
    // The list (and the last list seen, whatever its query), "me", and the
    // leads opened: what an agent needs to read offline.
    event.respondWith(networkFirstApi(request, url.pathname === "/api/v1/leads/"));
  }
});
