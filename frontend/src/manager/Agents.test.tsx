import { fireEvent, screen } from "@testing-library/react";
import { afterEach, describe, expect, it, vi } from "vitest";

import { setAccess } from "../api/session";
import { envelope, fakeServer, json, path } from "../test/fakeServer";
import { AGENT_ME, renderApp } from "../test/renderApp";

const MANAGER = { ...AGENT_ME, id: 2, email: "manager@leadline.local", role: "manager" };
const ASHA = {
  id: 3,
  name: "Asha Rao",
  email: "asha@leadline.local",
  mobile: "+919876543210",
  is_active: true,
  accepts_leads: true,
  away_until: null,
  weight: 1,
  capacity: null,
  notify_assignments: false,
  open_leads: 4,
  created_at: "2026-12-01T10:00:00Z",
  updated_at: "2026-12-01T10:00:00Z",
};

describe("the agents screen", () => {
  afterEach(() => {
    setAccess(null);
    vi.unstubAllGlobals();
  });

  it("edits an agent without touching their own choice of assignment emails", async () => {
    const calls = fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/agents/") return json(200, { count: 1, next: null, previous: null, results: [ASHA] });
      if (where === "/api/v1/agents/3/" && request.method === "PATCH") return json(200, { ...ASHA, weight: 3 });
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/agents");

    fireEvent.click(await screen.findByRole("button", { name: "Edit" }, { timeout: 8000 }));
    fireEvent.change(screen.getByLabelText("Weight"), { target: { value: "3" } });
    fireEvent.click(screen.getByRole("button", { name: "Save agent" }));
    await screen.findByText("Agent Asha Rao saved.");

    const patch = calls.find((r) => path(r) === "/api/v1/agents/3/" && r.method === "PATCH");
    const body: unknown = await patch?.json();
    expect(body).toMatchObject({ weight: 3 });
    expect(body).not.toHaveProperty("notify_assignments");
    expect(body).not.toHaveProperty("accepts_leads");
  });

  it("lists every agent, past the 200 a page holds", async () => {
    const agents = Array.from({ length: 201 }, (_, n) => ({
      ...ASHA,
      id: 100 + n,
      name: `Agent ${String(n).padStart(3, "0")}`,
      email: `agent${n}@leadline.local`,
    }));
    const pages: string[] = [];
    fakeServer((request) => {
      const where = path(request);
      if (where === "/api/v1/auth/token/refresh/") return json(200, { access: "tok" });
      if (where === "/api/v1/auth/me/") return json(200, MANAGER);
      if (where === "/api/v1/agents/") {
        const page = Number(new URL(request.url).searchParams.get("page") ?? "1");
        pages.push(String(page));
        const rows = agents.slice((page - 1) * 200, page * 200);
        const next = page * 200 < agents.length ? `http://localhost/api/v1/agents/?page=${page + 1}` : null;
        return json(200, { count: agents.length, next, previous: null, results: rows });
      }
      return envelope(404, "not_found", "Not found.");
    });
    renderApp("/agents");

    expect(await screen.findByText("Agent 200", {}, { timeout: 8000 })).toBeTruthy();
    expect(screen.getByText("Agent 000")).toBeTruthy();
    expect(pages).toEqual(["1", "2"]);
  });
});
