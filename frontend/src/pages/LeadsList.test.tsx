import { fireEvent, screen, waitFor } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, lead, renderApp } from "../test/renderApp";

function me(notify: boolean) {
  return {
    ...AGENT_ME,
    agent: {
      id: 3,
      name: "Asha",
      email: AGENT_ME.email,
      mobile: "+919876543210",
      is_active: true,
      accepts_leads: true,
      away_until: null,
      weight: 1,
      capacity: null,
      notify_assignments: notify,
    },
  };
}

describe("My leads", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("lets an agent turn the assignment emails off (their profile's notify_assignments)", async () => {
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/" && request.method === "PATCH") return json(200, me(false));
      if (where === "/api/v1/auth/me/") return json(200, me(true));
      if (where === "/api/v1/leads/") return json(200, { count: 1, next: null, previous: null, results: [lead()] });
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/leads");

    const box = await screen.findByRole("checkbox", { name: "Email on new leads" }, { timeout: 8000 });
    expect((box as HTMLInputElement).checked).toBe(true);
    fireEvent.click(box);

    await waitFor(() => expect((screen.getByRole("checkbox", { name: "Email on new leads" }) as HTMLInputElement).checked).toBe(false));
    await waitFor(() => expect(screen.getByRole("checkbox", { name: "Email on new leads" }).hasAttribute("disabled")).toBe(false));
    const patch = calls.find((r) => path(r) === "/api/v1/auth/me/" && r.method === "PATCH");
    expect(await patch?.json()).toEqual({ notify_assignments: false });
  });
});
