import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";

import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { authFetch, getAccess, onSignedOut, refreshAccess, setAccess } from "./session";

const LEADS = "http://localhost:3000/api/v1/leads/";

function apiRequest(url = LEADS, init?: RequestInit): Request {
  return new Request(url, init);
}

/** A server whose access tokens are `old` (expired) and `new`; refresh hands out `new`. */
function tokenServer(options: { refresh: () => Response | Promise<Response> }) {
  let refreshes = 0;
  const calls = fakeServer(async (request) => {
    if (path(request) === "/api/v1/auth/token/refresh/") {
      refreshes += 1;
      // Let every concurrent caller reach its 401 before the refresh answers.
      await new Promise((resolve) => setTimeout(resolve, 20));
      return options.refresh();
    }
    const auth = request.headers.get("Authorization");
    if (auth !== "Bearer new") return envelope(401, "token_not_valid", "Token is invalid or expired.");
    return json(200, { ok: true, method: request.method, body: request.method === "POST" ? await request.text() : null });
  });
  return { calls, refreshes: () => refreshes };
}

describe("the session's refresh", () => {
  beforeEach(() => {
    setAccess("old");
  });
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("refreshes once for N concurrent 401s and retries each request", async () => {
    const server = tokenServer({ refresh: () => json(200, { access: "new" }) });

    const responses = await Promise.all(Array.from({ length: 6 }, () => authFetch(apiRequest())));

    expect(responses.map((r) => r.status)).toEqual([200, 200, 200, 200, 200, 200]);
    expect(server.refreshes()).toBe(1);
    expect(getAccess()).toBe("new");
    const refresh = server.calls.find((r) => path(r) === "/api/v1/auth/token/refresh/");
    expect(refresh?.headers.get("X-Leadline-Client")).toBe("web");
    expect(await refresh?.text()).toBe("{}");
  });

  it("does not refresh again for a 401 that arrives after another refresh finished", async () => {
    const server = tokenServer({ refresh: () => json(200, { access: "new" }) });
    await authFetch(apiRequest());
    setAccess("new");
    expect((await authFetch(apiRequest())).status).toBe(200);
    expect(server.refreshes()).toBe(1);
  });

  it("replays a POST body on the retry", async () => {
    tokenServer({ refresh: () => json(200, { access: "new" }) });
    const response = await authFetch(
      apiRequest("http://localhost:3000/api/v1/reassign/", { method: "POST", body: '{"agent":3}' }),
    );
    expect(await response.json()).toEqual({ ok: true, method: "POST", body: '{"agent":3}' });
  });

  it("signs out when the refresh cookie is refused (reused or revoked)", async () => {
    const server = tokenServer({ refresh: () => envelope(401, "token_not_valid", "Token is blacklisted") });
    const signedOut = vi.fn();
    const stop = onSignedOut(signedOut);

    const responses = await Promise.all([authFetch(apiRequest()), authFetch(apiRequest())]);

    stop();
    expect(responses.map((r) => r.status)).toEqual([401, 401]);
    expect(server.refreshes()).toBe(1);
    expect(getAccess()).toBeNull();
    expect(signedOut).toHaveBeenCalledTimes(1);
  });

  it("a first visit without a cookie is anonymous, not a 'session ended'", async () => {
    setAccess(null);
    tokenServer({ refresh: () => envelope(401, "not_authenticated", "No refresh token.") });
    const signedOut = vi.fn();
    const stop = onSignedOut(signedOut);
    expect(await refreshAccess()).toBeNull();
    stop();
    expect(signedOut).not.toHaveBeenCalled();
  });

  it("a network failure while refreshing rejects (offline) and keeps nothing in flight", async () => {
    fakeServer(() => {
      throw new TypeError("Failed to fetch");
    });
    await expect(refreshAccess()).rejects.toThrow(TypeError);
    fakeServer(() => json(200, { access: "again" }));
    expect(await refreshAccess()).toBe("again");
  });

  it("never writes a token to web storage", async () => {
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    tokenServer({ refresh: () => json(200, { access: "new" }) });
    await Promise.all([authFetch(apiRequest()), authFetch(apiRequest())]);
    expect(setItem).not.toHaveBeenCalled();
    expect(localStorage.length).toBe(0);
    expect(sessionStorage.length).toBe(0);
    expect("indexedDB" in globalThis && globalThis.indexedDB !== undefined).toBe(false);
  });

  it("does not refresh for the auth endpoints themselves", async () => {
    const server = tokenServer({ refresh: () => json(200, { access: "new" }) });
    const response = await authFetch(
      apiRequest("http://localhost:3000/api/v1/auth/token/", { method: "POST", body: "{}" }),
    );
    expect(response.status).toBe(401);
    expect(server.refreshes()).toBe(0);
  });
});

describe("the refresh's answers without a token", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("treats a 204 (no cookie) as signed out", async () => {
    fakeServer(() => new Response(null, { status: 204 }));
    expect(await refreshAccess()).toBeNull();
  });
});
