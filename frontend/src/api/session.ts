// The session: the access token lives in this module's memory only (never in
// localStorage, sessionStorage or IndexedDB); the refresh token is an HttpOnly
// cookie (`leadline_refresh`, Path=/api/v1/auth/) that this code never sees.
//
// A 401 refreshes once and retries. Concurrent 401s share one refresh call
// (single flight); a refused refresh (reused, revoked or expired cookie) signs
// the user out and tells the listeners.

export const CLIENT_HEADER = "X-Leadline-Client";
export const CLIENT_NAME = "web";
export const AUTH_PREFIX = "/api/v1/auth/";
const REFRESH_URL = "/api/v1/auth/token/refresh/";

let access: string | null = null;
let inflight: Promise<string | null> | null = null;
const signedOutListeners = new Set<() => void>();

export function getAccess(): string | null {
  return access;
}

export function setAccess(token: string | null): void {
  access = token;
}

/** Called when the server refuses the refresh cookie: the session is over. */
export function onSignedOut(listener: () => void): () => void {
  signedOutListeners.add(listener);
  return () => {
    signedOutListeners.delete(listener);
  };
}

function signedOut(): void {
  // Only a session that existed ends: a first visit without a cookie is not news.
  const had = access !== null;
  access = null;
  if (had) for (const listener of signedOutListeners) listener();
}

/** `{"access": "..."}` from a token response, or null. */
export function readAccess(body: unknown): string | null {
  if (typeof body === "object" && body !== null && "access" in body) {
    const value: unknown = body.access;
    if (typeof value === "string" && value !== "") return value;
  }
  return null;
}

function origin(): string {
  return typeof window === "undefined" ? "http://localhost" : window.location.origin;
}

/**
 * A new access token from the refresh cookie, or null when the server refuses
 * it (the user is then signed out). Every caller during one refresh gets the
 * same promise: one network call however many requests failed together.
 * A network failure rejects (the caller may be offline, not signed out).
 */
export function refreshAccess(): Promise<string | null> {
  if (inflight) return inflight;
  inflight = (async () => {
    try {
      const response = await fetch(new URL(REFRESH_URL, origin()), {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/json", [CLIENT_HEADER]: CLIENT_NAME },
        body: "{}",
      });
      // Any answer without an access token (401, 403, a 204 for "no cookie") is "signed out".
      const body: unknown = response.ok ? await response.json().catch(() => null) : null;
      const token = readAccess(body);
      if (token === null) {
        signedOut();
        return null;
      }
      access = token;
      return token;
    } finally {
      inflight = null;
    }
  })();
  return inflight;
}

function withAuth(request: Request, token: string | null): Request {
  const headers = new Headers(request.headers);
  headers.set(CLIENT_HEADER, CLIENT_NAME);
  if (token !== null) headers.set("Authorization", `Bearer ${token}`);
  return new Request(request, { headers, credentials: "same-origin" });
}

function isAuthCall(request: Request): boolean {
  return new URL(request.url).pathname.startsWith(AUTH_PREFIX) && !request.url.endsWith("/auth/me/");
}

/**
 * `fetch` with the access token; on a 401 it refreshes (single flight) and
 * retries the request once. The API client (openapi-fetch) and the file
 * downloads go through here.
 */
export async function authFetch(request: Request): Promise<Response> {
  const retry = request.clone();
  const sent = access;
  const response = await fetch(withAuth(request, sent));
  if (response.status !== 401 || isAuthCall(request)) return response;
  // Another request may have refreshed while this one was in flight.
  const token = access !== null && access !== sent ? access : await refreshAccess();
  if (token === null) return response;
  return fetch(withAuth(retry, token));
}

let restoring: Promise<string | null> | null = null;

/**
 * The page load's refresh (restores the session from the cookie): main.tsx
 * starts it before React renders so the request overlaps the first render.
 */
export function restoreSession(): Promise<string | null> {
  restoring ??= refreshAccess();
  return restoring;
}

/** The auth provider's one use of that refresh (started now if it was not). */
export function takeRestoredSession(): Promise<string | null> {
  const pending = restoring ?? refreshAccess();
  restoring = null;
  return pending;
}
