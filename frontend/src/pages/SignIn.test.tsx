import { fireEvent, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, renderApp } from "../test/renderApp";

afterEach(() => {
  setAccess(null);
  vi.unstubAllGlobals();
});

function anonymousServer(token: () => Response) {
  return fakeServer((request) => {
    const where = path(request);
    if (where === "/api/v1/auth/token/refresh/") return envelope(401, "not_authenticated", "No refresh cookie.");
    if (where === "/api/v1/auth/token/") return token();
    if (where === "/api/v1/auth/me/") {
      return request.headers.get("Authorization") === "Bearer tok" ? json(200, AGENT_ME) : envelope(401, "x", "No.");
    }
    if (where === "/api/v1/auth/logout/") return json(204, null);
    if (where === "/api/v1/leads/") return json(200, { count: 0, next: null, previous: null, results: [] });
    return envelope(404, "not_found", "Not found.");
  });
}

function signIn(email: string, password: string) {
  fireEvent.change(screen.getByLabelText("Email"), { target: { value: email } });
  fireEvent.change(screen.getByLabelText("Password"), { target: { value: password } });
  fireEvent.click(screen.getByRole("button", { name: "Sign in" }));
}

describe("sign-in", () => {
  it("says the credentials are wrong, and nothing else", async () => {
    anonymousServer(() => envelope(401, "authentication_failed", "No active account found."));
    renderApp("/");
    await screen.findByRole("heading", { name: "Sign in" });
    signIn("asha@leadline.local", "nope");
    expect((await screen.findByRole("alert")).textContent).toBe("Email or password is incorrect.");
  });

  it("signs an agent in to My leads with the web header, keeping no token in web storage", async () => {
    const setItem = vi.spyOn(Storage.prototype, "setItem");
    const calls = anonymousServer(() => json(200, { access: "tok" }));
    renderApp("/");
    await screen.findByRole("heading", { name: "Sign in" });
    signIn("asha@leadline.local", "demo-pass-123");
    await screen.findByRole("heading", { name: "My leads" });
    const token = calls.find((r) => path(r) === "/api/v1/auth/token/");
    expect(token?.headers.get("X-Leadline-Client")).toBe("web");
    expect(await token?.json()).toEqual({ email: "asha@leadline.local", password: "demo-pass-123" });
    expect(setItem).not.toHaveBeenCalled();
    expect(screen.queryByRole("link", { name: "Dashboard" })).toBeNull();

    fireEvent.click(screen.getByRole("button", { name: "Sign out" }));
    await screen.findByRole("heading", { name: "Sign in" });
    expect(calls.some((r) => path(r) === "/api/v1/auth/logout/")).toBe(true);
  });

  it("sends an anonymous visitor of /leads to the sign-in page", async () => {
    anonymousServer(() => json(200, { access: "tok" }));
    renderApp("/leads");
    expect(await screen.findByRole("heading", { name: "Sign in" })).toBeTruthy();
  });

  it("renders its own not-found view for unknown routes", async () => {
    anonymousServer(() => json(200, { access: "tok" }));
    renderApp("/no/such/page");
    expect(await screen.findByRole("heading", { name: "Page not found" })).toBeTruthy();
    expect(screen.getByRole("link", { name: "Go to my leads" }).getAttribute("href")).toBe("/leads");
  });
});
